"""Rule `released_pairs`: the authors' GPT-4-bridged pairs of a task, as bridged pairs.

What `DPO-BMC@released` trains on (`bmc.data.released_pairs`).
"""

from __future__ import annotations

import argparse
import logging

from bmc.data.released_pairs import FOLDERS, released_pairs
from bmc.io import write_json, write_jsonl

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--task", required=True, choices=sorted(FOLDERS))
    p.add_argument("--release", required=True, help="the release folder (resources/bmc-release)")
    p.add_argument("--out", required=True, help="bridged pairs.jsonl")
    p.add_argument("--summary", required=True, help="summary.json")


def run(args: argparse.Namespace) -> None:
    pairs, summary = released_pairs(args.release, args.task)
    write_jsonl(args.out, pairs)
    write_json(args.summary, summary)
    log.info(
        "released %s pairs: %d of %d rows (skipped %s)",
        args.task,
        len(pairs),
        summary["rows"],
        summary["skipped"],
    )
