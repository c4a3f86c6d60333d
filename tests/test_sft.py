import argparse
import json

import pytest
import torch
from transformers import AutoModelForCausalLM

from bmc.io import InputError
from bmc.sft import build_trainer, run

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


def run_sft(model_dir, tmp_path, rows, **params):
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {"learning_rate": 1e-3, "per_device_train_batch_size": 2, "max_length": 128, **params}
    out = tmp_path / "sft"
    run(argparse.Namespace(model=str(model_dir), data=str(data), out=str(out), params=json.dumps(params)))
    return out


def test_labels_cover_the_whole_text_by_default_as_released(tiny_model_dir, tmp_path):
    trainer, tok = build_trainer(str(tiny_model_dir), ROWS, {"max_length": 128}, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(3)])
    for i, (ids, labels, mask) in enumerate(
        zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True)
    ):
        real = ids[mask.bool()].tolist()
        assert labels[mask.bool()].tolist() == real  # every real token is a label: prompt and response
        assert tok.decode(real).endswith(ROWS[i]["messages"][1]["content"] + tok.eos_token)
    with pytest.raises(ValueError, match=r"sft.loss_scope must be one of \['whole_text', 'completion'\]"):
        build_trainer(str(tiny_model_dir), ROWS, {"loss_scope": "prompt"}, tmp_path)


def test_completion_scope_labels_cover_the_response_and_exactly_one_eos(tiny_model_dir, tmp_path):
    params = {"max_length": 128, "loss_scope": "completion"}
    trainer, tok = build_trainer(str(tiny_model_dir), ROWS, params, tmp_path)
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
    params = {
        "max_length": 64,
        "gradient_checkpointing": True,
        "model_init_kwargs": {"attn_implementation": "eager"},
    }
    trainer, _ = build_trainer(str(tiny_model_dir), ROWS, params, tmp_path)
    assert trainer.args.gradient_checkpointing and trainer.args.save_steps == 50
    assert trainer.model.config._attn_implementation == "eager"
    with pytest.raises(ValueError, match=r"unknown training settings \['learnin_rate'\]"):
        build_trainer(str(tiny_model_dir), ROWS, {"learnin_rate": 1e-3}, tmp_path)


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


def test_run_resumes_from_a_checkpoint(tiny_model_dir, tmp_path):
    trainer, _ = build_trainer(
        str(tiny_model_dir), ROWS, {"max_steps": 3, "save_steps": 1}, tmp_path / "sft.checkpoints"
    )
    trainer.train()  # leaves checkpoint-1..3 (save_total_limit keeps the newest)
    out = run_sft(tiny_model_dir, tmp_path, ROWS, max_steps=3)
    assert json.loads((out / "sft_summary.json").read_text())["resumed_from"].endswith("checkpoint-3")


def test_bad_rows_are_refused_with_file_and_line(tiny_model_dir, tmp_path):
    bad = {"id": "x", "messages": [ROWS[0]["messages"][1], ROWS[0]["messages"][0]]}
    with pytest.raises(InputError, match=r"sft.jsonl:3: messages should be one user turn"):
        run_sft(tiny_model_dir, tmp_path, [*ROWS[:2], bad])
