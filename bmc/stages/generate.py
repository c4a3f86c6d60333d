"""Rules `generate_qa`, `generate_math`, `generate_if` and `sweep_score`: one model's answers to a task's test
sets.

The task's evaluation protocol (`bmc.data.tasks`) with a generation backend (`bmc.generation.backends`).

The prompt is `bmc.data.tasks.answer_prompt`'s; generation stops at the config's `stop_strings`, by default the
task's released ones (`bmc.data.tasks.STOP_STRINGS`). `set_overrides` changes decoding per test set, e.g. the
paper's Arena-Hard answers are greedy while AlpacaEval's are sampled at temperature 0.9.

All test sets are answered by one job (the model loads once). A finished set keeps its rows in its partial
file until the whole job has succeeded: Snakemake deletes every output of a failed job, and the rerun then
reloads the finished sets from their partial files instead of answering them again. Each output gets
`<out>.meta.json` (backend, versions, dtype, model sha256, decoding).
"""

from __future__ import annotations

import argparse
import logging

from bmc.config import GenerationJob, job_settings
from bmc.data.records import TEST_ITEM
from bmc.data.tasks import STOP_STRINGS, TASKS, answer_prompt
from bmc.generation.backends import discard_partial, generate_resumable, load_generator, set_params
from bmc.io import InputError, read_jsonl

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder to evaluate")
    p.add_argument("--data", nargs="+", required=True, help="test question files (test/<SET>.jsonl)")
    p.add_argument(
        "--out", nargs="+", required=True, help="one generations.jsonl per --data file, same order"
    )
    p.add_argument("--params", required=True, help="JSON: the config's `eval` section")
    p.add_argument("--task", default="qa", choices=list(TASKS), help="picks the evaluation prompt")


def run(args: argparse.Namespace) -> None:
    """Answers every test set with one loaded model (loading dominates on small sets)."""
    if len(args.data) != len(args.out):
        raise ValueError(f"--data has {len(args.data)} files but --out has {len(args.out)}")
    settings = job_settings(GenerationJob, args.params, "eval")
    if settings.stop_strings is None:  # null or absent: the task's released stop strings
        settings = settings.model_copy(update={"stop_strings": list(STOP_STRINGS[args.task])})
    tests = []
    for path in args.data:
        questions = read_jsonl(path, required=TEST_ITEM)
        if not questions:
            raise InputError(path, None, "no test questions")
        tests.append(questions)
    per_set = set_params(settings, [q[0]["dataset"] for q in tests])
    generator = load_generator(args.model, settings.decoding())
    for questions, out in zip(tests, args.out, strict=True):
        generator.params = per_set[questions[0]["dataset"]]
        prompts = {
            q["id"]: answer_prompt(args.task, q["question"], settings.prompt_format, generator.tokenizer)
            for q in questions
        }
        items = [{"id": q["id"], "dataset": q["dataset"], "answer": q["answer"]} for q in questions]
        rows = generate_resumable(
            generator,
            items,
            prompt_of=lambda it, prompts=prompts: prompts[it["id"]],
            out_path=out,
            desc=f"answering {questions[0]['dataset']}",
            keep_partial=True,  # until every set is written: see the module docstring
            describe={"stage": "generate", "task": args.task, "dataset": questions[0]["dataset"]},
        )
        log.info("wrote %d generations to %s", len(rows), out)
    for out in args.out:
        discard_partial(out)
