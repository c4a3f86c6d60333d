"""Shared handling of trainer settings from a config section (SFT and preference training), and resuming:
a checkpoint folder carries the fingerprint of the inputs that made it (`fingerprint.json`: the initial
weights' and the reference's fingerprints, the data file's sha256, the settings), and a run resumes only from
checkpoints made from the same inputs; otherwise it removes them and starts over, saying what changed."""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
from pathlib import Path

import torch

from bmc.io import file_sha256, fingerprint_changes, model_fingerprint, read_json, write_json

log = logging.getLogger(__name__)
FINGERPRINT = "fingerprint.json"
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


def last_checkpoint(folder: Path) -> str | None:
    """The newest `checkpoint-N` in `folder`, to resume a killed run."""
    found = (
        sorted(folder.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]))
        if folder.is_dir()
        else []
    )
    return str(found[-1]) if found else None


def training_fingerprint(model: str, data: str, settings: dict, ref: str | None = None) -> dict:
    """What a run's checkpoints depend on: the initial model (and the reference), the data and the settings."""
    return {
        "model": model_fingerprint(model) or str(model),
        "ref": (model_fingerprint(ref) or str(ref)) if ref else None,
        "data_sha256": file_sha256(data),
        "settings": {k: v for k, v in sorted(settings.items()) if k not in BOOKKEEPING},
        "world_size": int(os.environ.get("WORLD_SIZE", "1")),
    }


def resume_point(folder: Path, fingerprint: dict, trainer) -> str | None:
    """The newest checkpoint in `folder` if it was made from the same inputs (`fingerprint`), else None: then
    the old checkpoints are removed and a warning says what changed. Records `fingerprint` in `folder`."""
    latest = last_checkpoint(folder)
    saved = folder / FINGERPRINT
    reason = None
    if latest:
        old = read_json(saved) if saved.exists() else None
        changes = (
            ["no input fingerprint beside them"] if old is None else fingerprint_changes(old, fingerprint)
        )
        reason = "; ".join(changes) or None
    trainer.accelerator.wait_for_everyone()  # every process decides before the folder changes
    if reason:
        log.warning("%s: checkpoints made from other inputs (%s); starting over", folder, reason)
        latest = None
    if trainer.is_world_process_zero():
        if reason:
            shutil.rmtree(folder)
        write_json(saved, fingerprint)
    trainer.accelerator.wait_for_everyone()
    if latest:
        log.info("resuming from %s (same inputs)", latest)
    return latest


def check_world_size(expected: int | None) -> None:
    """Stop at once when the job runs on another number of processes than its rule asked for (a launcher
    that fell back to one process, a user's accelerate config overriding the count)."""
    actual = int(os.environ.get("WORLD_SIZE", "1"))
    if expected is not None and actual != expected:
        raise RuntimeError(
            f"this job expects {expected} processes but runs on {actual} (WORLD_SIZE); launch it with "
            f"`python -m bmc.launch --processes {expected} --accelerate-config <file> -- ...`"
        )
