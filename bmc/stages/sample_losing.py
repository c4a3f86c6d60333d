"""Rule `sample_losing`: the SFT model's answers to the training questions, each graded.

The SFT model answers each training question `num_samples` times (training template, so it answers the way it
learned); each answer is graded with the task's evaluation grader (`bmc.data.pairs.grade_row`).
`samples.jsonl.meta.json` records how they were generated (`bmc.generation.backends.generate_resumable`); a
killed run resumes.
"""

from __future__ import annotations

import argparse
import logging

from bmc.config import GenerationJob, job_settings
from bmc.data.pairs import grade_row, sample_items
from bmc.data.prompt_format import prompt_text
from bmc.data.records import QUESTION
from bmc.data.tasks import STOP_STRINGS, check_task
from bmc.io import InputError, read_jsonl

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="SFT model folder")
    p.add_argument("--data", required=True, help="training questions (prefs.jsonl)")
    p.add_argument("--out", required=True, help="graded samples (samples.jsonl)")
    p.add_argument("--params", required=True, help="JSON: the config's `sample` section")


def run(args: argparse.Namespace) -> None:
    from bmc.generation.backends import generate_resumable, load_generator

    settings = job_settings(GenerationJob, args.params, "sample")
    questions = read_jsonl(args.data, required=QUESTION)
    if not questions:
        raise InputError(args.data, None, "no questions")
    decoding = settings.decoding()
    # answers stop where an evaluation answer would (the task's released stop strings, unless configured)
    if decoding.stop_strings is None:
        stops = list(STOP_STRINGS[check_task(questions[0]["task"])])
        decoding = decoding.model_copy(update={"stop_strings": stops})
    generator = load_generator(args.model, decoding)
    rows = generate_resumable(
        generator,
        sample_items(questions, settings.num_samples),
        prompt_of=lambda it: prompt_text(it["question"], settings.prompt_format, generator.tokenizer),
        out_path=args.out,
        desc="sampling answers",
        seed_of=lambda it: decoding.seed + it["sample"],
        finish=grade_row,
        describe={"stage": "sample", "task": questions[0]["task"]},
    )
    n_correct = sum(r["correct"] for r in rows)
    log.info("sampled %d answers to %d questions: %d correct", len(rows), len(questions), n_correct)
