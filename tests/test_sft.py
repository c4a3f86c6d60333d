import argparse
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from bmc import training_args
from bmc.config import ConfigError, SftJob, job_settings
from bmc.io import InputError
from bmc.sft import build_trainer
from bmc.stages import sft
from bmc.stages.sft import run

from .test_training_run import OneProcessTrainer, killed_at_rename_onto

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
    with pytest.raises(
        ConfigError, match=r"unknown key\(s\) \['learnin_rate'\]: neither a setting of this suite"
    ):
        settings(learnin_rate=1e-3)


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
    assert training_args.resume_point(folder, fingerprint, OneProcessTrainer) is None  # nothing to resume
    (folder / "checkpoint-3").mkdir()
    assert training_args.resume_point(folder, fingerprint, OneProcessTrainer).endswith("checkpoint-3")
    data.write_text("{}\n{}\n")
    changed = training_args.training_fingerprint("hub/model", str(data), {"beta": 0.1})
    with caplog.at_level("WARNING"):
        assert training_args.resume_point(folder, changed, OneProcessTrainer) is None
    assert "(data_sha256: " in caplog.text and not (folder / "checkpoint-3").exists()
    (folder / "checkpoint-4").mkdir()
    (folder / "fingerprint.json").unlink()  # checkpoints of an older version: no fingerprint
    with caplog.at_level("WARNING"):
        assert training_args.resume_point(folder, changed, OneProcessTrainer) is None
    assert "no input fingerprint beside them" in caplog.text
    assert json.loads((folder / "fingerprint.json").read_text()) == changed


def test_bad_rows_are_refused_with_file_and_line(tiny_model_dir, tmp_path):
    bad = {"id": "x", "messages": [ROWS[0]["messages"][1], ROWS[0]["messages"][0]]}
    with pytest.raises(InputError, match=r"sft.jsonl:3: messages should be one user turn"):
        run_sft(tiny_model_dir, tmp_path, [*ROWS[:2], bad])
