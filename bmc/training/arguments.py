"""Shared handling of trainer settings from a config section (SFT and preference training): the trainer's
config, the fingerprint of a run's inputs that its checkpoints carry (`bmc.training.run.resume_point` compares
it), and the number of processes a job runs on."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch

from bmc.io import file_sha256, model_fingerprint

# settings that change how a run is logged or saved, not what it computes
BOOKKEEPING = {"save_steps", "save_total_limit", "logging_steps", "logging_dir", "disable_tqdm", "report_to"}


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


def training_fingerprint(model: str, data: str, settings: dict, ref: str | None = None) -> dict:
    """What a run's checkpoints depend on: the initial model (and the reference), the data and the settings."""
    return {
        "model": model_fingerprint(model) or str(model),
        "ref": (model_fingerprint(ref) or str(ref)) if ref else None,
        "data_sha256": file_sha256(data),
        "settings": {k: v for k, v in sorted(settings.items()) if k not in BOOKKEEPING},
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }


def check_world_size(expected: int | None) -> None:
    """Stop at once when the job runs on another number of processes than its rule asked for (a launcher
    that fell back to one process, a user's accelerate config overriding the count)."""
    actual = int(os.environ.get("WORLD_SIZE", "1"))
    if expected is not None and actual != expected:
        raise RuntimeError(
            f"this job expects {expected} processes but runs on {actual} (WORLD_SIZE); launch it with "
            f"`python -m bmc.training.launch --processes {expected} --accelerate-config <file> -- ...`"
        )
