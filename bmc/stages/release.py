"""Rules `release` and `arena_hard_judge`: a repository at a pinned commit, every file checked against its
manifest.

The authors' repository (`release`) or Arena-Hard's judge files (`arena_hard_judge`) at a pinned commit, laid
out as the stages read them (`bmc.data.release`).
"""

from __future__ import annotations

import argparse
import logging

from bmc.config import Release, job_settings
from bmc.data.release import build

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", required=True, help="YAML: commit and files (path -> dest, blob)")
    p.add_argument("--out", required=True, help="the folder to lay out (resources/bmc-release)")
    p.add_argument("--params", default="{}", help="JSON: the config's `release` section (url, commit)")


def run(args: argparse.Namespace) -> None:
    settings = job_settings(Release, args.params, "release")
    record = build(settings.url, settings.commit, args.manifest, args.out)
    log.info(
        "release %s at %s: %d files in %s", settings.url, settings.commit, len(record["files"]), args.out
    )
