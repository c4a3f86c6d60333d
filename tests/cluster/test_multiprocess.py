"""SFT and preference training on 2 CPU processes (gloo) give the losses of 1 process at the same global
batch, with and without precomputed reference log-probs; outputs are written once; a job started on the
wrong number of processes stops at once."""

from __future__ import annotations

import json

import pytest

from .conftest import CPU_CONFIG, METHODS, STEPS, VARIANTS, launch

pytestmark = pytest.mark.cluster


def outputs(run, name):
    out, proc = run
    folder = out / name
    assert proc.returncode == 0 or folder.is_dir(), f"launch failed:\n{proc.stderr[-4000:]}"
    assert folder.is_dir(), f"{name} was not written:\n{proc.stderr[-4000:]}"
    return folder


def step_losses(folder):
    rows = [json.loads(line) for line in (folder / "token_dynamics.jsonl").read_text().splitlines()]
    return [r["loss"] for r in rows]


@pytest.mark.parametrize("variant", VARIANTS, ids=["on-the-fly", "precomputed", "padding-free"])
@pytest.mark.parametrize("method", METHODS)
def test_preference_loss_same_on_two_processes(multiprocess_runs, method, variant):
    name = f"{method}-{variant}"
    one, two = (outputs(multiprocess_runs[n], name) for n in (1, 2))
    losses_one, losses_two = step_losses(one), step_losses(two)
    assert len(losses_one) == len(losses_two) == STEPS
    assert losses_two == pytest.approx(losses_one, rel=1e-4, abs=1e-6)
    s1, s2 = (json.loads((f / "train_summary.json").read_text()) for f in (one, two))
    assert s2["train_loss"] == pytest.approx(s1["train_loss"], rel=1e-4)
    assert s2["n_pairs"] == s1["n_pairs"] == 8
    if variant == "pf":  # the padding-free run trains as the padded one
        padded = step_losses(outputs(multiprocess_runs[1], f"{method}-pre1"))
        assert losses_two == pytest.approx(padded, rel=1e-4, abs=1e-6)
        assert s2["padding_free"] is True and s2["attn_implementation"] == "sdpa_varlen"


def test_shared_reference_sums_same_on_two_processes(multiprocess_runs):
    """The reference_sums job gathers every pair's sums on 2 processes as on 1, and a run reading them
    trains as the run computing them."""
    one, two = (json.loads((multiprocess_runs[n][0] / "reference_sums.json").read_text()) for n in (1, 2))
    assert one["rows"] == two["rows"] == 8 and one["tokens_sha256"] == two["tokens_sha256"]
    assert two["chosen"] == pytest.approx(one["chosen"], rel=1e-5)
    assert two["rejected"] == pytest.approx(one["rejected"], rel=1e-5)
    for n in (1, 2):
        shared = step_losses(outputs(multiprocess_runs[n], "DPO-BMC-shared"))
        assert shared == pytest.approx(step_losses(outputs(multiprocess_runs[n], "DPO-BMC-pre1")), rel=1e-5)


def test_sft_loss_same_on_two_processes(multiprocess_runs):
    one, two = (
        json.loads((outputs(multiprocess_runs[n], "sft") / "sft_summary.json").read_text()) for n in (1, 2)
    )
    assert two["steps"] == one["steps"] == STEPS
    assert two["train_loss"] == pytest.approx(one["train_loss"], rel=1e-4)
    assert two["final_loss"] == pytest.approx(one["final_loss"], rel=1e-4)


def test_outputs_written_once_and_cleaned(multiprocess_runs):
    """Rank 0 alone writes the final folder: nothing half-written is left, and the saved weights are those
    of the 1-process run (the same updates, gathered once)."""
    from safetensors.torch import load_file

    out, proc = multiprocess_runs[2]
    assert proc.returncode == 0, proc.stderr[-4000:]
    names = {p.name for p in out.iterdir()}
    assert not [n for n in names if n.endswith((".tmp", ".checkpoints"))], names
    for name in ("sft", "DPO-BMC-shared", *(f"{m}-{v}" for m in METHODS for v in VARIANTS)):
        one, two = (load_file(multiprocess_runs[n][0] / name / "model.safetensors") for n in (1, 2))
        assert one.keys() == two.keys() and (multiprocess_runs[2][0] / name / "tokenizer.json").is_file()
        for key, weight in one.items():
            assert (weight - two[key]).abs().max().item() < 1e-5, f"{name}: {key} differs"


def test_launcher_fallback_to_one_process_fails_clearly(tmp_path, tiny_model_dir):
    """accelerate's MULTI_CPU type starts a single process without MPI: the job must stop, not train on 1."""
    config = tmp_path / "one.yaml"
    config.write_text(CPU_CONFIG.read_text().replace("MULTI_GPU", "MULTI_CPU"))
    args = ["-m", "bmc.cli", "train", "--method", "DPO", "--seed", "0", "--model", str(tiny_model_dir)]
    args += ["--pairs", str(tmp_path / "none.jsonl"), "--out", str(tmp_path / "m"), "--params", "{}"]
    proc = launch(2, args, tmp_path, config)
    assert proc.returncode != 0
    assert "this job expects 2 processes but runs on 1" in proc.stderr, proc.stderr[-3000:]
