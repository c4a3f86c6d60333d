"""Rule `data_qa`: the QA subsets for SFT, pair building and evaluation.

Writes `sft.jsonl`, `prefs.jsonl`, `test/<SET>.jsonl` and `summary.json` (formats in docs/contracts.md).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from bmc.config import QAData, job_settings
from bmc.data import qa

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resources", required=True, help="folder with the QA files (shipped or released)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--params", required=True, help="JSON: the config's `data.qa` section")


def run(args: argparse.Namespace) -> None:
    settings = job_settings(QAData, args.params, "data.qa")
    sft, prefs, tests, summary = qa.build(Path(args.resources), settings)
    qa.write_outputs(Path(args.out), sft, prefs, tests, summary)
    log.info("QA data: %s", json.dumps(summary))
