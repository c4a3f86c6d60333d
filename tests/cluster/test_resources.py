"""What each rule asks of a cluster (bmc.plan.cluster), how training is launched (bmc.training.launch), the shipped
profile and accelerate configs (the cost plan: tests/test_cost_plan.py). Fast: no cluster needed."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bmc.plan import cluster
from bmc.training import launch

REPO = Path(__file__).resolve().parents[2]
PAPER = yaml.safe_load((REPO / "workflow/config/paper.yaml").read_text())
PROFILE = yaml.safe_load((REPO / "workflow/profiles/slurm/config.yaml").read_text())
# every rule of the workflow: `rule x:`, `localrule x:` and `use rule y as x`
RULES = {
    m[0] or m[1]
    for smk in [REPO / "Snakefile", *(REPO / "workflow/rules").glob("*.smk")]
    for m in re.findall(r"^(?:local)?rule (\w+):|^use rule \w+ as (\w+)", smk.read_text(), flags=re.M)
}
SERVED = {"tensor_parallel_size": 2}


def with_served(config: dict, editor: str | None = None, judge: bool = False) -> dict:
    """A copy of `config` whose Table 4 `editor` (`""`: bridge.editor) or judge is served."""
    config = json.loads(json.dumps(config))
    client = {"kind": "openai", "model": "m", "serve": SERVED}
    if editor == "":
        config["bridge"]["editor"] = client
    elif editor:
        config["table4_editors"][editor] = client
    if judge:
        config["judge"] = {**config["judge"], **client}
        del config["judge"]["base_url"]
    return config


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
    assert {"bridge", "judge", "base_model", "release", "similarity_model"} <= set(
        cluster.internet_rules(PAPER)
    )
    for rule in ("similarity_model", "bridge"):
        config = json.loads(json.dumps(PAPER))
        config["cluster"]["local"].remove(rule)
        with pytest.raises(ValueError, match=f"{rule} needs the internet"):
            cluster.check(config)
    config["cluster"]["internet_partition"] = "online"
    cluster.check(config)
    assert cluster.resources(config, "bridge")["slurm_partition"] == "online"
    config["cluster"]["local"].append("train")
    with pytest.raises(ValueError, match="train uses GPUs"):
        cluster.check(config)


def test_launcher_counts_processes_from_the_gpus_section():
    assert cluster.launcher(PAPER, "train") == (
        "python -m bmc.training.launch --processes 4 --accelerate-config workflow/profiles/accelerate/zero3.yaml --"
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


def test_cluster_names_of_every_shipped_config_and_the_profile_are_rules():
    assert {"sft", "bridge", "bridge_served", "generate_math", "all"} <= RULES
    for path in sorted((REPO / "workflow/config").glob("*.yaml")):
        assert cluster.unknown_rules(yaml.safe_load(path.read_text()), RULES, PROFILE) == [], path.name
    typos = {
        "gpus": {"trian": 4},
        "cluster": {"local": ["evalute"], "rules": {"sft": {}, "sfft": {}, "generate": {}}},
    }
    profile = {"set-resources": ["bridge:mem_mb=10", "brdige:runtime=5"], "set-threads": {"tarin": 2}}
    assert cluster.unknown_rules(typos, RULES, profile) == [
        "gpus.trian",
        "cluster.local: evalute",
        "cluster.rules.sfft",
        "profile set-resources: brdige",
        "profile set-threads: tarin",
    ]
    with pytest.raises(ValueError, match="not a rule .*cluster.rules.sfft"):
        cluster.check_rules(typos, RULES)


def test_the_snakefile_refuses_a_misspelt_cluster_rule(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("cluster: {gpu_partition: gpu, internet_partition: gpu, rules: {sfft: {cpus: 2}}}\n")
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "-n",
        "--configfile",
        "workflow/config/smoke.yaml",
        str(overlay),
    ]
    result = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert (
        result.returncode != 0
        and "not a rule (nor a `gpus` stage) of the workflow: cluster.rules.sfft"
        in (result.stdout + result.stderr)
    )


def test_threads_follow_the_cpus_a_job_asks_for():
    wildcards = type("W", (), {"task": "if"})()
    assert cluster.threads(PAPER, "sft", None) == 32
    assert cluster.threads(PAPER, "train", None)(wildcards) == 32  # per-task runtimes: a function
    assert cluster.threads(PAPER, "bridge_served", None)(wildcards) == 16
    assert cluster.threads(PAPER, "generate_if", None)(object()) == 8  # the `generate` stage's, task fixed
    # no CPUs given: `job_threads`, else the cores Snakemake has, else (submitting) the profile's default, 1
    assert (
        cluster.threads(PAPER, "evaluate", 6) == 6
        and cluster.threads({**PAPER, "job_threads": 3}, "judge", 6) == 3
    )
    assert cluster.threads(PAPER, "judge", None) == PROFILE["default-resources"]["cpus_per_task"] == 1
    assert cluster.threads({"job_threads": 1}, "sft", 8) == 1 and cluster.threads({}, "sft", 8) == 8
    for rule in RULES - {"all"}:
        for task in ("qa", "math", "if"):
            asked = cluster.resources(PAPER, rule, task).get("cpus_per_task", 1)
            found = cluster.threads(PAPER, rule, None)
            assert (found(type("W", (), {"task": task})()) if callable(found) else found) == asked, rule


def test_a_served_editor_bridges_on_the_gpus_of_its_server():
    """Table 4's Llama-3-70B-Instruct as shipped: its bridgings are the GPU rule `bridge_served`, GPT-4's stay
    local; a served judge asks for its GPUs and cannot be local."""
    editor = PAPER["table4_editors"]["Llama-3-70B-Instruct"]
    assert editor["serve"]["tensor_parallel_size"] == 4 and "base_url" not in editor
    served = cluster.resources(PAPER, "bridge_served", "qa")
    assert served | {"runtime": 0} == {
        "gpu": 4,
        "nodes": 1,
        "slurm_partition": "gpu",
        "cpus_per_task": 16,
    } | {
        "mem_mb": 128000,
        "runtime": 0,
    }
    assert cluster.resources(PAPER, "bridge")["gpu"] == 0 and "bridge" in cluster.local_rules(PAPER)
    cluster.check(PAPER)
    judged = with_served(PAPER, judge=True)
    assert cluster.resources(judged, "judge")["gpu"] == 2 and "judge" not in cluster.internet_rules(judged)
    with pytest.raises(ValueError, match="judge uses GPUs"):
        cluster.check(judged)


LLAMA = {"targeted+Llama-3-70B-Instruct", "inverse+Llama-3-70B-Instruct"}
EVERY_STRATEGY = {"targeted", "inverse", "free", "released_x"}


@pytest.mark.parametrize(
    "served_editor, served_variants",
    # the shipped Llama-3-70B-Instruct; bridge.editor too (every variant without "+"); none
    [("Llama-3-70B-Instruct", LLAMA), ("", EVERY_STRATEGY | LLAMA), (None, set())],
)
def test_each_bridging_goes_to_exactly_one_rule(served_editor, served_variants):
    config = with_served(PAPER, served_editor)
    if served_editor is None:
        del config["table4_editors"]["Llama-3-70B-Instruct"]["serve"]
    patterns = {
        rule: re.compile(rf"(?P<s>{p})/pairs\.jsonl$") for rule, p in cluster.bridge_wildcards(config).items()
    }
    variants = [
        *EVERY_STRATEGY,
        *LLAMA,
        "released",
        "targeted+gpt-4-0125-preview",
        "targeted+Llama-3-70B-Instruct2",
    ]
    for variant in variants:
        rules = [rule for rule, p in patterns.items() if p.fullmatch(f"{variant}/pairs.jsonl")]
        expected = (
            [] if variant == "released" else ["bridge_served" if variant in served_variants else "bridge"]
        )
        assert rules == expected, variant
