"""The final folder of a training stage (`bmc.training.run.save_final`): model, tokenizer and summary appear
together or not at all, and the run's checkpoints go once it is in place. Resuming (`resume_point`) takes the
newest complete checkpoint: one that a kill cut short while transformers saved it is skipped, named and removed."""

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.numpy import save_file

from bmc.io import read_jsonl
from bmc.training.run import (
    ResumeNeeds,
    checkpoint_folder,
    missing_for_resume,
    resume_point,
    save_final,
)

FILES = {"summary.json": {"steps": 2}, "rows.jsonl": [{"step": 1}, {"step": 2}]}
EVERYTHING = ["model.safetensors", "rows.jsonl", "summary.json", "tokenizer.json"]


class OneProcessTrainer:
    """What `save_final` and `resume_point` ask of a trainer, on one process; saving the model writes a
    weights file."""

    class args:
        world_size = 1
        save_only_model = False

    class accelerator:
        @staticmethod
        def wait_for_everyone():
            pass

    @staticmethod
    def is_world_process_zero():
        return True

    @staticmethod
    def save_model(folder):
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / "model.safetensors").write_bytes(b"weights")


class Tokenizer:
    @staticmethod
    def save_pretrained(folder):
        (Path(folder) / "tokenizer.json").write_text("{}")


def killed_at_rename_onto(out: Path, monkeypatch) -> dict:
    """Make the rename onto `out` raise KeyboardInterrupt (a kill at that moment); returns what the folder
    being renamed held then, under "files"."""
    seen, replace = {}, os.replace

    def replace_or_die(src, dst):
        if Path(dst) == out:
            seen["files"] = sorted(p.name for p in Path(src).iterdir())
            raise KeyboardInterrupt
        replace(src, dst)

    monkeypatch.setattr(os, "replace", replace_or_die)
    return seen


def test_a_kill_at_the_rename_leaves_no_output_and_the_summary_was_already_inside(tmp_path, monkeypatch):
    out = tmp_path / "model"
    seen = killed_at_rename_onto(out, monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        save_final(OneProcessTrainer, Tokenizer, out, FILES)
    assert not out.exists()
    assert seen["files"] == EVERYTHING


def test_the_finished_folder_holds_everything_and_replaces_the_old_one(tmp_path):
    out = tmp_path / "model"
    out.mkdir()
    (out / "stale.bin").write_bytes(b"an earlier run")
    (checkpoint_folder(out) / "checkpoint-1").mkdir(parents=True)
    save_final(OneProcessTrainer, Tokenizer, out, FILES)
    assert sorted(p.name for p in out.iterdir()) == EVERYTHING
    assert json.loads((out / "summary.json").read_text()) == FILES["summary.json"]
    assert read_jsonl(out / "rows.jsonl") == FILES["rows.jsonl"]
    assert list(tmp_path.iterdir()) == [out]  # no checkpoints, no temporary folder


def test_an_output_file_of_another_kind_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ValueError, match=r"\['notes.txt'\]: each must be .json or .jsonl"):
        save_final(OneProcessTrainer, Tokenizer, tmp_path / "model", {"notes.txt": {}})
    assert not any(tmp_path.iterdir())


# ---- resuming from the newest complete checkpoint -----------------------------------------------------------
# The files of a one-process checkpoint in the order transformers' Trainer._save_checkpoint writes them: the
# model (save_model: config, weights, tokenizer, training_args.bin), the optimizer and scheduler, the RNG state,
# and trainer_state.json last.
SAVE_ORDER = [
    "config.json",
    "model.safetensors",
    "training_args.bin",
    "optimizer.pt",
    "scheduler.pt",
    "rng_state.pth",
    "trainer_state.json",
]


def checkpoint_file(path: Path) -> None:
    """`path` with content of the kind transformers writes there (safetensors, torch.save's zip, JSON)."""
    if path.suffix == ".safetensors":
        save_file({"w": np.arange(4096, dtype=np.float32)}, str(path))
    elif path.suffix in (".pt", ".pth", ".bin"):
        torch.save({"state": torch.arange(4096.0)}, path)
    else:
        path.write_text(json.dumps({"global_step": 1, "log_history": [{"loss": 1.0}] * 50}, indent=2))


def saved_until(folder: Path, cut: str | None, order=SAVE_ORDER) -> Path:
    """A checkpoint as a kill leaves it while `cut` is being written: the files before it whole, `cut` holding
    half its bytes, none after it (`cut` None: the complete checkpoint)."""
    folder.mkdir(parents=True)
    for name in order:
        checkpoint_file(folder / name)
        if name == cut:
            data = (folder / name).read_bytes()
            (folder / name).write_bytes(data[: len(data) // 2])
            break
    return folder


def test_a_checkpoint_is_complete_only_with_every_file_the_trainer_reads_back(tmp_path):
    complete = saved_until(tmp_path / "checkpoint-8", None)
    assert missing_for_resume(complete, ResumeNeeds()) == []
    (complete / "rng_state.pth").unlink()  # transformers would resume, silently not reproducibly
    assert missing_for_resume(complete, ResumeNeeds()) == ["rng_state.pth missing"]
    # saved with save_only_model: the weights and the trainer state are all the trainer can read back
    assert missing_for_resume(complete, ResumeNeeds(model_only=True)) == []
    two = saved_until(tmp_path / "checkpoint-9", None, [*SAVE_ORDER[:-2], "rng_state_0.pth", SAVE_ORDER[-1]])
    assert missing_for_resume(two, ResumeNeeds(processes=2)) == ["rng_state_1.pth missing"]


@pytest.mark.parametrize("cut", SAVE_ORDER)
def test_resume_skips_a_checkpoint_cut_short_while_saving_and_removes_it(tmp_path, cut, caplog):
    folder = tmp_path / "model.checkpoints"
    saved_until(folder / "checkpoint-8", None)
    saved_until(folder / "checkpoint-10", cut)
    fingerprint = {"data_sha256": "x"}
    (folder / "fingerprint.json").write_text(json.dumps(fingerprint))
    with caplog.at_level(logging.WARNING):
        assert resume_point(folder, fingerprint, OneProcessTrainer) == str(folder / "checkpoint-8")
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoint-8", "fingerprint.json"]
    assert f"skipping incomplete checkpoint {folder / 'checkpoint-10'}" in caplog.text
    read_back = cut not in ("config.json", "training_args.bin")  # files the trainer does not read to resume
    assert (f"{cut} cut short" if read_back else "trainer_state.json missing") in caplog.text


def test_with_no_complete_checkpoint_the_run_starts_over_without_the_incomplete_ones(tmp_path, caplog):
    folder = tmp_path / "model.checkpoints"
    saved_until(folder / "checkpoint-2", "optimizer.pt")
    (folder / "fingerprint.json").write_text(json.dumps({"a": 1}))
    with caplog.at_level(logging.WARNING):
        assert resume_point(folder, {"a": 1}, OneProcessTrainer) is None
    assert sorted(p.name for p in folder.iterdir()) == ["fingerprint.json"]
    assert "optimizer.pt cut short, scheduler.pt missing, rng_state.pth missing" in caplog.text


def test_sharded_weights_need_every_shard_their_index_names(tmp_path):
    folder = saved_until(tmp_path / "checkpoint-4", None, [n for n in SAVE_ORDER if n != "model.safetensors"])
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    checkpoint_file(folder / "model-00001-of-00002.safetensors")
    assert missing_for_resume(folder, ResumeNeeds()) == [
        "model-00002-of-00002.safetensors missing (named by model.safetensors.index.json)"
    ]


def test_a_deepspeed_checkpoint_needs_the_tag_deepspeed_writes_after_its_files(tmp_path):
    """DeepSpeed keeps weights and optimizer in `global_stepN/` and loads the folder `latest` names; transformers
    adds its own scheduler.pt unless the DeepSpeed config brings a scheduler."""

    class DeepSpeedTrainer(OneProcessTrainer):
        is_deepspeed_enabled = True

        class args:
            world_size = 2
            save_only_model = False

            class hf_deepspeed_config:
                config = {"zero_optimization": {"stage": 3}, "scheduler": {"type": "WarmupLR"}}

    needs = ResumeNeeds.of(DeepSpeedTrainer)
    assert needs == ResumeNeeds(processes=2, deepspeed=True, scheduler_file=False)
    folder = saved_until(tmp_path / "checkpoint-6", None, ["rng_state_0.pth", "rng_state_1.pth"])
    (folder / "global_step6").mkdir()
    checkpoint_file(folder / "global_step6" / "mp_rank_00_model_states.pt")
    checkpoint_file(folder / "trainer_state.json")
    assert missing_for_resume(folder, needs) == ["latest missing (DeepSpeed's checkpoint tag)"]
    (folder / "latest").write_text("global_step6")
    assert missing_for_resume(folder, needs) == []
    assert missing_for_resume(folder, ResumeNeeds(processes=2, deepspeed=True)) == ["scheduler.pt missing"]
