"""Stage `generate`: greedy zero-shot answers to a QA test set with the paper's evaluation prompt."""

from __future__ import annotations

import argparse
import json
import logging

from bmc.chat import eval_prompt
from bmc.generation.backends import GenerationParams, generate_resumable, load_generator
from bmc.io import InputError, read_jsonl

log = logging.getLogger(__name__)

TEST_FIELDS = {"id": str, "dataset": str, "question": str, "answer": str}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="model folder to evaluate")
    p.add_argument("--data", required=True, help="test questions (test/<SET>.jsonl)")
    p.add_argument("--out", required=True, help="generations.jsonl")
    p.add_argument("--params", required=True, help="JSON: the config's `eval` section")


def run(args: argparse.Namespace) -> None:
    params = GenerationParams.from_dict(json.loads(args.params))
    questions = read_jsonl(args.data, required=TEST_FIELDS)
    if not questions:
        raise InputError(args.data, None, "no test questions")
    prompts = {q["id"]: eval_prompt(q["question"]) for q in questions}
    items = [{"id": q["id"], "dataset": q["dataset"], "answer": q["answer"]} for q in questions]
    generator = load_generator(args.model, params)
    rows = generate_resumable(
        generator, items, prompt_of=lambda it: prompts[it["id"]], out_path=args.out, desc="generating answers"
    )
    log.info("wrote %d generations to %s", len(rows), args.out)
