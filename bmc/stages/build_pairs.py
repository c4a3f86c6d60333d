"""Rule `build_pairs`: one preference pair per training question with a wrong sample.

y_w is the ground-truth solution, y_l the first wrong, non-empty sample (`bmc.data.pairs.build_pairs`).
"""

from __future__ import annotations

import argparse
import logging

from bmc.data.pairs import build_pairs
from bmc.data.records import SAMPLE
from bmc.io import InputError, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", required=True, help="graded samples (samples.jsonl)")
    p.add_argument("--out", required=True, help="preference pairs (pairs.jsonl)")
    p.add_argument("--summary", required=True, help="counts (summary.json)")


def run(args: argparse.Namespace) -> None:
    samples = read_jsonl(args.samples, required=SAMPLE)
    if not samples:
        raise InputError(args.samples, None, "no samples")
    pairs, summary = build_pairs(samples)
    write_jsonl(args.out, pairs)
    write_json(args.summary, summary)
    log.info(
        "kept %d pairs from %d questions (%d samples)", len(pairs), summary["questions"], summary["asked"]
    )
