import argparse
import json

import torch
from transformers import AutoModelForCausalLM

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


def test_labels_cover_the_response_and_one_eos(tiny_model_dir, tmp_path):
    trainer, tok = build_trainer(str(tiny_model_dir), ROWS, {"max_length": 128}, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    for ids, labels, mask in zip(batch["input_ids"], batch["labels"], batch["attention_mask"], strict=True):
        kept = ids[labels != -100].tolist()
        text = tok.decode(kept)
        assert text.startswith("Let's think step by step.") and "### Instruction" not in text
        assert kept.count(tok.eos_token_id) == 1 and kept[-1] == tok.eos_token_id
        prompt = tok.decode(ids[mask.bool()][: len(ids[mask.bool()]) - len(kept)])
        assert prompt.startswith("### Instruction:\nQuestion") and prompt.endswith("### Response:\n")


def test_two_step_run_writes_a_loadable_model(tiny_model_dir, tmp_path):
    out = tmp_path / "sft"
    data = tmp_path / "sft.jsonl"
    data.write_text("".join(json.dumps(r) + "\n" for r in ROWS))
    params = {"learning_rate": 1e-3, "max_steps": 2, "per_device_train_batch_size": 2, "max_length": 128}
    run(
        argparse.Namespace(model=str(tiny_model_dir), data=str(data), out=str(out), params=json.dumps(params))
    )
    summary = json.loads((out / "sft_summary.json").read_text())
    assert summary["steps"] == 2 and summary["examples"] == 6
    before = AutoModelForCausalLM.from_pretrained(tiny_model_dir).model.embed_tokens.weight
    after = AutoModelForCausalLM.from_pretrained(out).model.embed_tokens.weight
    assert not torch.equal(before, after)
    assert not (tmp_path / "sft.checkpoints").exists()


def test_unknown_setting_is_refused(tiny_model_dir, tmp_path):
    import pytest

    with pytest.raises(ValueError, match="unknown training settings"):
        build_trainer(str(tiny_model_dir), ROWS, {"learnin_rate": 1e-3}, tmp_path)
