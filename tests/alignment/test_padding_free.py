"""Padding-free batches (bmc/alignment/packing.py) give every method the padded batch's loss, gradients, metrics
and token dynamics, under transformers' SDPA (sequences kept apart by their restarting position ids) and the
suite's per-sequence SDPA; without the position restart they do not."""

import argparse
import json

import pytest
import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from transformers.modeling_flash_attention_utils import prepare_fa_kwargs_from_position_ids

from bmc.alignment.methods import METHODS
from bmc.alignment.trainer import TOKEN_DYNAMICS_PREFIX, BMCConfig, BMCTrainer
from bmc.models import attention  # noqa: F401  (registers sdpa_varlen)
from bmc.stages.train import run

from .test_trainer import PAIRS, ROWS, pair, perturb, write_pairs

KERNELS = ("sdpa", "sdpa_varlen")


def make(path, tmp_path, method, padding_free, kernel):
    def load():
        return AutoModelForCausalLM.from_pretrained(path, dtype=torch.float64, attn_implementation=kernel)

    args = BMCConfig(
        output_dir=str(tmp_path / f"{method}-{padding_free}"),
        per_device_train_batch_size=3,
        report_to="none",
        use_cpu=True,
        max_length=128,
        beta=0.1,
        method=method,
        padding_free=padding_free,
    )
    trainer = BMCTrainer(
        model=load(),
        ref_model=load(),
        args=args,
        processing_class=AutoTokenizer.from_pretrained(path),
        train_dataset=Dataset.from_list(ROWS),
    )
    trainer.model.train()  # metrics and token dynamics are logged in training mode
    return trainer


def batch_of(trainer):
    return trainer.data_collator([trainer.train_dataset[i] for i in range(len(ROWS))])


def step(trainer, batch=None):
    """(loss, gradients, logged metrics) of one step on the whole data."""
    trainer.model.zero_grad()
    trainer._metrics["train"].clear()
    loss = trainer.compute_loss(trainer.model, batch_of(trainer) if batch is None else batch)
    loss.backward()
    grads = [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]
    return loss.item(), grads, {k: v[-1] for k, v in trainer._metrics["train"].items()}


@pytest.mark.parametrize("kernel", KERNELS)
@pytest.mark.parametrize("method", sorted(METHODS))
def test_padding_free_equals_padded(tiny_model_dir, tmp_path, method, kernel):
    padded = make(tiny_model_dir, tmp_path, method, False, kernel)
    packed = make(tiny_model_dir, tmp_path, method, True, kernel)
    perturb(padded.model, packed.model)
    assert batch_of(packed)["input_ids"].shape[0] == 1
    (l1, g1, m1), (l2, g2, m2) = step(padded), step(packed)
    assert abs(l1 - l2) <= 1e-6 * max(1.0, abs(l1))
    assert len(g1) == len(g2) > 0
    for a, b in zip(g1, g2, strict=True):
        assert (a - b).norm() <= 1e-5 * a.norm() + 1e-12
    assert m1.keys() == m2.keys() and any(k.startswith(TOKEN_DYNAMICS_PREFIX) for k in m1)
    for key, value in m1.items():  # rewards, margins, accuracies, log-probs and token dynamics
        assert m2[key] == pytest.approx(value, rel=1e-5, abs=1e-6), key


@pytest.mark.parametrize("kernel", KERNELS)
def test_without_the_position_restart_the_sums_differ(tiny_model_dir, tmp_path, kernel):
    """The negative control: the same packed row scored with positions running on (no restart, no sequence
    boundaries) lets each sequence attend to the ones before it, and the sums are no longer the padded ones."""
    trainer = make(tiny_model_dir, tmp_path, "DPO-BMC", True, kernel)
    perturb(trainer.model)
    batch = batch_of(trainer)
    exact = trainer.sequence_logps(trainer.model, batch, grad=False)
    padded = make(tiny_model_dir, tmp_path, "DPO-BMC", False, kernel)
    perturb(padded.model)
    reference = padded.sequence_logps(padded.model, batch_of(padded), grad=False)
    assert torch.allclose(exact.weighted, reference.weighted, rtol=1e-6)
    control = dict(batch, position_ids=torch.arange(batch["input_ids"].shape[1]).unsqueeze(0))
    control["cu_seq_lens_q"] = control["cu_seq_lens_k"] = None
    broken = trainer.sequence_logps(trainer.model, control, grad=False)
    assert (broken.weighted - reference.weighted).abs().max() > 0.05


def test_packed_batch_layout(tiny_model_dir, tmp_path):
    """One row holding each sequence unpadded, chosen then rejected as in the padded batch, positions restarting
    at each, the boundaries FlashAttention derives from those positions, and no sequence's first token scored."""
    trainer = make(tiny_model_dir, tmp_path, "DPO-BMC", True, "sdpa_varlen")
    examples = [trainer.train_dataset[i] for i in range(len(ROWS))]
    packed = trainer.data_collator(examples)
    trainer.data_collator.padding_free = False
    padded = trainer.data_collator(examples)
    lengths = padded["attention_mask"].sum(dim=1).tolist()
    rows = [padded[k][i, :n] for i, n in enumerate(lengths) for k in ("input_ids",)]
    assert torch.equal(packed["input_ids"][0], torch.cat(rows))
    for key in ("completion_mask", "diff_mask"):
        assert torch.equal(packed[key][0], torch.cat([padded[key][i, :n] for i, n in enumerate(lengths)])), (
            key
        )
    assert packed["completion_mask"][0, packed["cu_seq_lens_q"][:-1].long()].eq(0).all()
    assert torch.equal(packed["position_ids"][0], torch.cat([torch.arange(n) for n in lengths]))
    assert torch.equal(
        packed["row_index"][0], torch.cat([torch.full((n,), i) for i, n in enumerate(lengths)])
    )
    (cu_q, cu_k), (max_q, max_k) = prepare_fa_kwargs_from_position_ids(packed["position_ids"])
    assert torch.equal(packed["cu_seq_lens_q"], cu_q) and torch.equal(packed["cu_seq_lens_k"], cu_k)
    assert packed["max_length_q"] == packed["max_length_k"] == int(max_q) == max(lengths)
    assert "attention_mask" not in packed


def test_padding_free_refuses_padding_to_a_multiple(tmp_path):
    with pytest.raises(ValueError, match="padding_free leaves nothing to pad"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, padding_free=True, pad_to_multiple_of=8)


def test_train_stage_records_the_kernel_and_padding_free(tiny_model_dir, tmp_path):
    pairs = write_pairs(tmp_path / "pairs.jsonl", [pair(i, q, c, r) for i, (q, c, r) in enumerate(PAIRS)])
    params = {"beta": 0.1, "learning_rate": 1e-3, "max_steps": 2, "per_device_train_batch_size": 2}
    params |= {"max_length": 128, "padding_free": True, "attn_implementation": "sdpa_varlen"}
    out = tmp_path / "model"
    args = dict(method="TDPO", seed=0, model=str(tiny_model_dir), ref=None, pairs=pairs, out=str(out))
    run(argparse.Namespace(**args, params=json.dumps(params)))
    summary = json.loads((out / "train_summary.json").read_text())
    assert summary["attn_implementation"] == "sdpa_varlen" and summary["padding_free"] is True
    assert summary["steps"] == 2 and summary["final_loss"] is not None
    # the kernel is a loading choice, not a property of the saved model
    assert "attn_implementation" not in json.loads((out / "config.json").read_text())


def test_flash_attention_without_cuda_fails_naming_the_fix():
    if torch.cuda.is_available():
        pytest.skip("a CUDA machine may run FlashAttention")
    with pytest.raises(RuntimeError, match="on a CPU set attn_implementation: sdpa_varlen"):
        attention.check_available("flash_attention_2")


def test_liger_without_its_package_fails_before_the_models_load(tiny_model_dir, tmp_path):
    from transformers.utils import is_liger_kernel_available

    from bmc.alignment.training import build_trainer
    from bmc.config import TrainJob, job_settings

    if is_liger_kernel_available():
        pytest.skip("liger-kernel is installed here")
    settings = job_settings(TrainJob, json.dumps({"use_liger_kernel": True, "max_length": 128}), "train")
    with pytest.raises(RuntimeError, match="train.use_liger_kernel needs the liger-kernel package"):
        build_trainer("DPO", 0, str(tiny_model_dir), None, ROWS, settings, tmp_path)
