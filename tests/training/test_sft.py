import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM

from bmc.config import ConfigError, SftJob, job_settings
from bmc.io import InputError
from bmc.stages import sft
from bmc.stages.sft import run
from bmc.training import arguments as training_args
from bmc.training import run as training_run
from bmc.training.sft import build_trainer

from .test_training_run import OneProcessTrainer, killed_at_rename_onto, saved_until

ROOT = Path(__file__).resolve().parents[2]
ROWS = [
    {
        "id": f"qa_{i}",
        "messages": [
            {"role": "user", "content": f"Question {i}?\nOptions:\na\nb"},
            {"role": "assistant", "content": f"Let's think step by step.\nThe answer is {'ab'[i % 2]}"},
        ],
    }
    for i in range(6)
]


def settings(**params) -> SftJob:
    return job_settings(SftJob, json.dumps(params), "sft")


def run_sft(model_dir, tmp_path, rows, **params):
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {"learning_rate": 1e-3, "per_device_train_batch_size": 2, "max_length": 128, **params}
    out = tmp_path / "sft"
    run(
        argparse.Namespace(
            model=str(model_dir), data=str(data), out=str(out), params=json.dumps(params), world_size=None
        )
    )
    return out


def test_labels_cover_the_whole_text_by_default_as_released(tiny_model_dir, tmp_path):
    trainer, tok = build_trainer(str(tiny_model_dir), ROWS, settings(max_length=128), tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for i, (ids, labels, mask) in enumerate(
        zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True)
    ):
        real = ids[mask.bool()].tolist()
        assert labels[mask.bool()].tolist() == real  # every real token is a label: prompt and response
        assert tok.decode(real).endswith(ROWS[i]["messages"][1]["content"] + tok.eos_token)
    with pytest.raises(ConfigError, match=r"sft\.loss_scope: Input should be 'whole_text' or 'completion'"):
        settings(loss_scope="prompt")


def test_completion_scope_labels_cover_the_response_and_exactly_one_eos(tiny_model_dir, tmp_path):
    trainer, tok = build_trainer(
        str(tiny_model_dir), ROWS, settings(max_length=128, loss_scope="completion"), tmp_path
    )
    assert not trainer.args.bf16 and not trainer.args.activation_checkpointing
    assert next(trainer.model.parameters()).dtype == torch.float32
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for i, (ids, labels, mask) in enumerate(
        zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True)
    ):
        real = ids[mask.bool()].tolist()  # the example without padding
        kept = ids[labels != -100].tolist()
        assert real[len(real) - len(kept) :] == kept  # the loss covers one suffix: the response
        assert (
            tok.decode(real[: len(real) - len(kept)])
            == f"### Instruction:\n{ROWS[i]['messages'][0]['content']}\n\n### Response:\n"
        )
        assert tok.decode(kept[:-1]) == ROWS[i]["messages"][1]["content"]
        assert kept[-1] == tok.eos_token_id and real.count(tok.eos_token_id) == 1


def test_settings_pass_through_and_unknown_keys_are_refused(tiny_model_dir, tmp_path):
    params = settings(
        max_length=64, gradient_checkpointing=True, model_init_kwargs={"attn_implementation": "eager"}
    )
    trainer, _ = build_trainer(str(tiny_model_dir), ROWS, params, tmp_path)
    assert trainer.args.gradient_checkpointing and trainer.args.save_steps == 50
    assert trainer.model.config._attn_implementation == "eager"
    with pytest.raises(ConfigError, match=r"sft\.learnin_rate: unknown key: neither a setting of this suite"):
        settings(learnin_rate=1e-3)
    # a job checks its options against TRL's as the parse does
    with pytest.raises(
        ConfigError, match=r"sft\.completion_only_loss: True is not taken: set sft\.loss_scope"
    ):
        settings(completion_only_loss=True)


def test_attention_kernel_setting_reaches_the_model_and_the_summary(tiny_model_dir, tmp_path):
    trainer, _ = build_trainer(str(tiny_model_dir), ROWS, settings(attn_implementation="eager"), tmp_path)
    assert trainer.model.config._attn_implementation == "eager"
    with pytest.raises(ConfigError, match="give the attention kernel once"):
        settings(attn_implementation="sdpa", model_init_kwargs={"attn_implementation": "eager"})
    # TRL's padding-free SFT (position ids only) with the per-sequence SDPA
    out = run_sft(
        tiny_model_dir,
        tmp_path,
        ROWS,
        max_steps=1,
        max_length=None,  # TRL's padding-free SFT truncates nothing without packing
        padding_free=True,
        attn_implementation="sdpa_varlen",
    )
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["attn_implementation"] == "sdpa_varlen" and summary["padding_free"] is True


def test_two_step_run_writes_a_loadable_model(tiny_model_dir, tmp_path):
    out = run_sft(tiny_model_dir, tmp_path, ROWS, max_steps=2)
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["steps"] == 2 and summary["examples"] == 6 and summary["truncated"] == 0
    assert summary["final_loss"] > 0
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).model.embed_tokens.weight
    after = AutoModelForCausalLM.from_pretrained(out)
    assert after.dtype == torch.float32 and not torch.equal(before, after.model.embed_tokens.weight)
    assert (out / "tokenizer.json").is_file()
    assert not (tmp_path / "sft.checkpoints").exists() and not (tmp_path / ".sft.tmp").exists()


def test_a_run_killed_at_the_final_rename_leaves_no_output_folder(tiny_model_dir, tmp_path, monkeypatch):
    seen = killed_at_rename_onto(tmp_path / "sft", monkeypatch)
    with pytest.raises(KeyboardInterrupt):
        run_sft(tiny_model_dir, tmp_path, ROWS, max_steps=1)
    assert not (tmp_path / "sft").exists()
    assert "sft_summary.json" in seen["files"] and "model.safetensors" in seen["files"]


def killed_before_saving(monkeypatch, fn):
    """Run `fn` with the final save failing (a run killed after its last checkpoint); its checkpoints stay."""
    with monkeypatch.context() as m:
        m.setattr(sft, "save_final", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
        with pytest.raises(KeyboardInterrupt):
            fn()


def test_run_resumes_only_checkpoints_of_the_same_inputs(tiny_model_dir, tmp_path, monkeypatch, caplog):
    killed_before_saving(
        monkeypatch, lambda: run_sft(tiny_model_dir, tmp_path, ROWS, max_steps=1, save_steps=1)
    )
    with caplog.at_level("INFO"):  # other settings: started over, and the log says why
        killed_before_saving(
            monkeypatch,
            lambda: run_sft(tiny_model_dir, tmp_path, ROWS, max_steps=1, save_steps=1, learning_rate=2e-3),
        )
    assert "checkpoints made from other inputs (settings.learning_rate: 0.001 -> 0.002); starting over" in (
        caplog.text
    )
    out = run_sft(tiny_model_dir, tmp_path, ROWS, max_steps=1, save_steps=1, learning_rate=2e-3)
    assert json.loads((out / "sft_summary.json").read_text())["resumed_from"].endswith("checkpoint-1")


def test_resume_point_compares_fingerprints(tmp_path, caplog):
    folder, data = tmp_path / "m.checkpoints", tmp_path / "data.jsonl"
    data.write_text("{}\n")
    fingerprint = training_args.training_fingerprint("hub/model", str(data), {"beta": 0.1, "save_steps": 5})
    assert fingerprint["settings"] == {"beta": 0.1} and fingerprint["model"] == "hub/model"
    assert training_run.resume_point(folder, fingerprint, OneProcessTrainer) is None  # nothing to resume
    saved_until(folder / "checkpoint-3", None)
    assert training_run.resume_point(folder, fingerprint, OneProcessTrainer).endswith("checkpoint-3")
    data.write_text("{}\n{}\n")
    changed = training_args.training_fingerprint("hub/model", str(data), {"beta": 0.1})
    with caplog.at_level("WARNING"):
        assert training_run.resume_point(folder, changed, OneProcessTrainer) is None
    assert "(data_sha256: " in caplog.text and not (folder / "checkpoint-3").exists()
    saved_until(folder / "checkpoint-4", None)
    (folder / "fingerprint.json").unlink()  # checkpoints of an older version: no fingerprint
    with caplog.at_level("WARNING"):
        assert training_run.resume_point(folder, changed, OneProcessTrainer) is None
    assert "no input fingerprint beside them" in caplog.text
    assert json.loads((folder / "fingerprint.json").read_text()) == changed


def test_bad_rows_are_refused_with_file_and_line(tiny_model_dir, tmp_path):
    bad = {"id": "x", "messages": [ROWS[0]["messages"][1], ROWS[0]["messages"][0]]}
    with pytest.raises(InputError, match=r"sft.jsonl:3: messages should be one user turn"):
        run_sft(tiny_model_dir, tmp_path, [*ROWS[:2], bad])


# A real SFT job (`python -m bmc.cli sft`, a checkpoint every step) made to stop in the middle of saving the
# checkpoint of step 3 at one of these points, then killed with SIGKILL: a time limit or a pre-emption at that
# moment. Each point leaves checkpoint-3 incomplete beside the complete checkpoint-2.
STOP_WHILE_SAVING = """
import json, sys, time
from pathlib import Path

import transformers.modeling_utils as modeling_utils
from transformers import Trainer, TrainerState

signal_file, step, point = sys.argv[1], int(sys.argv[2]), sys.argv[3]
at_step = {"now": False}


def wait_for_the_kill():
    Path(signal_file).write_text("saving")
    time.sleep(600)


def half(path, write):
    write()
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    wait_for_the_kill()


original_checkpoint = Trainer._save_checkpoint
def save_checkpoint(self, *args, **kwargs):
    at_step["now"] = self.state.global_step == step
    return original_checkpoint(self, *args, **kwargs)
Trainer._save_checkpoint = save_checkpoint

if point == "in the weights":
    original = modeling_utils.safe_save_file
    def patched(tensors, filename, **kwargs):
        if not at_step["now"]:
            return original(tensors, filename, **kwargs)
        half(filename, lambda: original(tensors, filename, **kwargs))
    modeling_utils.safe_save_file = patched
elif point == "before the optimizer":
    original = Trainer._save_optimizer_and_scheduler
    def patched(self, output_dir):
        if at_step["now"]:
            wait_for_the_kill()
        return original(self, output_dir)
    Trainer._save_optimizer_and_scheduler = patched
elif point == "in trainer_state.json":
    original = TrainerState.save_to_json
    def patched(self, json_path):
        if not at_step["now"]:
            return original(self, json_path)
        half(json_path, lambda: original(self, json_path))
    TrainerState.save_to_json = patched

from bmc.cli import main

main(sys.argv[4:])
"""


@pytest.mark.parametrize(
    ("point", "lacks"),
    [
        ("in the weights", "model.safetensors cut short"),
        ("before the optimizer", "optimizer.pt missing"),
        ("in trainer_state.json", "trainer_state.json cut short"),
    ],
)
def test_a_job_killed_while_saving_a_checkpoint_resumes_from_the_last_complete_one(
    tiny_model_dir, tmp_path, point, lacks
):
    data, out = tmp_path / "sft.jsonl", tmp_path / "sft"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    params = {"learning_rate": 1e-3, "per_device_train_batch_size": 1, "max_length": 128, "max_steps": 5}
    params["save_steps"] = 1
    command = ["sft", "--model", str(tiny_model_dir), "--data", str(data), "--out", str(out)]
    command += ["--params", json.dumps(params)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    driver, signal_file = tmp_path / "driver.py", tmp_path / "saving"
    driver.write_text(STOP_WHILE_SAVING)
    job = subprocess.Popen(
        [sys.executable, str(driver), str(signal_file), "3", point, *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not signal_file.exists():
            assert job.poll() is None, f"the job ended before saving step 3: {job.stderr.read()[-3000:]}"
            assert time.monotonic() < deadline, "the job did not reach the checkpoint of step 3"
            time.sleep(0.2)
        os.kill(job.pid, signal.SIGKILL)
    finally:
        job.kill()
        job.communicate()
    assert job.returncode == -signal.SIGKILL
    checkpoints = tmp_path / "sft.checkpoints"
    assert sorted(p.name for p in checkpoints.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-3"]

    rerun = subprocess.run(
        [sys.executable, "-m", "bmc.cli", *command],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    skipped = f"skipping incomplete checkpoint {checkpoints / 'checkpoint-3'} (its saving did not finish: "
    (line,) = [line for line in rerun.stderr.splitlines() if skipped in line]
    assert lacks in line and line.endswith("); removed")
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["resumed_from"] == str(checkpoints / "checkpoint-2") and summary["steps"] == 5
    assert not checkpoints.exists()
