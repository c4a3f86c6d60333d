"""Shared setup of the `cluster` tests: tiny data and the multi-process training runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bmc.alignment.reference import reference_settings

REPO = Path(__file__).resolve().parents[2]
CPU_CONFIG = REPO / "workflow" / "profiles" / "accelerate" / "cpu.yaml"
METHODS = ("DPO", "DPO-BMC", "IPO-BMC")
GLOBAL_BATCH = 4
STEPS = 2
VARIANTS = ("pre0", "pre1", "pf")  # a live reference, precomputed sums, precomputed and padding-free


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def tiny_data(root: Path) -> tuple[Path, Path]:
    """(sft.jsonl, pairs.jsonl): 8 examples and 8 pairs whose answers differ in a few words."""
    things = ["sky", "sea", "tree", "stone", "river", "cloud", "field", "hill"]
    sft, pairs = [], []
    for i, thing in enumerate(things):
        question = f"Where is the {thing}?\nOptions:\nnear\nfar"
        good = f"The {thing} is near the house.\nThe answer is near"
        bad = f"The {thing} is far from any house.\nThe answer is far"
        sft.append(
            {
                "id": f"s{i}",
                "messages": [{"role": "user", "content": question}, {"role": "assistant", "content": good}],
            }
        )
        pairs.append(
            {
                "id": f"p{i}",
                "prompt": [{"role": "user", "content": question}],
                "chosen": good,
                "rejected": bad,
            }
        )
    return write_jsonl(root / "sft.jsonl", sft), write_jsonl(root / "pairs.jsonl", pairs)


def jobs(model: Path, sft: Path, pairs: Path, out: Path, processes: int) -> list[list[str]]:
    """SFT, then each method without and with precomputed reference log-probs and padding-free (with the
    per-sequence SDPA), at one global batch; and the reference sums of DPO-BMC's weighting, with a DPO-BMC run
    reading them."""
    common = {"learning_rate": 1e-3, "max_steps": STEPS, "max_length": 128, "seed": 0, "logging_steps": 1}
    common |= {"per_device_train_batch_size": GLOBAL_BATCH // processes, "gradient_accumulation_steps": 1}
    runs = [["sft", "--model", str(model), "--data", str(sft), "--out", str(out / "sft")]]
    runs[0] += ["--params", json.dumps(common)]
    packed = {"padding_free": True, "attn_implementation": "sdpa_varlen"}
    for name, changes in (("pre0", {"precompute_ref_logps": False}), ("pre1", {}), ("pf", packed)):
        for method in METHODS:
            params = {**common, "beta": 0.1, "delta": 3.0, "precompute_ref_logps": True, **changes}
            runs.append(
                ["train", "--method", method, "--seed", "0", "--model", str(model), "--pairs", str(pairs)]
                + ["--out", str(out / f"{method}-{name}"), "--params", json.dumps(params)]
            )
    train = {**common, "beta": 0.1, "delta": 3.0}
    sums = out / "reference_sums.json"
    settings = reference_settings("DPO-BMC", train)
    runs.append(["reference_sums", "--model", str(model), "--pairs", str(pairs), "--out", str(sums)])
    runs[-1] += ["--params", json.dumps(settings)]
    runs.append(
        ["train", "--method", "DPO-BMC", "--seed", "0", "--model", str(model), "--pairs", str(pairs)]
        + ["--out", str(out / "DPO-BMC-shared"), "--params", json.dumps(train), "--ref-sums", str(sums)]
    )
    return runs


def launch(
    processes: int, args: list[str], cwd: Path, config: Path | None = CPU_CONFIG
) -> subprocess.CompletedProcess:
    """`python -m bmc.training.launch` on `processes` CPU processes, as the rules launch training (no config file:
    plain `python`, one process)."""
    cmd = [sys.executable, "-m", "bmc.training.launch", "--processes", str(processes)]
    cmd += [*(["--accelerate-config", str(config)] if config else []), "--", *args]
    env = {
        k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "PYTHONPATH", "VIRTUAL_ENV", "TMPDIR")
    }
    env |= {"OMP_NUM_THREADS": "1", "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="session")
def multiprocess_runs(
    tiny_model_dir, tmp_path_factory
) -> dict[int, tuple[Path, subprocess.CompletedProcess]]:
    """Every job of `jobs` on 1 process (plain python) and on 2 processes (accelerate launch):
    {processes: (output folder, completed launch)}."""
    root = tmp_path_factory.mktemp("multiprocess")
    sft, pairs = tiny_data(root)
    results = {}
    for n in (1, 2):
        out = root / f"np{n}"
        out.mkdir()
        spec = write_jsonl(out / "jobs.json", [])
        spec.write_text(json.dumps(jobs(tiny_model_dir, sft, pairs, out, n)), encoding="utf-8")
        script = [str(REPO / "tests" / "cluster" / "run_jobs.py"), str(spec)]
        results[n] = (out, launch(n, script, out, CPU_CONFIG if n > 1 else None))
    return results
