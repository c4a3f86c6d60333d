"""What SFT (`bmc.stages.sft`) and preference training (`bmc.stages.train`) share around their trainer: the
number of processes they must run on, checkpoints in a folder beside the output, training that resumes only
from checkpoints made from the same inputs, and a final folder that appears complete or not at all.

Snakemake trusts an output folder that exists, so everything the stage promises in it (model, tokenizer,
summary) is written into a temporary sibling first and the rename onto the output comes last: a run killed
at any moment leaves either no output or a complete one. Imports nothing heavy (the CLI imports the stages).
"""

from __future__ import annotations

import argparse
import os
import shutil
from pathlib import Path

from bmc.io import give_usual_permissions, write_json, write_jsonl


def add_world_size_argument(p: argparse.ArgumentParser) -> None:
    """`--world-size`: the processes the job must run on (`bmc.training_args.check_world_size`)."""
    p.add_argument(
        "--world-size",
        type=int,
        default=os.environ.get("BMC_WORLD_SIZE"),
        help="processes the job must run on (default: as `bmc.launch` started it)",
    )


def checkpoint_folder(out: Path) -> Path:
    """Where a run writing `out` keeps its checkpoints (TRL's `output_dir`) and their input fingerprint."""
    return out.with_name(out.name + ".checkpoints")


def train_resuming(trainer, checkpoints: Path, fingerprint: dict):
    """(TRL's train output, the checkpoint resumed from or None): resumes only from checkpoints made from the
    inputs `fingerprint` describes (`bmc.training_args.resume_point`), else starts over."""
    from bmc.training_args import resume_point

    resumed_from = resume_point(checkpoints, fingerprint, trainer)
    return trainer.train(resume_from_checkpoint=resumed_from), resumed_from


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
