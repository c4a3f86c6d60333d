"""What each rule asks of a cluster (bmc.cluster), how training is launched (bmc.launch), the shipped
profile and accelerate configs, and the cost plan (bmc.cost_plan). Fast: no cluster needed."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import yaml

from bmc import cluster, cost_plan, launch

REPO = Path(__file__).resolve().parents[2]
PAPER = yaml.safe_load((REPO / "workflow/config/paper.yaml").read_text())


def test_gpu_rules_ask_for_gpus_on_one_node_of_the_gpu_partition():
    sft = cluster.resources(PAPER, "sft")
    assert sft == {"gpu": 4, "cpus_per_task": 32, "mem_mb": 128000, "runtime": 720, "nodes": 1} | {
        "slurm_partition": "gpu"
    }
    assert cluster.resources(PAPER, "generate_math", "math")["gpu"] == 1
    assert (
        cluster.resources(PAPER, "train", "if")["runtime"]
        > cluster.resources(PAPER, "train", "qa")["runtime"]
    )
    evaluate = cluster.resources(PAPER, "evaluate")
    assert evaluate == {"gpu": 0, "slurm_partition": "cpu"} and "evaluate" in cluster.local_rules(PAPER)


def test_per_task_resources_follow_the_job_wildcards():
    runtime = cluster.rule_resources(PAPER, "train")["runtime"]
    assert runtime(type("W", (), {"task": "if"})()) == 1200
    assert runtime(type("W", (), {"task": "qa"})()) == 360
    assert cluster.rule_resources(PAPER, "generate_if")["runtime"](object()) == 360


def test_internet_rules_must_run_where_the_internet_is():
    cluster.check(PAPER)
    assert {"bridge", "judge", "base_model", "release"} <= set(cluster.internet_rules(PAPER))
    config = json.loads(json.dumps(PAPER))
    config["cluster"]["local"].remove("bridge")
    with pytest.raises(ValueError, match="bridge needs the internet"):
        cluster.check(config)
    config["cluster"]["internet_partition"] = "online"
    cluster.check(config)
    assert cluster.resources(config, "bridge")["slurm_partition"] == "online"
    config["cluster"]["local"].append("train")
    with pytest.raises(ValueError, match="train uses GPUs"):
        cluster.check(config)


def test_launcher_counts_processes_from_the_gpus_section():
    assert cluster.launcher(PAPER, "train") == (
        "python -m bmc.launch --processes 4 --accelerate-config workflow/profiles/accelerate/zero3.yaml --"
    )
    assert cluster.launcher({"train": {}}, "train") == "python"
    cpu = {"launch": {"accelerate_config": "c.yaml", "cpu_processes": 2}}
    assert cluster.processes(cpu, "sft") == 2 and "--processes 2" in cluster.launcher(cpu, "sft")
    with pytest.raises(ValueError, match="launch.accelerate_config"):
        cluster.launcher({"gpus": {"train": 2}}, "train")


def test_launch_command_always_names_its_config_and_a_free_port(tmp_path):
    config = tmp_path / "a.yaml"
    config.write_text("distributed_type: MULTI_GPU\n")
    cmd = launch.command(4, str(config), ["-m", "bmc.cli", "train"])
    assert cmd[cmd.index("--config_file") + 1] == str(config)
    assert cmd[cmd.index("--num_processes") + 1] == "4"
    port = int(cmd[cmd.index("--main_process_port") + 1])
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))  # still free
    assert cmd[-3:] == ["--module", "bmc.cli", "train"]
    assert launch.command(1, None, ["x.py"])[1:] == ["x.py"]
    with pytest.raises(ValueError, match="need an accelerate config"):
        launch.command(2, None, ["x.py"])
    with pytest.raises(FileNotFoundError):
        launch.command(2, str(tmp_path / "missing.yaml"), ["x.py"])


def test_shipped_profile_and_accelerate_configs():
    profile = (REPO / "workflow/profiles/slurm/config.yaml").read_text()
    assert "gres" not in profile.lower() and "set-resources" not in profile
    from accelerate.commands.config.config_args import load_config_from_file

    zero3 = load_config_from_file(str(REPO / "workflow/profiles/accelerate/zero3.yaml"))
    assert zero3.distributed_type == "DEEPSPEED" and zero3.num_machines == 1
    assert (REPO / zero3.deepspeed_config["deepspeed_config_file"]).is_file()
    assert PAPER["train"]["deepspeed"] == zero3.deepspeed_config["deepspeed_config_file"]
    cpu = load_config_from_file(str(REPO / "workflow/profiles/accelerate/cpu.yaml"))
    assert cpu.distributed_type == "MULTI_GPU"  # torchrun; gloo without GPUs


DRY_RUN = """
rule train:
    output: results/paper/models/if/DPO-BMC/seed0
    wildcards: task=if, method=DPO-BMC, seed=0
    resources: tmpdir=/tmp, gpu=4, runtime=1200, nodes=1

localrule bridge:
    output: results/paper/bridged/qa/targeted/pairs.jsonl
    wildcards: task=qa, strategy=targeted

rule judge:
    wildcards: method=DPO, seed=0, dataset=arena_hard
"""


def test_cost_plan_from_stated_assumptions():
    jobs = cost_plan.parse_jobs(DRY_RUN)
    assert [j.rule for j in jobs] == ["train", "bridge", "judge"] and jobs[0].task == "if"
    lines, space = cost_plan.estimate(PAPER, jobs)
    plan, t = PAPER["plan"], PAPER["plan"]["tasks"]["if"]
    tokens = 2 * t["pairs"] * t["tokens"] * (1 + plan["reference_cost"])
    assert lines["train"].gpu_hours == pytest.approx(tokens / plan["train_tokens_per_gpu_s"] / 3600)
    assert lines["train"].requested_gpu_hours == 80
    assert lines["bridge"].calls == PAPER["plan"]["tasks"]["qa"]["pairs"]
    assert lines["judge"].calls == 1000 and lines["judge"].cost > 0
    assert space["peak"] == space["models"] + space["checkpoints"] > 0
    assert "**total**" in cost_plan.render(lines, space, PAPER)
