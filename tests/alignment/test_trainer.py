"""Proof of exactness of BMCTrainer on a tiny float64 model, against TRL and against BMC.md's equations."""

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
from bmc.alignment.trainer import BMCConfig, BMCTrainer
from bmc.alignment.training import load_pairs
from bmc.config import ConfigError, TrainJob, job_settings
from bmc.data.prompt_format import training_prompt
from bmc.stages.train import run

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


def make(kind, path, tmp_path, precompute=False, ref=True, params=None, **kw):
    """A TRL DPOTrainer (`kind` "trl") or a BMCTrainer with these settings; `params`: the method's own
    hyperparameters (`method_params`)."""
    tok = AutoTokenizer.from_pretrained(path)
    if kind == "trl":
        args = DPOConfig(
            output_dir=str(tmp_path / "trl"), precompute_ref_log_probs=precompute, **COMMON, **kw
        )
        cls = DPOTrainer
    else:
        args = BMCConfig(output_dir=str(tmp_path / kind), precompute_ref_log_probs=precompute, **COMMON, **kw)
        cls = BMCTrainer
    own = {} if kind == "trl" else {"method_params": params}
    return cls(
        model=model(path),
        ref_model=model(path) if ref else None,
        args=args,
        processing_class=tok,
        train_dataset=Dataset.from_list(ROWS),
        **own,
    )


def full_batch(trainer):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(len(ROWS))])


def loss_and_grads(trainer, batch=None):
    batch = full_batch(trainer) if batch is None else batch
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, batch)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]


def perturb(*models, scale=0.05, seed=0):
    """Move policies away from the reference, identically for every model given."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for params in zip(*(m.parameters() for m in models), strict=True):
            noise = scale * torch.randn(params[0].shape, generator=g, dtype=params[0].dtype)
            for p in params:
                p.add_(noise)


@pytest.mark.parametrize(
    "setting,zero_masks",
    [
        (dict(method="DPO"), False),
        (dict(method="DPO-BMC"), True),
        (dict(method="DPO-MC", delta=1e-12), False),
    ],
    ids=["weights-off", "masks-zero", "delta-to-0"],
)
def test_without_active_weights_equals_trl_dpo(tiny_model_dir, tmp_path, setting, zero_masks):
    """Weights off, all masks zero, or δ→0 (λ→1): loss and gradients equal TRL's DPOTrainer."""
    trl = make("trl", tiny_model_dir, tmp_path)
    bmc = make("bmc", tiny_model_dir, tmp_path, **setting)
    perturb(trl.model, bmc.model)
    batch = full_batch(bmc)
    assert batch["diff_mask"].any()
    if zero_masks:
        batch["diff_mask"].zero_()
    trl_loss, trl_grads = loss_and_grads(trl)
    bmc_loss, bmc_grads = loss_and_grads(bmc, batch)
    assert abs(trl_loss.item() - bmc_loss.item()) <= 1e-6 * max(1.0, abs(trl_loss.item()))
    assert len(trl_grads) == len(bmc_grads) > 0
    for a, b in zip(trl_grads, bmc_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-6)


def independent_terms(net, tok, delta):
    """Per pair and side, from BMC.md, written without the package: difflib over the full ids, stop words
    never marked, λ_t = 1 + m_t·min(1/p_t, δ) from `net`'s own probabilities, a per-token loop. Returns
    {"chosen"/"rejected": {"weighted": Σ λ_t log p_t, "plain": Σ log p_t, "masked": Σ m_t log p_t, "n": |y|}}."""
    stops = stopword_ids(tok)
    terms = []
    for row in ROWS:
        prompt = tok(row["prompt"])["input_ids"]
        seqs = {k: tok(row["prompt"] + row[k] + tok.eos_token)["input_ids"] for k in ("chosen", "rejected")}
        marks = {k: [0] * len(v) for k, v in seqs.items()}
        matcher = difflib.SequenceMatcher(None, seqs["rejected"], seqs["chosen"])
        for tag, i1, i2, j1, j2 in matcher.get_opcodes():
            for i in range(i1, i2):
                marks["rejected"][i] = int(tag in ("replace", "delete") and seqs["rejected"][i] not in stops)
            for j in range(j1, j2):
                marks["chosen"][j] = int(tag in ("replace", "insert") and seqs["chosen"][j] not in stops)
        pair = {}
        with torch.no_grad():
            for k, ids in seqs.items():
                logprobs = torch.log_softmax(net(torch.tensor([ids])).logits[0], dim=-1)
                side = {"weighted": 0.0, "plain": 0.0, "masked": 0.0, "n": len(ids) - len(prompt)}
                for t in range(len(prompt), len(ids)):  # response tokens, scored at position t-1
                    lp = logprobs[t - 1, ids[t]].item()
                    side["weighted"] += (1 + marks[k][t] * min(1 / math.exp(lp), delta)) * lp
                    side["plain"] += lp
                    side["masked"] += marks[k][t] * lp
                pair[k] = side
        terms.append(pair)
    return terms


def independent_weighted_sums(net, tok, delta):
    return [{k: side["weighted"] for k, side in pair.items()} for pair in independent_terms(net, tok, delta)]


def test_bmc_loss_matches_the_equations(tiny_model_dir, tmp_path):
    beta, delta = 0.1, 3.0
    trainer = make("bmc", tiny_model_dir, tmp_path, method="DPO-BMC", delta=delta)
    perturb(trainer.model)
    batch = full_batch(trainer)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = independent_weighted_sums(trainer.model, tok, delta)
    ref = independent_weighted_sums(model(tiny_model_dir), tok, delta)
    chosen, rejected = trainer.sequence_logps(trainer.model, batch, grad=False).weighted.chunk(2)
    # TRL's fused LM head returns float32 log-probs: agreement to float32 precision
    assert chosen.tolist() == pytest.approx([s["chosen"] for s in policy], rel=1e-6)
    assert rejected.tolist() == pytest.approx([s["rejected"] for s in policy], rel=1e-6)
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


def test_each_model_weights_with_its_own_probabilities(tiny_model_dir, tmp_path):
    trainer = make("bmc", tiny_model_dir, tmp_path, method="DPO-BMC", delta=3.0)
    batch = full_batch(trainer)
    perturb(trainer.model)
    policy = trainer.sequence_logps(trainer.model, batch, grad=False).weighted
    reference = torch.cat(trainer.compute_ref_log_probs(trainer.ref_model, batch))
    assert not torch.allclose(policy, reference)
    unweighted = make("bc", tiny_model_dir, tmp_path, method="DPO-BC")
    plain = torch.cat(unweighted.compute_ref_log_probs(unweighted.ref_model, batch))
    varied = batch["diff_mask"].any(dim=1)
    assert (reference[varied] < plain[varied]).all()  # λ > 1 on log p < 0 wherever tokens vary
    assert torch.equal(reference[~varied], plain[~varied])


def test_confidence_weights_carry_no_gradient(tiny_model_dir, tmp_path):
    """Gradients equal those with λ frozen as constants computed beforehand: λ is a stop-gradient."""
    trainer = make("bmc", tiny_model_dir, tmp_path, method="DPO-BMC")
    perturb(trainer.model)
    batch = full_batch(trainer)
    loss, grads = loss_and_grads(trainer, batch)
    computed = trainer.token_weights
    frozen = {}

    def frozen_weights(token_logps, diff_mask):
        key = "policy" if token_logps.requires_grad else "ref"
        if key not in frozen:
            frozen[key] = computed(token_logps.detach().clone(), diff_mask).clone()
        return frozen[key]

    trainer.token_weights = frozen_weights
    frozen_loss, frozen_grads = loss_and_grads(trainer, batch)
    assert frozen["policy"].gt(1).any()  # the weights are active
    assert frozen_loss.item() == pytest.approx(loss.item(), rel=1e-12)
    for a, b in zip(grads, frozen_grads, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_precomputed_reference_gives_the_same_loss(tiny_model_dir, tmp_path):
    live = make("live", tiny_model_dir, tmp_path, method="DPO-BMC")
    pre = make("pre", tiny_model_dir, tmp_path / "p", precompute=True, method="DPO-BMC")
    assert "ref_chosen_logps" in pre.train_dataset.column_names
    pre.ref_model = None  # any reference forward during the loss would now fail
    perturb(live.model, pre.model)
    l1, g1 = loss_and_grads(live)
    l2, g2 = loss_and_grads(pre)
    assert l1.item() == pytest.approx(l2.item(), rel=1e-12)
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


def test_precompute_without_reference_model_stores_the_initial_policy_sums(tiny_model_dir, tmp_path):
    """The stage's default (--ref = --model): the reference sums come from the untouched policy."""
    pre = make("pre", tiny_model_dir, tmp_path, precompute=True, ref=False, method="DPO-BMC")
    assert pre.ref_model is None
    batch = full_batch(pre)
    on_the_fly = torch.cat(pre.compute_ref_log_probs(pre.model, batch)).double()
    stored = torch.tensor(
        list(pre.train_dataset["ref_chosen_logps"]) + list(pre.train_dataset["ref_rejected_logps"]),
        dtype=torch.float64,
    )
    assert torch.allclose(on_the_fly, stored, rtol=1e-6)


def log_odds(avg_logp):
    return avg_logp - math.log(1 - math.exp(avg_logp))


def expected_loss(method, policy, ref, beta, hp):
    """The batch loss of `method` from the published formulas, on independently computed terms."""
    losses = []
    chosen_tokens = sum(p["chosen"]["n"] for p in policy)
    nll = -sum(p["chosen"]["plain"] for p in policy) / chosen_tokens  # cross-entropy over the batch
    for p, r in zip(policy, ref, strict=True):
        pw, pl, nw, nl = (
            p["chosen"]["weighted"],
            p["rejected"]["weighted"],
            p["chosen"]["n"],
            p["rejected"]["n"],
        )
        dw, dl = pw - r["chosen"]["weighted"], pl - r["rejected"]["weighted"]
        if method == "IPO-BMC":  # Azar et al., log-ratios averaged per token
            losses.append((dw / nw - dl / nl - 1 / (2 * beta)) ** 2)
        elif method == "R-DPO-BMC":  # the released code: -log σ(β[Δ_w - Δ_l - (|y_w| - |y_l|)])
            losses.append(-math.log(sigmoid(beta * (dw - dl - (nw - nl)))))
        elif method == "SimPO-BMC":
            losses.append(-math.log(sigmoid(beta * (pw / nw - pl / nl) - hp["gamma"])))
        elif method == "ORPO-BMC":  # λ = β; the NLL term is the batch's, added once
            losses.append(nll - beta * math.log(sigmoid(log_odds(pw / nw) - log_odds(pl / nl))))
        elif method == "FIGA":  # varied tokens only, plain log-probs, rejected halved
            losses.append(-p["chosen"]["masked"] + 0.5 * p["rejected"]["masked"])
    return sum(losses) / len(losses)


@pytest.mark.parametrize("method", ["IPO-BMC", "R-DPO-BMC", "SimPO-BMC", "ORPO-BMC", "FIGA"])
def test_every_objective_matches_its_formula_through_the_trainer(tiny_model_dir, tmp_path, method):
    """Each variant's loss from the trainer (masks, weights, lengths, hyperparameters wired as configured)
    equals its published formula on terms computed without the package; the gradients are finite."""
    beta, delta, hp = 0.1, 3.0, {"gamma": 0.3} if method == "SimPO-BMC" else {}
    trainer = make("m", tiny_model_dir, tmp_path, method=method, delta=delta, params=hp)
    perturb(trainer.model)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    policy = independent_terms(trainer.model, tok, delta)
    ref = independent_terms(model(tiny_model_dir), tok, delta)
    # the trainer scores the reference in float32 (see test_bmc_loss_matches_the_equations): check its sums
    # against the independent ones, then use them, so that the loss is checked to float32 precision
    trainer_ref = trainer.compute_ref_log_probs(trainer.ref_model, full_batch(trainer))
    for side, sums in zip(
        ("chosen", "rejected"), trainer_ref if trainer.method.needs_reference else (), strict=False
    ):
        assert sums.tolist() == pytest.approx([r[side]["weighted"] for r in ref], rel=1e-4)
        for r, value in zip(ref, sums.tolist(), strict=True):
            r[side]["weighted"] = value
    loss, grads = loss_and_grads(trainer)
    assert loss.item() == pytest.approx(expected_loss(method, policy, ref, beta, hp), rel=1e-5)
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_ipo_without_weights_equals_trl_ipo(tiny_model_dir, tmp_path):
    trl = make("trl", tiny_model_dir, tmp_path, loss_type=["ipo"])
    ipo = make("bmc", tiny_model_dir, tmp_path, method="IPO")
    perturb(trl.model, ipo.model)
    (trl_loss, trl_grads), (ipo_loss, ipo_grads) = loss_and_grads(trl), loss_and_grads(ipo)
    assert ipo_loss.item() == pytest.approx(trl_loss.item(), rel=1e-6)
    for a, b in zip(trl_grads, ipo_grads, strict=True):
        assert torch.allclose(a, b, atol=1e-6, rtol=1e-6)


def test_stopword_forms_choose_the_filtered_ids(tiny_model_dir, tmp_path):
    released = make("r", tiny_model_dir, tmp_path, method="DPO-BMC")
    spaced = make("s", tiny_model_dir, tmp_path, method="DPO-BMC", stopword_forms="with_leading_space")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    assert released._stop_ids == stopword_ids(tok) < spaced._stop_ids == stopword_ids(tok, True)
    # " the" is marked under the released form and not with the space-prefixed forms filtered
    assert released.mask_stats["marked_chosen"] > spaced.mask_stats["marked_chosen"]


def independent_tdpo_terms(policy, reference, tok):
    """Per pair (Δ_w, Δ_l, D_w, D_l) from Zeng et al. 2024, one sequence and one position at a time:
    Δ = Σ_t log π(y_t) - log π_ref(y_t), D = Σ_t Σ_v π_ref(v) (log π_ref(v) - log π(v))."""
    terms = []
    with torch.no_grad():
        for row in ROWS:
            n_prompt = len(tok(row["prompt"])["input_ids"])
            out = []
            for k in ("chosen", "rejected"):
                ids = tok(row["prompt"] + row[k] + tok.eos_token)["input_ids"]
                lp = torch.log_softmax(policy(torch.tensor([ids])).logits[0], dim=-1)
                lr = torch.log_softmax(reference(torch.tensor([ids])).logits[0], dim=-1)
                ratio = kl = 0.0
                for t in range(n_prompt, len(ids)):
                    ratio += (lp[t - 1, ids[t]] - lr[t - 1, ids[t]]).item()
                    kl += (lr[t - 1].exp() * (lr[t - 1] - lp[t - 1])).sum().item()
                out += [ratio, float(kl)]
            terms.append(out)
    return terms


def test_tdpo_loss_matches_its_equation(tiny_model_dir, tmp_path):
    beta, alpha = 0.1, 0.5
    trainer = make("tdpo", tiny_model_dir, tmp_path, method="TDPO")
    perturb(trainer.model)
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    want = [
        -math.log(sigmoid(beta * (dw - dl) - alpha * beta * (kl_l - kl_w)))
        for dw, kl_w, dl, kl_l in independent_tdpo_terms(trainer.model, model(tiny_model_dir), tok)
    ]
    loss, grads = loss_and_grads(trainer)
    assert loss.item() == pytest.approx(sum(want) / len(want), rel=1e-6)
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_tdpo_kl_term_vanishes_while_the_policy_is_the_reference(tiny_model_dir, tmp_path):
    """At π = π_ref both sequential KLs and the gradient of D_l are zero: TDPO's loss is log 2 and its
    gradients equal those without the KL term (α = 0)."""
    with_kl = make("tdpo", tiny_model_dir, tmp_path, method="TDPO")
    without_kl = make("tdpo0", tiny_model_dir, tmp_path, method="TDPO", params={"alpha": 0.0})
    (l1, g1), (l2, g2) = loss_and_grads(with_kl), loss_and_grads(without_kl)
    assert l1.item() == pytest.approx(math.log(2), rel=1e-12) and l2.item() == pytest.approx(
        math.log(2), rel=1e-12
    )
    assert g1 and all(g.abs().max() > 0 for g in g1)
    for a, b in zip(g1, g2, strict=True):
        assert torch.allclose(a, b, rtol=1e-9, atol=1e-12)


def test_tdpo_refuses_a_precomputed_reference(tmp_path):
    with pytest.raises(ValueError, match="cannot be precomputed"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, method="TDPO", precompute_ref_log_probs=True)


def sigmoid(x):
    return 1 / (1 + math.exp(-x))


def test_bad_settings_fail_before_training(tiny_model_dir, tmp_path):
    with pytest.raises(ValueError, match="unknown method"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, method="DPO-XYZ")
    with pytest.raises(ValueError, match="delta must be > 0"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, delta=0.0)
    with pytest.raises(ValueError, match="beta must be > 0"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, beta=-1.0)
    with pytest.raises(ValueError, match="not TRL's loss_type"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, loss_type=["ipo"])
    for option in ({"label_smoothing": 0.1}, {"use_weighting": True}):
        with pytest.raises(ValueError, match=f"does not use TRL's \\['{next(iter(option))}'\\]"):
            BMCConfig(output_dir=str(tmp_path), use_cpu=True, **option)
    with pytest.raises(ValueError, match="stopword_forms must be one of"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, stopword_forms="spaced")
    with pytest.raises(ValueError, match="beta must be > 0"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, beta=0.0)
    with pytest.raises(ConfigError, match=r"train\.delta: Input should be greater than 0"):
        job_settings(TrainJob, json.dumps({"beta": 0.1, "delta": -1}), "train")
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    tok.pad_token = None
    with pytest.raises(ValueError, match="no pad token"):
        BMCTrainer(
            model=model(tiny_model_dir),
            args=BMCConfig(output_dir=str(tmp_path), use_cpu=True, report_to="none"),
            processing_class=tok,
            train_dataset=Dataset.from_list(ROWS),
        )


def write_pairs(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def pair(i, q="q", c="x", r="y"):
    return {"id": str(i), "prompt": [{"role": "user", "content": q}], "chosen": c, "rejected": r}


def test_bad_pairs_fail_with_file_and_line(tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    bad = write_pairs(tmp_path / "bad.jsonl", [pair(0), pair(1, r=" ")])
    with pytest.raises(ValueError, match=r"bad.jsonl:2: empty rejected"):
        load_pairs(bad, tok, 100)
    two_turns = pair(0)
    two_turns["prompt"].append({"role": "assistant", "content": "a"})
    with pytest.raises(ValueError, match="exactly one"):
        load_pairs(write_pairs(tmp_path / "turns.jsonl", [two_turns]), tok, 100)
    with pytest.raises(ValueError, match="duplicate pair id"):
        load_pairs(write_pairs(tmp_path / "dup.jsonl", [pair(0), pair(0)]), tok, 100)
    rows, truncated = load_pairs(write_pairs(tmp_path / "ok.jsonl", [pair(0, q="Q?", c="A")]), tok, 100)
    assert rows == [
        {"prompt": training_prompt("Q?"), "chosen": "A" + tok.eos_token, "rejected": "y" + tok.eos_token}
    ]
    assert truncated == 0


def test_long_prompts_are_truncated_keeping_their_end_as_released(tiny_model_dir, tmp_path):
    tok = AutoTokenizer.from_pretrained(tiny_model_dir)
    question = " ".join(f"w{i}" for i in range(60)) + " final question?"
    path = write_pairs(tmp_path / "long.jsonl", [pair(0, q=question, c="yes " * 5), pair(1, q="Q?")])
    full = tok(training_prompt(question), add_special_tokens=False)["input_ids"]
    assert len(full) > 40
    # prompt + longer response within max_length: kept whole, even over max_prompt_length
    rows, truncated = load_pairs(path, tok, 20, max_length=len(full) + 10)
    assert truncated == 0 and rows[0]["prompt"] == training_prompt(question)
    # over max_length: the prompt's last 20 tokens, so the "### Response:" cue survives
    rows, truncated = load_pairs(path, tok, 20, max_length=len(full))
    assert truncated == 1 and rows[1]["prompt"] == training_prompt("Q?")
    assert rows[0]["prompt"] == tok.decode(full[-20:])
    assert rows[0]["prompt"].endswith("final question?\n\n### Response:\n")


def test_train_stage_writes_model_and_summary(tiny_model_dir, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", [pair(i, q, c, r) for i, (q, c, r) in enumerate(PAIRS)])
    params = {
        "beta": 0.1,
        "delta": 3.0,
        "learning_rate": 1e-3,
        "max_steps": 2,
        "per_device_train_batch_size": 2,
        "max_length": 128,
        "max_prompt_length": 64,
        "precompute_ref_logps": True,
        "diff_algorithm": "difflib",
        "methods": ["DPO-BMC"],
    }
    out = tmp_path / "model"
    args = dict(method="DPO-BMC", seed=0, model=str(tiny_model_dir), ref=None, pairs=pairs, out=str(out))
    run(argparse.Namespace(**args, params=json.dumps(params)))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["steps"] == 2 and summary["n_pairs"] == 3 and summary["n_empty_masks"] == 1
    assert summary["prompts_truncated"] == 0
    assert summary["mean_marked_tokens_per_pair"]["chosen"] > 0
    assert math.isfinite(summary["final_loss"]) and summary["final_reward_accuracy"] is not None
    assert (out / "model.safetensors").exists() and (out / "tokenizer.json").exists()
    assert not (tmp_path / "model.checkpoints").exists() and not (tmp_path / ".model.tmp").exists()
    trained = AutoModelForCausalLM.from_pretrained(out)
    initial = AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    assert any(not torch.equal(a, b) for a, b in zip(trained.parameters(), initial.parameters(), strict=True))


def test_a_checkpoint_saved_with_another_beta_is_not_resumed(tiny_model_dir, tmp_path, monkeypatch, caplog):
    from bmc.stages import train as train_module

    pairs = write_pairs(tmp_path / "pairs.jsonl", [pair(i, q, c, r) for i, (q, c, r) in enumerate(PAIRS)])
    params = {"beta": 0.1, "learning_rate": 1e-3, "max_steps": 1, "save_steps": 1, "max_length": 128}
    params |= {"per_device_train_batch_size": 2, "methods": ["DPO"]}
    out = tmp_path / "model"

    def train(**changes):
        args = dict(method="DPO", seed=0, model=str(tiny_model_dir), ref=None, pairs=pairs, out=str(out))
        run(argparse.Namespace(**args, world_size=None, params=json.dumps({**params, **changes})))
        return json.loads((out / "train_summary.json").read_text())

    def killed_before_saving(**changes):  # the run dies after its last checkpoint: the checkpoints stay
        with monkeypatch.context() as m:
            m.setattr(train_module, "save_final", lambda *a: (_ for _ in ()).throw(KeyboardInterrupt))
            with pytest.raises(KeyboardInterrupt):
                train(**changes)
        assert (tmp_path / "model.checkpoints" / "checkpoint-1").is_dir()

    killed_before_saving()
    with caplog.at_level("WARNING"):
        killed_before_saving(beta=0.2)
    assert "checkpoints made from other inputs (settings.beta: 0.1 -> 0.2); starting over" in caplog.text
    summary = train(beta=0.2, methods=["DPO", "IPO"])  # same inputs (the list of methods aside): resumed
    assert summary["resumed_from"].endswith("checkpoint-1")
