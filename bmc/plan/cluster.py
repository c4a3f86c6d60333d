"""Where and with what each rule runs: GPUs from the config's `gpus` section, everything else (CPUs, memory,
runtime, partitions, which rules run where Snakemake runs) from its `cluster` section; and the launcher of
the multi-process training stages. Read by the rules (workflow/rules/common.smk) and by `bmc.plan.cost`.

A rule with GPUs is submitted to `cluster.gpu_partition` on one node (`nodes: 1`); another submitted rule
goes to `cluster.cpu_partition`. Rules in `cluster.local` run where Snakemake runs (small CPU steps and
the downloads); a rule that needs the internet (`internet_rules`) must be local unless
`cluster.internet_partition` names a partition whose nodes reach it. An editor or judge with a `serve` section
starts its own server in its job (`bmc.llm.server`): that job asks for the server's GPUs (its tensor
parallelism), and the bridgings of served editors are a rule of their own, `bridge_served`, submitted to the
GPU partition while the other bridgings may run where Snakemake runs. A rule's threads follow its CPUs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable

from bmc.llm.server import is_loopback, served, server_gpus
from bmc.plan.runs import RELEASED, VARIANT_PATTERN, variant_editors, variants_of

# rule -> its key in the `gpus` section
GPU_STAGES = {
    "sft": "sft",
    "train": "train",
    "reference_sums": "train",  # one forward pass of the reference over the pairs, on the training GPUs
    "sweep_train": "train",
    "sweep_score": "generate",
    "sample_losing": "generate",
    "generate_qa": "generate",
    "generate_math": "generate",
    "generate_if": "generate",
    "bridge": "bridge",
    "bridge_served": "bridge",
    "judge": "judge",
    "analysis": "analysis",
}
# rules whose task is fixed (no `task` wildcard)
RULE_TASKS = {"generate_qa": "qa", "generate_math": "math", "generate_if": "if"}
# rules that download (hub, PyPI, GitHub) whatever the config
DOWNLOAD_RULES = (
    "release",
    "base_model",
    "editor_model",
    "sft_given",
    "data_if",
    "given_pairs",
    "similarity_model",
)


def served_clients(config: dict, rule: str) -> list[dict]:
    """The editors or the judge whose server runs in the jobs of `rule` (`serve`)."""
    clients = {"judge": [config.get("judge")], "bridge_served": list(variant_editors(config).values())}
    return [c for c in clients.get(rule, []) if served(c)]


def gpus(config: dict, rule: str) -> int:
    """GPUs of one job of `rule`: those of the server it starts (the largest, if several), else its stage's
    `gpus` entry (0 without one)."""
    need = max((server_gpus(c) for c in served_clients(config, rule)), default=0)
    return need or int((config.get("gpus") or {}).get(GPU_STAGES.get(rule, rule), 0))


def bridge_wildcards(config: dict) -> dict[str, str]:
    """The `strategy` wildcard patterns of the two bridging rules: `bridge_served` takes the bridged-pairs
    variants (`strategy`, `strategy+editor`) whose editor is served, `bridge` every other one; neither takes
    `released` (the authors' pairs, converted by `released_pairs`)."""
    served_ = variants_of([name for name, editor in variant_editors(config).items() if served(editor)])
    released = rf"(?!{RELEASED}\b)"
    return {"bridge_served": released + served_, "bridge": f"{released}(?!{served_}){VARIANT_PATTERN}"}


def remote_api(client: dict | None) -> bool:
    """Whether an editor or judge calls an API outside this machine."""
    if not client or client.get("kind") != "openai" or served(client):
        return False
    return not is_loopback(str(client.get("base_url", "https://api.openai.com")))


def internet_rules(config: dict) -> list[str]:
    """Rules that need the internet under this config: the downloads, and bridging and judging with a
    remote API (any Table 4 editor or the judge)."""
    extra = ["bridge"] if any(remote_api(e) for e in variant_editors(config).values()) else []
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


def _task(rule: str, wildcards) -> str | None:
    return getattr(wildcards, "task", None) or RULE_TASKS.get(rule)


def rule_resources(config: dict, rule: str) -> dict[str, int | str | Callable]:
    """`resources(config, rule)` for a rule's `resources:`; values that differ by task are functions of the
    job's wildcards (a rule without a `task` wildcard takes the rule's values)."""
    fixed = resources(config, rule)
    if not _per_task(config, rule):
        return fixed
    return {key: (lambda wc, key=key: resources(config, rule, _task(rule, wc))[key]) for key in fixed}


def threads(config: dict, rule: str, cores: int | None) -> int | Callable:
    """Threads of a job of `rule` (Snakemake hands them on as OMP_NUM_THREADS): its CPUs on the cluster
    (`cluster.rules`, per task a function of the job's wildcards) where given, else `job_threads`, else the
    cores Snakemake was given; 1 when it was given none (submitting to a cluster: the profile's default
    `cpus_per_task`)."""
    default = int(config.get("job_threads") or cores or 1)

    def of(task: str | None) -> int:
        return int(resources(config, rule, task).get("cpus_per_task") or default)

    return (lambda wc: of(_task(rule, wc))) if _per_task(config, rule) else of(None)


def unknown_rules(config: dict, rules: Iterable[str], profile: dict | None = None) -> list[str]:
    """Names in the config's `cluster` section (and a profile's per-rule settings) that are neither a rule
    nor a `gpus` stage: a misspelt name would silently lose its resources."""
    rules, stages = set(rules), set(GPU_STAGES.values())
    cluster = config.get("cluster") or {}
    named = [(f"gpus.{s}", s in stages) for s in config.get("gpus") or {}]
    named += [(f"cluster.local: {r}", r in rules) for r in cluster.get("local") or []]
    named += [(f"cluster.rules.{r}", r in rules | stages) for r in cluster.get("rules") or {}]
    for key in ("set-resources", "set-threads"):
        value = (profile or {}).get(key) or {}
        # a mapping by rule, or a list of "rule:resource=value" / "rule=threads" strings
        names = list(value) if isinstance(value, dict) else [re.split("[:=]", str(v))[0] for v in value]
        named += [(f"profile {key}: {r}", r in rules) for r in names]
    return [name for name, known in named if not known]


def check_rules(config: dict, rules: Iterable[str]) -> None:
    """`unknown_rules` of the config, as an error naming them (called once every rule is defined)."""
    unknown = unknown_rules(config, rules)
    if unknown:
        raise ValueError(f"not a rule (nor a `gpus` stage) of the workflow: {', '.join(unknown)}")


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
    return f"python -m bmc.training.launch --processes {n} --accelerate-config {accelerate_config} --"
