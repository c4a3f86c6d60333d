"""A smoke slice through the shipped SLURM profile on a real single-node SLURM with four fake GPUs: every
GPU rule is submitted with the GPUs, CPUs, memory, runtime and partition of the config (no GRES in
`slurm_extra`), multi-GPU jobs on one node, and the slice finishes."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bmc.plan.cluster import DOWNLOAD_RULES

from ..repo_copy import SKIP
from . import slurm

pytestmark = pytest.mark.cluster
REPO = Path(__file__).resolve().parents[2]


# the test cluster's partitions, GPUs per stage, and jobs small enough for the node
OVERLAY = {
    "tasks": ["qa"],
    "gpus": {"sft": 2, "train": 2, "generate": 1},
    "launch": {"accelerate_config": "workflow/profiles/accelerate/cpu.yaml"},
    "cluster": {
        "gpu_partition": "gpu",
        "cpu_partition": "cpu",
        "local": [*DOWNLOAD_RULES, "data_qa", "build_pairs"],
        "rules": {"sft": {"cpus": 2, "mem_mb": 3000, "runtime": 20}, "train": {"cpus": 2, "mem_mb": 3000}},
    },
}
# the shipped profile's settings a one-machine test changes: no conda, squeue for status, quick checks
PROFILE_OVERLAY = {
    "use-conda": False,
    "slurm-status-command": "squeue",
    "slurm-init-seconds-before-status-checks": 2,
    "latency-wait": 5,
    "jobs": 4,
}
TARGET = "results/smoke/generations/qa/DPO/seed0/ECQA.jsonl"
EXPECTED = {  # rule -> options its sbatch call must carry
    "sft": ["--gpus=2", "--nodes=1", "-p gpu", "--mem 3000", "-t 20", "--cpus-per-task=2"],
    "train": ["--gpus=2", "--nodes=1", "-p gpu", "--mem 3000", "-t 60", "--cpus-per-task=2"],
    # no `cluster.rules` entry: the profile's default-resources
    "sample_losing": ["--gpus=1", "--nodes=1", "-p gpu", "--mem 4000", "-t 60", "--cpus-per-task=1"],
    "generate_qa": ["--gpus=1", "--nodes=1", "-p gpu", "--mem 4000", "-t 60", "--cpus-per-task=1"],
}


@pytest.fixture(scope="module")
def slurm_cluster(request):
    reason = slurm.unavailable()
    if reason:
        pytest.skip(reason)
    # what this changes outside the test's folders, said before it does (as root only)
    request.config.pluginmanager.get_plugin("terminalreporter").write_line(
        f"\n{Path(__file__).name}: as root, installs Debian's {', '.join(slurm.PACKAGES)} with apt-get when missing,"
        f" writes {slurm.CONF}, {slurm.GRES} and a munge key when missing, keeps its state in {slurm.STATE},"
        " and starts the SLURM daemons (stopped afterwards)"
    )
    pids = slurm.start()
    yield
    slurm.stop(pids)


def sbatch_calls(log: str) -> dict[str, str]:
    """rule -> the sbatch command line the plugin ran for it (from `--verbose` output)."""
    calls = {}
    for call in re.findall(r"sbatch call: (.*)", log):
        rule = re.search(r"--comment '?rule_([a-z_]+?)(_wildcards|'|\s|$)", call)
        calls[rule.group(1) if rule else call] = call
    return calls


@pytest.fixture(scope="module")
def slurm_run(slurm_cluster, tmp_path_factory):
    work = tmp_path_factory.mktemp("slurm") / "repo"
    shutil.copytree(REPO, work, ignore=SKIP)
    (work / "overlay.yaml").write_text(yaml.safe_dump(OVERLAY))
    profile = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text()) | PROFILE_OVERLAY
    (work / "profile").mkdir()
    (work / "profile" / "config.yaml").write_text(yaml.safe_dump(profile))
    cmd = [sys.executable, "-m", "snakemake", "--profile", "profile", "--verbose"]
    cmd += ["--configfile", "workflow/config/smoke.yaml", "overlay.yaml", "--", TARGET]
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env, timeout=900)
    return work, proc


def test_slice_finishes_on_slurm(slurm_run):
    work, proc = slurm_run
    if proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-2000:]}" for p in sorted((work / "logs").rglob("*.log")))
        slurm_logs = "\n".join(
            p.read_text()[-2000:] for p in (work / ".snakemake").rglob("slurm_logs/**/*.log")
        )
        pytest.fail(f"{proc.stderr[-5000:]}\n{logs}\n{slurm_logs}")
    assert (work / TARGET).stat().st_size > 0


def test_every_gpu_rule_got_its_sbatch_options(slurm_run):
    calls = sbatch_calls(slurm_run[1].stderr)
    for rule, options in EXPECTED.items():
        assert rule in calls, f"{rule} was not submitted; submitted: {sorted(calls)}"
        for option in options:
            assert re.search(rf"(^|\s){re.escape(option)}(\s|$)", calls[rule]), (
                f"{rule}: {option} not in {calls[rule]}"
            )
        assert "--gres" not in calls[rule]
    # local rules never reach the cluster
    assert not {"data_qa", "base_model", "build_pairs"} & set(calls)


def test_two_gpu_training_ran_on_two_processes(slurm_run):
    """`gpus.train: 2` starts two processes (each checks the count at start and logs its end)."""
    log = (slurm_run[0] / "logs/smoke/train/qa/DPO/seed0.log").read_text()
    assert log.count("trained DPO seed 0") == 2, log[-3000:]
