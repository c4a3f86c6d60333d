"""Stages `sample`, `pairs` and `pairs-given`: preference pairs.

`sample`: the SFT model answers each training question (training template, so it answers the way it
learned) `num_samples` times; each answer is graded with the task's evaluation grader (`bmc.tasks`).
`samples.jsonl.meta.json` records how they were generated (`bmc.generation.backends.generate_resumable`).
`pairs`: y_w = the ground-truth solution (`bmc.tasks.winning_response`), y_l = the first wrong,
non-empty sample.
`pairs-given`: pairs whose y_l is given with the data (a `rejected` field of each preference row, e.g. the
paper's UltraFeedback pairs for instruction following); nothing is sampled.
"""

from __future__ import annotations

import argparse
import json
import logging
from collections import Counter, defaultdict

from bmc.chat import prompt_messages, prompt_text
from bmc.io import InputError, read_jsonl, write_json, write_jsonl
from bmc.records import QUESTION, QUESTION_WITH_REJECTED, SAMPLE
from bmc.tasks import STOP_STRINGS, check_task, grade, winning_response

log = logging.getLogger(__name__)


def sample_add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="SFT model folder")
    p.add_argument("--data", required=True, help="training questions (prefs.jsonl)")
    p.add_argument("--out", required=True, help="graded samples (samples.jsonl)")
    p.add_argument("--params", required=True, help="JSON: the config's `sample` section")


def sample_run(args: argparse.Namespace) -> None:
    from bmc.generation.backends import GenerationParams, generate_resumable, load_generator

    params = json.loads(args.params)
    num_samples = int(params.get("num_samples", 1))
    if num_samples < 1:
        raise ValueError(f"sample.num_samples must be >= 1, got {num_samples}")
    fmt = params.pop("prompt_format", "paper")
    questions = read_jsonl(args.data, required=QUESTION)
    if not questions:
        raise InputError(args.data, None, "no questions")
    # answers stop where an evaluation answer would (the task's released stop strings, unless configured)
    if params.get("stop_strings") is None:
        params["stop_strings"] = list(STOP_STRINGS[check_task(questions[0]["task"])])
    gen_params = GenerationParams.from_dict(params)
    items = [
        {**q, "id": f"{q['id']}#{k}", "question_id": q["id"], "sample": k}
        for q in questions
        for k in range(num_samples)
    ]
    generator = load_generator(args.model, gen_params)
    rows = generate_resumable(
        generator,
        items,
        prompt_of=lambda it: prompt_text(it["question"], fmt, generator.tokenizer),
        out_path=args.out,
        desc="sampling answers",
        seed_of=lambda it: gen_params.seed + it["sample"],
        finish=grade_row,
        describe={"stage": "sample", "task": questions[0]["task"]},
    )
    n_correct = sum(r["correct"] for r in rows)
    log.info("sampled %d answers to %d questions: %d correct", len(rows), len(questions), n_correct)


def grade_row(row: dict) -> dict:
    """Add `prediction` and `correct` (the row's task's grader against `answer`) to a row with a `response`."""
    prediction, correct = grade(row["task"], row["response"], row["answer"])
    return {**row, "prediction": prediction, "correct": correct}


def make_pair(pair_id: str, question: dict, rejected: str) -> dict:
    """A preference pair of a question row: y_w from its solution (`bmc.tasks.winning_response`), y_l given."""
    return {
        "id": pair_id,
        "task": question["task"],
        "dataset": question["dataset"],
        "prompt": prompt_messages(question["question"]),
        "chosen": winning_response(question["task"], question["solution"]),
        "rejected": rejected,
        "answer": question["answer"],
        "source": question.get("source"),
    }


def build_add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--samples", required=True, help="graded samples (samples.jsonl)")
    p.add_argument("--out", required=True, help="preference pairs (pairs.jsonl)")
    p.add_argument("--summary", required=True, help="counts (summary.json)")


def build_run(args: argparse.Namespace) -> None:
    samples = read_jsonl(args.samples, required=SAMPLE)
    if not samples:
        raise InputError(args.samples, None, "no samples")
    pairs, summary = build_pairs(samples)
    write_jsonl(args.out, pairs)
    write_json(args.summary, summary)
    log.info(
        "kept %d pairs from %d questions (%d samples)", len(pairs), summary["questions"], summary["asked"]
    )


def build_pairs(samples: list[dict]) -> tuple[list[dict], dict]:
    """One pair per question that has a wrong, non-empty sample (the first such sample, in file order).

    Summary counts samples (`asked`, `answered` = non-empty, `empty`, `correct`, `wrong` = non-empty and
    incorrect), distinct `questions`, and `kept` pairs; overall and under `per_dataset`.
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    questions: dict[str, set[str]] = defaultdict(set)
    pairs: dict[str, dict] = {}
    for s in samples:
        qid = s.get("question_id") or s["id"].rpartition("#")[0] or s["id"]
        c = counts[s["dataset"]]
        questions[s["dataset"]].add(qid)
        c["asked"] += 1
        if not s["response"].strip():
            c["empty"] += 1
            continue
        c["answered"] += 1
        if s["correct"]:
            c["correct"] += 1
            continue
        c["wrong"] += 1
        if qid not in pairs:
            c["kept"] += 1
            pairs[qid] = make_pair(qid, s, s["response"])
    keys = ("asked", "answered", "empty", "correct", "wrong", "kept")
    per_dataset = {
        ds: {"questions": len(questions[ds]), **{k: counts[ds][k] for k in keys}} for ds in sorted(counts)
    }
    total = {k: sum(d[k] for d in per_dataset.values()) for k in ("questions", *keys)}
    return list(pairs.values()), {**total, "per_dataset": per_dataset}


def given_add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--prefs", required=True, help="preference rows with a `rejected` reply (prefs.jsonl)")
    p.add_argument("--out", required=True, help="preference pairs (pairs.jsonl)")
    p.add_argument("--summary", required=True, help="counts (summary.json)")


def given_run(args: argparse.Namespace) -> None:
    rows = read_jsonl(args.prefs, required=QUESTION_WITH_REJECTED)
    if not rows:
        raise InputError(args.prefs, None, "no preference rows")
    pairs, summary = given_pairs(rows)
    write_jsonl(args.out, pairs)
    write_json(args.summary, summary)
    log.info("kept %d of %d given pairs", len(pairs), len(rows))


def given_pairs(rows: list[dict]) -> tuple[list[dict], dict]:
    """One pair per row with a non-empty rejected reply that differs from the winning one; the summary
    counts rows (`asked`), `kept` pairs and the reasons rows were left out, overall and per dataset."""
    counts: dict[str, Counter] = defaultdict(Counter)
    pairs = []
    for r in rows:
        c = counts[r["dataset"]]
        c["asked"] += 1
        chosen = winning_response(r["task"], r["solution"])
        if not r["rejected"].strip():
            c["empty"] += 1
        elif r["rejected"].strip() == chosen.strip():
            c["same as chosen"] += 1
        else:
            c["kept"] += 1
            pairs.append(make_pair(r["id"], r, r["rejected"]))
    keys = ("asked", "empty", "same as chosen", "kept")
    per_dataset = {ds: {k: counts[ds][k] for k in keys} for ds in sorted(counts)}
    total = {k: sum(d[k] for d in per_dataset.values()) for k in keys}
    return pairs, {**total, "questions": total["asked"], "per_dataset": per_dataset}
