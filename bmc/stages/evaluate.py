"""Rules `evaluate` and `sweep_score`: accuracy of a generations file under both graders, with per-question
records.

`bmc.data.tasks.accuracy`; the records go beside `scores.json`. `score` is the corrected grader's, `score_released`
the authors' released rule's (what the paper's numbers mean): graded by the authors' own code when `--release`
holds it (`bmc.evaluation.released_code`), else by the suite's re-implementation; `released_rule` says which
(`authors_code` or `reimplementation`).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from bmc.data.records import GENERATION
from bmc.data.tasks import TASKS, accuracy, grade_generations
from bmc.evaluation.released_code import authors_verdicts
from bmc.io import InputError, read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generations", required=True, help="generations.jsonl")
    p.add_argument("--out", required=True, help="scores.json (records.jsonl is written beside it)")
    p.add_argument("--model-name", required=True, help="model label for the tables")
    p.add_argument("--method", required=True, help="training method, e.g. SFT, DPO, DPO-BMC")
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--task", required=True, choices=list(TASKS))
    p.add_argument("--dataset", required=True, help="test set name, e.g. ECQA")
    p.add_argument(
        "--release", help="the release folder (rule `release`): its grading code grades the released rule"
    )


def run(args: argparse.Namespace) -> None:
    def check(row: dict) -> str | None:  # catches a generations file wired to the wrong --dataset
        if row["dataset"] != args.dataset:
            return f"row is from dataset {row['dataset']!r}, expected {args.dataset!r}"
        return None

    generations = read_jsonl(args.generations, required=GENERATION, check=check)
    if not generations:
        raise InputError(args.generations, None, "no generations to score")
    released, notes = authors_verdicts(args.release, args.task, args.dataset, generations)
    records = grade_generations(generations, args.task, released)
    scores = {
        "model": args.model_name,
        "method": args.method,
        "seed": args.seed,
        "task": args.task,
        "dataset": args.dataset,
        **accuracy(records, args.task),
        **notes,
    }
    write_jsonl(Path(args.out).with_name("records.jsonl"), records)
    write_json(args.out, scores)
    log.info(
        "%s %s seed %d on %s: %.1f%% (%d/%d; released rule %.1f%%, graded by %s)",
        args.model_name,
        args.method,
        args.seed,
        args.dataset,
        scores["score"],
        scores["correct"],
        len(records),
        scores["score_released"],
        scores["released_rule"],
    )
