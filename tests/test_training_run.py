"""The final folder of a training stage (`bmc.training_run.save_final`): model, tokenizer and summary appear
together or not at all, and the run's checkpoints go once it is in place."""

import json
import os
from pathlib import Path

import pytest

from bmc.io import read_jsonl
from bmc.training_run import checkpoint_folder, save_final

FILES = {"summary.json": {"steps": 2}, "rows.jsonl": [{"step": 1}, {"step": 2}]}
EVERYTHING = ["model.safetensors", "rows.jsonl", "summary.json", "tokenizer.json"]


class OneProcessTrainer:
    """What `save_final` and `resume_point` ask of a trainer, on one process; saving the model writes a
    weights file."""

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
