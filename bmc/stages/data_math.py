"""Rule `data_math`: the math subsets for SFT, pair building and evaluation.

Writes `sft.jsonl`, `prefs.jsonl`, `test/<SET>.jsonl` and `summary.json` (formats in docs/contracts.md).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from bmc.config import MathData, job_settings
from bmc.data import math as math_data
from bmc.data.qa import write_outputs

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resources", required=True, help="folder with the math files (shipped or released)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--params", required=True, help="JSON: the config's `data.math` section")


def run(args: argparse.Namespace) -> None:
    settings = job_settings(MathData, args.params, "data.math")
    sft, prefs, tests, summary = math_data.build(Path(args.resources), settings)
    write_outputs(Path(args.out), sft, prefs, tests, summary)
    log.info("math data: %s", json.dumps(summary))
