"""Where and with what each rule runs: GPUs from the config's `gpus` section, everything else (CPUs, memory,
runtime, partitions, which rules run where Snakemake runs) from its `cluster` section; and the launcher of
the multi-process training stages. Read by the rules (workflow/rules/common.smk) and by `bmc.cost_plan`.

A rule with GPUs is submitted to `cluster.gpu_partition` on one node (`nodes: 1`); another submitted rule
goes to `cluster.cpu_partition`. Rules in `cluster.local` run where Snakemake runs (small CPU steps and
the downloads); a rule that needs the internet (`internet_rules`) must be local unless
`cluster.internet_partition` names a partition whose nodes reach it.
"""

from __future__ import annotations

from collections.abc import Callable

# rule -> its key in the `gpus` section
GPU_STAGES = {
    "sft": "sft",
    "train": "train",
    "sweep_train": "train",
    "sweep_score": "generate",
    "sample_losing": "generate",
    "generate_qa": "generate",
    "generate_math": "generate",
    "generate_if": "generate",
    "bridge": "bridge",
    "judge": "judge",
    "analysis": "analysis",
    "editor_server": "editor_server",
}
# rules whose task is fixed (no `task` wildcard)
RULE_TASKS = {"generate_qa": "qa", "generate_math": "math", "generate_if": "if"}
# rules that download (hub, PyPI, GitHub) whatever the config
DOWNLOAD_RULES = ("release", "base_model", "editor_model", "sft_given", "data_if", "given_pairs")
LOOPBACK = ("http://localhost", "http://127.0.0.1", "https://localhost", "https://127.0.0.1")


def gpus(config: dict, rule: str) -> int:
    """GPUs of one job of `rule` (0 for rules without a `gpus` entry)."""
    return int((config.get("gpus") or {}).get(GPU_STAGES.get(rule, rule), 0))


def remote_api(client: dict | None) -> bool:
    """Whether an editor or judge calls an API outside this machine."""
    if not client or client.get("kind") != "openai":
        return False
    return not str(client.get("base_url", "https://api.openai.com")).startswith(LOOPBACK)


def internet_rules(config: dict) -> list[str]:
    """Rules that need the internet under this config: the downloads, and bridging and judging with a
    remote API (any Table 4 editor or the judge)."""
    editors = [(config.get("bridge") or {}).get("editor"), *(config.get("table4_editors") or {}).values()]
    extra = ["bridge"] if any(remote_api(e) for e in editors) else []
    extra += ["judge"] if remote_api(config.get("judge")) else []
    return [*DOWNLOAD_RULES, *extra]


def local_rules(config: dict) -> list[str]:
    """Rules that run where Snakemake runs, not submitted to the cluster."""
    return list((config.get("cluster") or {}).get("local") or [])


def check(config: dict) -> None:
    """An internet rule submitted to nodes without internet, or a GPU rule run locally, fails here."""
    cluster = config.get("cluster")
    if not cluster:
        return
    local = set(local_rules(config))
    problems = [
        f"{r} needs the internet: list it in cluster.local or set cluster.internet_partition"
        for r in internet_rules(config)
        if r not in local and not cluster.get("internet_partition")
    ]
    problems += [f"{r} uses GPUs and cannot be in cluster.local" for r in sorted(local) if gpus(config, r)]
    if problems:
        raise ValueError("; ".join(problems))


def _rule_spec(config: dict, rule: str) -> dict:
    """The `cluster.rules` entry of a rule, else of its `gpus` stage (`generate`: every generation rule)."""
    rules = (config.get("cluster") or {}).get("rules") or {}
    return dict(rules.get(rule) or rules.get(GPU_STAGES.get(rule, rule)) or {})


def _per_task(config: dict, rule: str) -> dict:
    return _rule_spec(config, rule).get("tasks") or {}


def _spec(config: dict, rule: str, task: str | None) -> dict:
    rule_spec = _rule_spec(config, rule)
    per_task = rule_spec.pop("tasks", None) or {}
    return rule_spec | (per_task.get(task) or {})


def resources(config: dict, rule: str, task: str | None = None) -> dict:
    """Snakemake resources of one job (`task`: its task, for per-task runtimes and memory). What the
    config's `cluster.rules` does not give (CPUs, memory, runtime) comes from the profile's defaults."""
    n = gpus(config, rule)
    cluster = config.get("cluster")
    if not cluster:
        return {"gpu": n}
    spec = _spec(config, rule, task)
    names = {"cpus": "cpus_per_task", "mem_mb": "mem_mb", "runtime": "runtime"}
    out = {"gpu": n, **{names[k]: int(v) for k, v in spec.items() if k in names}}
    if n:
        out |= {"nodes": 1, "slurm_partition": cluster["gpu_partition"]}
    elif rule in internet_rules(config) and cluster.get("internet_partition"):
        out["slurm_partition"] = cluster["internet_partition"]
    elif cluster.get("cpu_partition"):
        out["slurm_partition"] = cluster["cpu_partition"]
    return out


def rule_resources(config: dict, rule: str) -> dict[str, int | str | Callable]:
    """`resources(config, rule)` for a rule's `resources:`; values that differ by task are functions of the
    job's wildcards (a rule without a `task` wildcard takes the rule's values)."""
    fixed = resources(config, rule)
    if not _per_task(config, rule):
        return fixed
    return {
        key: (
            lambda wc, key=key: resources(config, rule, getattr(wc, "task", None) or RULE_TASKS.get(rule))[
                key
            ]
        )
        for key in fixed
    }


def processes(config: dict, stage: str) -> int:
    """Processes of a training stage (`sft`, `train`): its GPUs, else `launch.cpu_processes` (default 1)."""
    n = gpus(config, stage)
    return n if n else int((config.get("launch") or {}).get("cpu_processes", 1))


def launcher(config: dict, stage: str) -> str:
    """The command prefix a training stage runs under, `python` for one process without GPUs."""
    n = processes(config, stage)
    accelerate_config = (config.get("launch") or {}).get("accelerate_config")
    if n == 1 and not gpus(config, stage):
        return "python"
    if not accelerate_config:
        raise ValueError(f"{stage} runs on {n} processes: set launch.accelerate_config")
    return f"python -m bmc.launch --processes {n} --accelerate-config {accelerate_config} --"
