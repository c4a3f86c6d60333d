"""Rule `sft`: supervised fine-tuning of the base model on `sft.jsonl`.

`bmc.training.sft`. A killed run resumes from its newest checkpoint if base model, data and settings are unchanged,
else starts over and says why; the final folder, with `sft_summary.json` inside, appears atomically
(`bmc.training.run`).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bmc.config import SftJob, job_settings
from bmc.data.records import SFT_EXAMPLE
from bmc.data.schemas import check_conversation
from bmc.io import InputError, read_jsonl
from bmc.training.run import add_world_size_argument, checkpoint_folder, save_final, train_resuming
from bmc.training.sft import build_trainer, summarize, truncation_report


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="base model folder")
    p.add_argument("--data", required=True, help="sft.jsonl (id, messages)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--params", required=True, help="JSON: the config's `sft` section")
    add_world_size_argument(p)


def run(args: argparse.Namespace) -> None:
    from bmc.training.arguments import check_world_size, training_fingerprint

    check_world_size(getattr(args, "world_size", None))  # callers building a Namespace may leave it out
    settings = job_settings(SftJob, args.params, "sft")
    rows = read_jsonl(args.data, required=SFT_EXAMPLE, check=check_conversation)
    if not rows:
        raise InputError(args.data, None, "no SFT examples")
    out = Path(args.out)
    checkpoints = checkpoint_folder(out)
    start = time.time()
    trainer, tokenizer = build_trainer(args.model, rows, settings, checkpoints)
    lengths = truncation_report(trainer, tokenizer, len(rows))
    # the settings as given, and the prompt format even when it is the paper's (left out of the JSON then)
    given = {**settings.model_dump(exclude_unset=True), "prompt_format": settings.prompt_format}
    fingerprint = training_fingerprint(args.model, args.data, given)
    result, resumed_from = train_resuming(trainer, checkpoints, fingerprint)
    summary = summarize(len(rows), lengths, trainer, result, time.time() - start, resumed_from)
    save_final(trainer, tokenizer, out, {"sft_summary.json": summary})
