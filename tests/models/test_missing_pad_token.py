"""A tokenizer without a pad token (Llama-2, Llama-3) gets one when the `model` stage makes its folder, and every
later stage (SFT, sampling, preference training, generation, a local editor or judge) runs on it, the EOS that
ends each response still trained when the pad token is the EOS."""

import argparse
import importlib.util
import json
import logging
import shutil

import pytest
import torch
from transformers import AutoConfig, AutoTokenizer, GenerationConfig

from bmc.alignment.training import build_trainer as build_preference_trainer
from bmc.alignment.training import load_pairs
from bmc.cli import main
from bmc.config import ModelSection, SftJob, TrainJob, job_settings
from bmc.generation.backends import GenerationParams, load_generator
from bmc.llm.factory import make_client
from bmc.models.prepare import PAD_RECORD, SHIPPED_TOKENIZER, build, build_random_llama, load_tokenizer
from bmc.reporting.provenance import pad_token_settings
from bmc.stages import sft as sft_stage
from bmc.stages import train as train_stage
from bmc.training.sft import build_trainer as build_sft_trainer

TINY = {"kind": "random_llama", "seed": 0, "hidden_size": 32, "intermediate_size": 64}
SFT_ROWS = [
    {
        "id": f"qa_{i}",
        "messages": [
            {"role": "user", "content": f"Question {i}?" + " More words." * i},
            {"role": "assistant", "content": "The answer is " + "a b " * (i + 1)},
        ],
    }
    for i in range(4)
]  # of different lengths, so that a batch holds pad tokens (= EOS ids) after its shorter rows
PAIRS = [
    {
        "id": f"p{i}",
        "prompt": [{"role": "user", "content": f"Where is item {i}?" + " Think." * i}],
        "chosen": f"The item is in box {i}." + " Yes." * i,
        "rejected": f"The item is in bag {i}.",
    }
    for i in range(4)
]
TRAIN = {
    "beta": 0.1,
    "delta": 3.0,
    "learning_rate": 1e-3,
    "per_device_train_batch_size": 2,
    "max_length": 128,
}
TRAIN |= {"max_prompt_length": 64, "methods": ["DPO-BMC"]}


@pytest.fixture(scope="module")
def padless_tokenizer(tmp_path_factory):
    """The shipped SmolLM2 tokenizer with its pad token removed, as Llama-2's and Llama-3's ship."""
    folder = tmp_path_factory.mktemp("padless") / "tokenizer"
    shutil.copytree(SHIPPED_TOKENIZER, folder)
    config_path = folder / "tokenizer_config.json"
    config = json.loads(config_path.read_text())
    del config["pad_token"]
    config_path.write_text(json.dumps(config))
    assert AutoTokenizer.from_pretrained(folder).pad_token is None
    return folder


@pytest.fixture(scope="module")
def base(padless_tokenizer, tmp_path_factory):
    """The `model` stage's folder of a tiny random Llama with the pad-less tokenizer, default settings."""
    out = tmp_path_factory.mktemp("models") / "base"
    main(["model", "--out", str(out), "--params", json.dumps({**TINY, "tokenizer": str(padless_tokenizer)})])
    return out


def test_the_model_stage_pads_with_eos_by_default_and_records_it(base):
    tok = load_tokenizer(base)
    assert tok.pad_token == tok.eos_token == "<|im_end|>"
    assert json.loads((base / PAD_RECORD).read_text()) == {
        "setting": "eos",
        "tokenizer_had_one": False,
        "pad_token": "<|im_end|>",
        "pad_token_id": tok.eos_token_id,
        "is_eos": True,
    }
    assert AutoConfig.from_pretrained(base).pad_token_id == tok.eos_token_id
    assert GenerationConfig.from_pretrained(base).pad_token_id == tok.eos_token_id


def test_a_tokenizer_with_its_own_pad_token_keeps_it(tmp_path, caplog):
    with caplog.at_level(logging.INFO, logger="bmc.models.prepare"):
        build(tmp_path / "m", ModelSection(**TINY, pad_token_if_missing="unk"))
    record = json.loads((tmp_path / "m" / PAD_RECORD).read_text())
    assert record["tokenizer_had_one"] and record["pad_token"] == "<|im_end|>"  # the shipped one, not UNK
    assert "pad token '<|im_end|>' (id 2, its own), the EOS token" in caplog.text


@pytest.mark.parametrize(
    ("setting", "token"),
    [("unk", "<|endoftext|>"), ("<|endoftext|>", "<|endoftext|>"), ("<repo_name>", "<repo_name>")],
)
def test_unk_or_a_token_of_the_vocabulary_can_pad_instead(padless_tokenizer, tmp_path, setting, token):
    build(
        tmp_path / "m", ModelSection(**TINY, tokenizer=str(padless_tokenizer), pad_token_if_missing=setting)
    )
    tok = load_tokenizer(tmp_path / "m")
    assert tok.pad_token == token and tok.pad_token_id != tok.eos_token_id
    assert json.loads((tmp_path / "m" / PAD_RECORD).read_text())["is_eos"] is False
    assert AutoConfig.from_pretrained(tmp_path / "m").pad_token_id == tok.pad_token_id


def test_refuse_and_unknown_tokens_fail_naming_the_folder(padless_tokenizer, tmp_path):
    section = ModelSection(**TINY, tokenizer=str(padless_tokenizer), pad_token_if_missing="refuse")
    with pytest.raises(
        ValueError, match=r"tokenizer in .*/m has no pad token and pad_token_if_missing is refuse"
    ):
        build(tmp_path / "m", section)
    section = section.model_copy(update={"pad_token_if_missing": "<pad>"})
    with pytest.raises(ValueError, match=r"'<pad>' is not a token of its vocabulary"):
        build(tmp_path / "m", section)
    assert list(tmp_path.iterdir()) == []  # no folder, not even a half one


def test_a_folder_the_model_stage_did_not_make_is_refused_where_padding_is_needed(
    padless_tokenizer, tmp_path
):
    build_random_llama(tmp_path, ModelSection(**TINY, tokenizer=str(padless_tokenizer)))
    with pytest.raises(ValueError, match=r"has no pad token: make the model folder with the `model` stage"):
        load_tokenizer(tmp_path)
    with pytest.raises(ValueError, match=r"has no pad token: make the model folder"):
        load_generator(tmp_path, GenerationParams(max_new_tokens=2))
    from bmc.alignment.trainer import BMCConfig, BMCTrainer

    with pytest.raises(ValueError, match=r"the tokenizer has no pad token: load it with .*load_tokenizer"):
        BMCTrainer(
            None,
            BMCConfig(output_dir=str(tmp_path / "x"), bf16=False),
            AutoTokenizer.from_pretrained(tmp_path),
        )


def test_provenance_names_each_model_folders_setting():
    config = {"model": {"kind": "hub", "name": "meta-llama/Llama-2-7b-hf"}}
    config |= {"sft_models": {"if": {"kind": "hub", "name": "x", "pad_token_if_missing": "unk"}}}
    assert pad_token_settings(config) == {"model": "eos", "sft_models.if": "unk"}


def test_sft_trains_the_eos_label_when_it_is_also_the_pad_token(base, tmp_path):
    settings = job_settings(SftJob, json.dumps({"learning_rate": 1e-3, "max_length": 128}), "sft")
    trainer, tok = build_sft_trainer(str(base), SFT_ROWS, settings, tmp_path)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(SFT_ROWS))])
    ids, real = batch["input_ids"], batch["attention_mask"].bool()
    assert (ids[~real] == tok.eos_token_id).all() and (~real).any()  # padded with EOS ids
    last = real.sum(1) - 1
    assert (ids[torch.arange(len(ids)), last] == tok.eos_token_id).all()  # each row ends in its EOS ...
    assert (batch["labels"][torch.arange(len(ids)), last] == tok.eos_token_id).all()  # ... which is a label
    trainer.model.eval()
    with torch.no_grad():
        loss = trainer.compute_loss(trainer.model, batch)
        logps = trainer.model(input_ids=ids, attention_mask=batch["attention_mask"]).logits.log_softmax(-1)
    nll = -logps[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
    targets = real[:, 1:]  # every real token after the first, the final EOS included; no padding
    assert torch.allclose(loss, nll[targets].mean(), atol=1e-5)
    without_eos = targets.clone()
    without_eos[torch.arange(len(ids)), last - 1] = False
    assert not torch.allclose(loss, nll[without_eos].mean(), atol=1e-4)  # the EOS term is in the loss


def test_preference_training_scores_the_eos_of_both_responses(base, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    settings = job_settings(TrainJob, json.dumps(TRAIN), "train")
    tok = load_tokenizer(base)
    rows, _ = load_pairs(
        str(pairs), tok, settings.max_prompt_length, settings.prompt_format, settings.max_length
    )
    trainer, _ = build_preference_trainer("DPO-BMC", 0, str(base), None, rows, settings, tmp_path / "ckpt")
    examples = [trainer.train_dataset[i] for i in range(len(PAIRS))]
    batch = trainer.data_collator(examples)  # BMCCollator: rows [chosen; rejected], padded with the EOS id
    ids, real, completion = (
        batch["input_ids"],
        batch["attention_mask"].bool(),
        batch["completion_mask"].bool(),
    )
    assert (ids[~real] == tok.eos_token_id).all() and (~real).any()
    responses = [e["chosen_ids"] for e in examples] + [e["rejected_ids"] for e in examples]
    assert all(r[-1] == tok.eos_token_id for r in responses)
    assert completion.sum(1).tolist() == [len(r) for r in responses]  # the whole response, its EOS included
    assert not (completion & ~real).any()  # and no padding
    trainer.model.eval()
    with torch.no_grad():
        scores = trainer.sequence_logps(trainer.model, batch, grad=False)
        logps = trainer.model(input_ids=ids, attention_mask=batch["attention_mask"]).logits.log_softmax(-1)
    token_logps = logps[:, :-1].gather(-1, ids[:, 1:, None]).squeeze(-1)
    expected = (token_logps * completion[:, 1:]).sum(1)
    assert torch.allclose(scores.plain, expected, atol=1e-4)
    last = real.sum(1) - 1
    eos_logps = token_logps[torch.arange(len(ids)), last - 1]
    assert not torch.allclose(scores.plain, expected - eos_logps, atol=1e-4)  # the EOS terms are in the sums


def test_every_stage_runs_on_a_model_whose_tokenizer_had_no_pad_token(base, tmp_path):
    sft_data = tmp_path / "sft.jsonl"
    sft_data.write_text("".join(json.dumps(r) + "\n" for r in SFT_ROWS))
    sft = tmp_path / "sft"
    params = {"learning_rate": 1e-3, "per_device_train_batch_size": 2, "max_length": 128, "max_steps": 2}
    sft_stage.run(
        argparse.Namespace(
            model=str(base), data=str(sft_data), out=str(sft), params=json.dumps(params), world_size=None
        )
    )
    assert json.loads((sft / "sft_summary.json").read_text())["steps"] == 2
    assert load_tokenizer(sft).pad_token == "<|im_end|>"  # the SFT folder keeps the pad token

    questions = tmp_path / "prefs.jsonl"
    rows = [{"id": f"q{i}", "task": "qa", "dataset": "ECQA", "question": f"Where {i}?", "solution": "s", "answer": "a"}
            for i in range(3)]  # fmt: skip
    questions.write_text("".join(json.dumps(r) + "\n" for r in rows))
    samples = tmp_path / "samples.jsonl"
    decoding = {
        "max_new_tokens": 4,
        "do_sample": True,
        "seed": 1,
        "dtype": "float32",
        "num_samples": 2,
        "batch_size": 4,
    }
    main(
        [
            "sample",
            "--model",
            str(sft),
            "--data",
            str(questions),
            "--out",
            str(samples),
            "--params",
            json.dumps(decoding),
        ]
    )
    assert len(samples.read_text().splitlines()) == 6

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    trained = tmp_path / "dpo_bmc"
    args = dict(method="DPO-BMC", seed=0, model=str(sft), ref=None, pairs=str(pairs), out=str(trained))
    train_stage.run(argparse.Namespace(**args, world_size=None, params=json.dumps({**TRAIN, "max_steps": 2})))
    assert json.loads((trained / "train_summary.json").read_text())["steps"] == 2

    tests = tmp_path / "ARC.jsonl"
    tests.write_text("".join(json.dumps({"id": f"t{i}", "dataset": "ARC", "question": f"Q{i}?", "answer": "a"}) + "\n"
                             for i in range(3)))  # fmt: skip
    backends = ["transformers"] + (["vllm"] if importlib.util.find_spec("vllm") else [])
    for backend in backends:
        answers = tmp_path / backend / "ARC.jsonl"
        params = {"backend": backend, "max_new_tokens": 4, "batch_size": 2, "dtype": "float32"}
        main(
            [
                "generate",
                "--model",
                str(trained),
                "--data",
                str(tests),
                "--out",
                str(answers),
                "--params",
                json.dumps(params),
            ]
        )
        assert len(answers.read_text().splitlines()) == 3

    # a local editor or judge (`kind: hf`) on the base folder
    client = make_client({"kind": "hf", "model": "base", "max_new_tokens": 3, "batch_size": 2}, str(base))
    replies = client.complete(
        [[{"role": "user", "content": "Edit this."}], [{"role": "user", "content": "Judge."}]]
    )
    assert len(replies) == 2
