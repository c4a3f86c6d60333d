"""Stage `sft`: supervised fine-tuning with TRL's SFTTrainer on the paper's QA template.

Each example is a prompt-completion pair: prompt = "### Instruction:\\n{user}\\n\\n### Response:\\n",
completion = the assistant text (TRL appends the EOS); the loss covers the completion only.
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

from bmc.chat import training_prompt
from bmc.io import InputError, read_jsonl, write_json

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="base model folder")
    p.add_argument("--data", required=True, help="sft.jsonl (id, messages)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--params", required=True, help="JSON: the config's `sft` section")


def to_prompt_completion(rows: list[dict]) -> list[dict]:
    return [
        {"prompt": training_prompt(r["messages"][0]["content"]), "completion": r["messages"][1]["content"]}
        for r in rows
    ]


def build_trainer(model_path: str, rows: list[dict], params: dict, output_dir: Path):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from trl import SFTConfig, SFTTrainer

    from bmc.models.prepare import load_tokenizer
    from bmc.training_args import build_args

    tokenizer = load_tokenizer(model_path)
    args = build_args(
        SFTConfig,
        params,
        own_keys=set(),
        output_dir=output_dir,
        completion_only_loss=True,
        dataset_num_proc=None,
    )
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    dataset = Dataset.from_list(to_prompt_completion(rows))
    return SFTTrainer(model=model, args=args, train_dataset=dataset, processing_class=tokenizer), tokenizer


def run(args: argparse.Namespace) -> None:
    from bmc.training_args import last_checkpoint, save_atomically

    params = json.loads(args.params)
    rows = read_jsonl(args.data, required={"id": str, "messages": list})
    if not rows:
        raise InputError(args.data, None, "no SFT examples")
    out = Path(args.out)
    checkpoints = out.with_name(out.name + ".checkpoints")
    start = time.time()
    trainer, tokenizer = build_trainer(args.model, rows, params, checkpoints)
    resume = last_checkpoint(checkpoints)
    if resume:
        log.info("resuming from %s", resume)
    result = trainer.train(resume_from_checkpoint=resume)
    save_atomically(trainer, tokenizer, out)
    write_json(
        out / "sft_summary.json",
        {
            "examples": len(rows),
            "steps": result.global_step,
            "train_loss": result.training_loss,
            "wall_s": round(time.time() - start, 1),
            "resumed_from": resume,
        },
    )
    shutil.rmtree(checkpoints, ignore_errors=True)
