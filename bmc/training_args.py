"""Shared handling of trainer settings from a config section (SFT and preference training)."""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import torch


def build_args(config_cls, params: dict, own_keys: set[str], output_dir: Path, **defaults):
    """`config_cls(**defaults, **params)` minus `own_keys`; unknown keys fail with the valid names.

    `params` may carry any field of the TRL/transformers config (bf16, deepspeed,
    gradient_checkpointing, ...), so the paper scale needs no code change.
    """
    fields = {f.name for f in dataclasses.fields(config_cls)}
    passed = {k: v for k, v in params.items() if k not in own_keys}
    unknown = sorted(set(passed) - fields)
    if unknown:
        raise ValueError(
            f"unknown training settings {unknown}; valid: {sorted(own_keys)} or any {config_cls.__name__} field"
        )
    settings = {
        "output_dir": str(output_dir),
        "report_to": "none",
        "save_strategy": "steps",
        "save_steps": 50,
        "save_total_limit": 1,
        "logging_steps": 1,
        "use_cpu": not torch.cuda.is_available(),
        # TRL defaults to bf16, which on a CPU is slow (no bf16 matmul units) and not the paper's fp32 numerics
        "bf16": torch.cuda.is_available() and torch.cuda.is_bf16_supported(),
        "disable_tqdm": False,
        **defaults,
        **passed,
    }
    if not {"gradient_checkpointing", "activation_checkpointing"} & set(passed):
        # TRL turns checkpointing on by default; it only costs time at small scales (configs enable it)
        settings |= {"activation_checkpointing": False, "gradient_checkpointing": None}
    return config_cls(**settings)


def last_checkpoint(folder: Path) -> str | None:
    """The newest `checkpoint-N` in `folder`, to resume a killed run."""
    found = (
        sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if folder.is_dir()
        else []
    )
    return str(found[-1]) if found else None


def save_atomically(trainer, tokenizer, out: Path) -> None:
    """Save the final model into a temporary sibling folder, then rename it onto `out`."""
    tmp = out.with_name(f".{out.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    if trainer.is_world_process_zero():
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
