"""What SFT (`bmc.stages.sft`) and preference training (`bmc.stages.train`) share around their trainer: the
number of processes they must run on, checkpoints in a folder beside the output, training that resumes only
from complete checkpoints made from the same inputs, and a final folder that appears complete or not at all.

A checkpoint folder carries the fingerprint of the inputs that made it (`fingerprint.json`: the initial
weights' and the reference's fingerprints, the data file's sha256, the settings); a run resumes only from
checkpoints made from the same inputs, else removes them and starts over, saying what changed. transformers
writes `checkpoint-N` in place, file after file, so a job killed while it saves (a time limit, pre-emption)
leaves a folder that cannot be resumed from: a run resumes from the newest checkpoint holding every file the
trainer reads back (`missing_for_resume`), and removes the others, saying what each lacked.

Snakemake trusts an output folder that exists, so everything the stage promises in it (model, tokenizer,
summary) is written into a temporary sibling first and the rename onto the output comes last: a run killed
at any moment leaves either no output or a complete one. Imports nothing heavy (the CLI imports the stages).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shutil
import zipfile
from dataclasses import dataclass
from pathlib import Path

from bmc.io import fingerprint_changes, give_usual_permissions, read_json, write_json, write_jsonl

log = logging.getLogger(__name__)
FINGERPRINT = "fingerprint.json"
CHECKPOINT_NAME = re.compile(r"checkpoint-(\d+)")


def add_world_size_argument(p: argparse.ArgumentParser) -> None:
    """`--world-size`: the processes the job must run on (`bmc.training.arguments.check_world_size`)."""
    p.add_argument(
        "--world-size",
        type=int,
        default=os.environ.get("BMC_WORLD_SIZE"),
        help="processes the job must run on (default: as `bmc.training.launch` started it)",
    )


def checkpoint_folder(out: Path) -> Path:
    """Where a run writing `out` keeps its checkpoints (TRL's `output_dir`) and their input fingerprint."""
    return out.with_name(out.name + ".checkpoints")


def train_resuming(trainer, checkpoints: Path, fingerprint: dict):
    """(TRL's train output, the checkpoint resumed from or None): resumes only from complete checkpoints made
    from the inputs `fingerprint` describes (`resume_point`), else starts over."""
    resumed_from = resume_point(checkpoints, fingerprint, trainer)
    return trainer.train(resume_from_checkpoint=resumed_from), resumed_from


@dataclass(frozen=True)
class ResumeNeeds:
    """What transformers' Trainer reads back when it resumes from a checkpoint, by how it saved it:
    `processes` RNG files (one per process), the weights as safetensors or DeepSpeed's own checkpoint,
    the optimizer and scheduler state unless only the model was saved (`save_only_model`), and with
    DeepSpeed the scheduler file only where transformers' scheduler runs (the DeepSpeed config has none)."""

    processes: int = 1
    deepspeed: bool = False
    scheduler_file: bool = True
    model_only: bool = False

    @classmethod
    def of(cls, trainer) -> ResumeNeeds:
        args = trainer.args
        deepspeed = bool(getattr(trainer, "is_deepspeed_enabled", False))
        ds_config = getattr(getattr(args, "hf_deepspeed_config", None), "config", None) or {}
        return cls(
            processes=int(getattr(args, "world_size", 1)),
            deepspeed=deepspeed,
            scheduler_file=not (deepspeed and "scheduler" in ds_config),
            model_only=bool(getattr(args, "save_only_model", False)),
        )


def _torch_file_whole(path: Path) -> bool:
    """torch.save writes a zip archive whose directory comes last: a file cut short has none."""
    return zipfile.is_zipfile(path)


def _safetensors_whole(path: Path) -> bool:
    """The header is readable and the file holds every tensor it lists."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy"):
            return True
    except (SafetensorError, OSError):
        return False


def _weights_missing(folder: Path) -> list[str]:
    """What `Trainer._load_from_checkpoint` needs of the weights: one whole safetensors file, or an index with
    every shard it names, or a torch file (pytorch_model.bin, an adapter, FSDP's state)."""
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        try:
            shards = sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
        except (ValueError, KeyError):
            return [f"{index.name} cut short"]
        return [f"{s} missing (named by {index.name})" for s in shards if not (folder / s).is_file()] + [
            f"{s} cut short" for s in shards if (folder / s).is_file() and not _safetensors_whole(folder / s)
        ]
    for name in ("model.safetensors", "adapter_model.safetensors"):
        if (folder / name).is_file():
            return [] if _safetensors_whole(folder / name) else [f"{name} cut short"]
    torch_files = ["pytorch_model.bin", "adapter_model.bin", "pytorch_model_fsdp.bin"]
    if any((folder / n).is_file() for n in torch_files) or any(
        p.is_dir() and "pytorch_model_fsdp" in p.name for p in folder.iterdir()
    ):
        return []
    return ["model.safetensors missing"]


def _deepspeed_missing(folder: Path) -> list[str]:
    """DeepSpeed's `load_checkpoint` reads `latest` for the tag of the folder to load (`global_stepN`). It
    writes `latest` after its own files and waits for every process before transformers goes on."""
    latest = folder / "latest"
    if not latest.is_file():
        return ["latest missing (DeepSpeed's checkpoint tag)"]
    tag = latest.read_text(encoding="utf-8").strip()
    return [] if tag and (folder / tag).is_dir() else [f"{tag or 'the folder'} named by latest missing"]


def missing_for_resume(folder: Path, needs: ResumeNeeds) -> list[str]:
    """What `folder` lacks of the files the trainer reads to resume from it ("<file> missing", "<file> cut
    short"): empty for a complete checkpoint. The main process writes the weights, the optimizer and the
    scheduler, its RNG state and `trainer_state.json` last; the others write their RNG state meanwhile."""
    missing = []
    state = folder / "trainer_state.json"
    if not state.is_file():
        missing.append(f"{state.name} missing")
    else:
        try:
            json.loads(state.read_text(encoding="utf-8"))
        except ValueError:
            missing.append(f"{state.name} cut short")
    missing += _deepspeed_missing(folder) if needs.deepspeed else _weights_missing(folder)
    if needs.model_only:
        return missing
    torch_files = []
    if not needs.deepspeed:
        optimizer_dirs = any(p.is_dir() and "optimizer" in p.name for p in folder.iterdir())  # FSDP's
        if not ((folder / "optimizer.bin").is_file() or optimizer_dirs):
            torch_files.append("optimizer.pt")
    if needs.scheduler_file:
        torch_files.append("scheduler.pt")
    if needs.processes == 1:
        torch_files.append("rng_state.pth")
    else:
        torch_files += [f"rng_state_{i}.pth" for i in range(needs.processes)]
    for name in torch_files:
        path = folder / name
        if not path.is_file():
            missing.append(f"{name} missing")
        elif not _torch_file_whole(path):
            missing.append(f"{name} cut short")
    return missing


def newest_complete_checkpoint(folder: Path, needs: ResumeNeeds) -> tuple[Path | None, dict[Path, list[str]]]:
    """(The newest complete `checkpoint-N` in `folder` or None, each incomplete one newer than it with what
    it lacks). Older checkpoints are left to the trainer's own rotation."""
    found = [p for p in folder.glob("checkpoint-*") if p.is_dir() and CHECKPOINT_NAME.fullmatch(p.name)]
    incomplete = {}
    for checkpoint in sorted(found, key=lambda p: int(p.name.split("-")[1]), reverse=True):
        missing = missing_for_resume(checkpoint, needs)
        if not missing:
            return checkpoint, incomplete
        incomplete[checkpoint] = missing
    return None, incomplete


def resume_point(folder: Path, fingerprint: dict, trainer) -> str | None:
    """The newest complete checkpoint in `folder` if it was made from the same inputs (`fingerprint`), else
    None: then the old checkpoints are removed and a warning says what changed. Incomplete checkpoints newer
    than it (a job killed while saving) are removed, and the log names each with what it lacked. Records
    `fingerprint` in `folder`."""
    latest, incomplete = (
        (None, {}) if not folder.is_dir() else newest_complete_checkpoint(folder, ResumeNeeds.of(trainer))
    )
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
        for checkpoint, missing in incomplete.items():
            log.warning(
                "skipping incomplete checkpoint %s (its saving did not finish: %s); removed",
                checkpoint,
                ", ".join(missing),
            )
            shutil.rmtree(checkpoint)
        if reason:
            shutil.rmtree(folder)
        write_json(saved, fingerprint)
    trainer.accelerator.wait_for_everyone()
    if latest:
        log.info("resuming from %s (same inputs)", latest)
    return str(latest) if latest else None


def save_final(trainer, tokenizer, out: Path, files: dict[str, dict | list[dict]]) -> None:
    """The trained model, its tokenizer and `files` (name -> a JSON object for `.json`, rows for `.jsonl`),
    built in a temporary sibling folder and renamed onto `out` last; then the run's checkpoints are removed."""
    unknown = [name for name in files if not name.endswith((".json", ".jsonl"))]
    if unknown:
        raise ValueError(f"training output files {unknown}: each must be .json or .jsonl")
    tmp = out.with_name(f".{out.name}.tmp")
    if trainer.is_world_process_zero():
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    trainer.save_model(str(tmp))  # every process takes part (ZeRO-3 gathers its shards); rank 0 writes
    if trainer.is_world_process_zero():
        tokenizer.save_pretrained(str(tmp))
        for name, content in files.items():
            (write_jsonl if name.endswith(".jsonl") else write_json)(tmp / name, content)
        give_usual_permissions(tmp)
        shutil.rmtree(out, ignore_errors=True)
        os.replace(tmp, out)
        shutil.rmtree(checkpoint_folder(out), ignore_errors=True)
    trainer.accelerator.wait_for_everyone()  # no process goes on before the folder is in place
