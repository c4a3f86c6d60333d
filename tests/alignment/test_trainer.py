"""Proof of exactness of BMCTrainer on a tiny float64 model."""

import argparse
import difflib
import json
import math

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer

from bmc.alignment.stopwords import stopword_ids
from bmc.alignment.train import load_pairs, run
from bmc.alignment.trainer import BMCConfig, BMCTrainer
from bmc.chat import training_prompt

PAIRS = [
    (
        "Which gas do plants absorb?\nOptions:\noxygen\ncarbon dioxide",
        "Plants take in carbon dioxide.\nThe answer is carbon dioxide",
        "Plants breathe oxygen all day.\nThe answer is oxygen",
    ),
    (
        "Where is the sun?\nOptions:\nsky\nsea",
        "The sun is in the sky.\nThe answer is sky",
        "The sun sinks into the sea.\nThe answer is sea",
    ),
    ("Same?\nOptions:\nyes\nno", "It is the same.\nThe answer is yes", "It is the same.\nThe answer is yes"),
]
ROWS = [{"prompt": training_prompt(q), "chosen": c, "rejected": r} for q, c, r in PAIRS]
COMMON = dict(per_device_train_batch_size=3, report_to="none", use_cpu=True, max_length=128, beta=0.1)


def model(path):
    return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64)


def make(kind, path, tmp_path, precompute=False, **kw):
    tok = AutoTokenizer.from_pretrained(path)
    if kind == "trl":
        args = DPOConfig(output_dir=str(tmp_path / "trl"), precompute_ref_log_probs=precompute, **COMMON)
        return DPOTrainer(
            model=model(path),
            ref_model=model(path),
            args=args,
            processing_class=tok,
            train_dataset=Dataset.from_list(ROWS),
        )
    args = BMCConfig(output_dir=str(tmp_path / kind), precompute_ref_log_probs=precompute, **COMMON, **kw)
    ref = None if precompute else model(path)
    return BMCTrainer(
        model=model(path),
        ref_model=ref,
        args=args,
        processing_class=tok,
        train_dataset=Dataset.from_list(ROWS),
    )


def loss_and_grads(trainer):
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(ROWS))])
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]


@pytest.mark.parametrize("setting", [dict(method="DPO"), dict(method="DPO-MC", delta=1e-12)])
def test_without_bmc_weights_equals_trl_dpo(tiny_model_dir, tmp_path, setting):
    """Weights off (plain DPO) or δ→0 (λ→1): loss and gradients equal TRL's DPOTrainer."""
    trl_loss, trl_grads = loss_and_grads(make("trl", tiny_model_dir, tmp_path))
    bmc_loss, bmc_grads = loss_and_grads(make("bmc", tiny_model_dir, tmp_path, **setting))
    assert abs(trl_loss.item() - bmc_loss.item()) < 1e-6 * max(1.0, abs(trl_loss.item()))
    assert len(trl_grads) == len(bmc_grads)
    for a, b in zip(trl_grads, bmc_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-6)


def independent_weighted_sums(net, tok, delta):
    """Σ_t λ_t log p_t per pair from BMC.md, written without the package: difflib over the full ids,
    stop words never marked, λ_t = 1 + m_t·min(1/p_t, δ) from `net`'s own probabilities, a per-token loop."""
    stops = stopword_ids(tok)
    sums = []
    for row in ROWS:
        prompt = tok(row["prompt"], add_special_tokens=False)["input_ids"]
        seqs = {
            k: tok(row["prompt"] + row[k] + tok.eos_token, add_special_tokens=False)["input_ids"]
            for k in ("chosen", "rejected")
        }
        marks = {k: [0] * len(v) for k, v in seqs.items()}
        for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(
            None, seqs["rejected"], seqs["chosen"]
        ).get_opcodes():
            for i in range(i1, i2):
                marks["rejected"][i] = int(tag in ("replace", "delete") and seqs["rejected"][i] not in stops)
            for j in range(j1, j2):
                marks["chosen"][j] = int(tag in ("replace", "insert") and seqs["chosen"][j] not in stops)
        total = {}
        with torch.no_grad():
            for k, ids in seqs.items():
                logprobs = torch.log_softmax(net(torch.tensor([ids])).logits[0], dim=-1)
                s = 0.0
                for t in range(len(prompt), len(ids)):
                    lp = logprobs[t - 1, ids[t]].item()
                    s += (1 + marks[k][t] * min(1 / math.exp(lp), delta)) * lp
                total[k] = s
        sums.append(total)
    return sums


def test_bmc_loss_matches_the_equations(tiny_model_dir, tmp_path):
    beta, delta = 0.1, 3.0
    trainer = make("bmc", tiny_model_dir, tmp_path, method="DPO-BMC", delta=delta)
    with torch.no_grad():  # move the policy away from the reference
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(ROWS))])
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = independent_weighted_sums(trainer.model, tok, delta)
    ref = independent_weighted_sums(model(tiny_model_dir), tok, delta)
    logps, _, _ = trainer.sequence_logps(trainer.model, batch, grad=False)
    chosen, rejected = logps.chunk(2)
    # TRL's fused LM head computes log-probs in float32: agreement to float32 precision
    assert chosen.tolist() == pytest.approx([s["chosen"] for s in policy], rel=1e-6)
    assert rejected.tolist() == pytest.approx([s["rejected"] for s in policy], rel=1e-6)
    # the reference's sums use its own probabilities; TRL's reference LM head rounds a little more coarsely
    ref_chosen, ref_rejected = trainer.compute_ref_log_probs(trainer.ref_model, batch)
    assert ref_chosen.tolist() == pytest.approx([s["chosen"] for s in ref], rel=1e-4)
    assert ref_rejected.tolist() == pytest.approx([s["rejected"] for s in ref], rel=1e-4)
    ref = [
        {"chosen": c, "rejected": r} for c, r in zip(ref_chosen.tolist(), ref_rejected.tolist(), strict=True)
    ]
    want = [
        -math.log(1 / (1 + math.exp(-beta * ((p["chosen"] - r["chosen"]) - (p["rejected"] - r["rejected"])))))
        for p, r in zip(policy, ref, strict=True)
    ]
    assert trainer.compute_loss(trainer.model, batch).item() == pytest.approx(sum(want) / len(want), rel=1e-5)
    assert trainer.mask_stats["empty_masks"] == 1  # the identical pair is counted, not an error


def test_bmc_weighted_sums_use_each_models_probabilities(tiny_model_dir, tmp_path):
    trainer = make("bmc", tiny_model_dir, tmp_path, method="DPO-BMC", delta=3.0)
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(2)])
    with torch.no_grad():
        for p in trainer.model.parameters():
            p.add_(0.05 * torch.randn_like(p))
    policy, _, _ = trainer.sequence_logps(trainer.model, batch, grad=False)
    reference = torch.cat(trainer.compute_ref_log_probs(trainer.ref_model, batch))
    assert not torch.allclose(policy, reference)
    weighted_off = make("bmc2", tiny_model_dir, tmp_path, method="DPO-BC")
    plain = torch.cat(weighted_off.compute_ref_log_probs(weighted_off.ref_model, batch))
    assert (reference < plain).all()  # λ ≥ 1 on log p ≤ 0: weighted sums are lower wherever tokens vary


def test_precomputed_reference_gives_the_same_loss(tiny_model_dir, tmp_path):
    live = make("live", tiny_model_dir, tmp_path, method="DPO-BMC")
    pre = make("pre", tiny_model_dir, tmp_path / "p", precompute=True, method="DPO-BMC")
    assert pre.ref_model is None and "ref_chosen_logps" in pre.train_dataset.column_names
    batch = live.data_collator([live.train_dataset[i] for i in range(len(ROWS))])
    # precomputation runs the reference (= the initial policy) through the policy's forward path
    on_the_fly = torch.cat(live.compute_ref_log_probs(live.model, batch))
    stored = torch.tensor(
        list(pre.train_dataset["ref_chosen_logps"]) + list(pre.train_dataset["ref_rejected_logps"]),
        dtype=torch.float64,
    )
    assert torch.allclose(on_the_fly.double(), stored, rtol=1e-6)
    with torch.no_grad():  # move the policies away from the reference identically
        for a, b in zip(live.model.parameters(), pre.model.parameters(), strict=True):
            noise = 0.05 * torch.randn_like(a)
            a.add_(noise)
            b.add_(noise)
    l1, _ = loss_and_grads(live)
    l2, _ = loss_and_grads(pre)
    # TRL's fused head rounds the reference's and the policy's log-probs in float32 slightly differently
    assert l1.item() == pytest.approx(l2.item(), rel=1e-3)


def test_bad_settings_fail_before_training(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, method="DPO-XYZ")
    with pytest.raises(ValueError, match="delta must be > 0"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, delta=0.0)
    with pytest.raises(ValueError, match="beta must be > 0"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, beta=-1.0)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(
        json.dumps({"id": "a", "prompt": [{"role": "user", "content": "q"}], "chosen": "x", "rejected": " "})
        + "\n"
    )
    with pytest.raises(ValueError, match="bad.jsonl:1: empty rejected"):
        load_pairs(str(bad), tok, 100)
    long = tmp_path / "long.jsonl"
    long.write_text(
        json.dumps(
            {"id": "a", "prompt": [{"role": "user", "content": "word " * 50}], "chosen": "x", "rejected": "y"}
        )
        + "\n"
    )
    with pytest.raises(ValueError, match="longer than max_prompt_length=20"):
        load_pairs(str(long), tok, 20)


def test_train_stage_writes_model_and_summary(tiny_model_dir, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        "".join(
            json.dumps({"id": str(i), "prompt": [{"role": "user", "content": q}], "chosen": c, "rejected": r})
            + "\n"
            for i, (q, c, r) in enumerate(PAIRS)
        )
    )
    params = {
        "beta": 0.1,
        "delta": 3.0,
        "learning_rate": 1e-3,
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "max_length": 128,
        "max_prompt_length": 64,
        "methods": ["DPO-BMC"],
    }
    out = tmp_path / "model"
    run(
        argparse.Namespace(
            method="DPO-BMC",
            seed=0,
            model=str(tiny_model_dir),
            ref=None,
            pairs=str(pairs),
            out=str(out),
            params=json.dumps(params),
        )
    )
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["pairs"] == 3 and summary["empty_masks"] == 1
    assert (out / "model.safetensors").exists() and not (tmp_path / "model.checkpoints").exists()
