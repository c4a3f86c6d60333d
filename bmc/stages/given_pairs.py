"""Rule `given_pairs`: preference pairs whose y_l comes with the data (UltraFeedback's).

Each preference row holds its `rejected` reply; nothing is sampled (`bmc.data.pairs.given_pairs`).
"""

from __future__ import annotations

import argparse
import logging

from bmc.data.pairs import given_pairs
from bmc.data.records import QUESTION_WITH_REJECTED
from bmc.io import InputError, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefs", required=True, help="preference rows with a `rejected` reply (prefs.jsonl)")
    p.add_argument("--out", required=True, help="preference pairs (pairs.jsonl)")
    p.add_argument("--summary", required=True, help="counts (summary.json)")


def run(args: argparse.Namespace) -> None:
    rows = read_jsonl(args.prefs, required=QUESTION_WITH_REJECTED)
    if not rows:
        raise InputError(args.prefs, None, "no preference rows")
    pairs, summary = given_pairs(rows)
    write_jsonl(args.out, pairs)
    write_json(args.summary, summary)
    log.info("kept %d of %d given pairs", len(pairs), len(rows))
