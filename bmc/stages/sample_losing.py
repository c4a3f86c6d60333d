"""Rule `sample_losing` (command `sample`): the SFT model answers each training question `num_samples` times
(training template, so it answers the way it learned); each answer is graded with the task's evaluation
grader (`bmc.pairs.grade_row`). `samples.jsonl.meta.json` records how they were generated
(`bmc.generation.backends.generate_resumable`); a killed run resumes.
"""

from __future__ import annotations

import argparse
import json
import logging

from bmc.chat import prompt_text
from bmc.io import InputError, read_jsonl
from bmc.pairs import grade_row, sample_items
from bmc.records import QUESTION
from bmc.tasks import STOP_STRINGS, check_task

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="SFT model folder")
    p.add_argument("--data", required=True, help="training questions (prefs.jsonl)")
    p.add_argument("--out", required=True, help="graded samples (samples.jsonl)")
    p.add_argument("--params", required=True, help="JSON: the config's `sample` section")


def run(args: argparse.Namespace) -> None:
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
    generator = load_generator(args.model, gen_params)
    rows = generate_resumable(
        generator,
        sample_items(questions, num_samples),
        prompt_of=lambda it: prompt_text(it["question"], fmt, generator.tokenizer),
        out_path=args.out,
        desc="sampling answers",
        seed_of=lambda it: gen_params.seed + it["sample"],
        finish=grade_row,
        describe={"stage": "sample", "task": questions[0]["task"]},
    )
    n_correct = sum(r["correct"] for r in rows)
    log.info("sampled %d answers to %d questions: %d correct", len(rows), len(questions), n_correct)
