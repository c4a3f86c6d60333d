# Shared wiring: the typed config, the plan of its runs (bmc/plan/runs.py, bmc/plan/analyses.py) and the `bmc`
# command every rule calls. Input functions here only turn a job's wildcards into the plan's arguments.
import json
import os
import shlex
import sys

sys.path.insert(0, workflow.basedir)
from bmc.config import check  # noqa: E402  (light imports: no torch)
from bmc.plan.cluster import check as check_cluster, launcher, local_rules  # noqa: E402
from bmc.plan.cluster import rule_resources, threads  # noqa: E402
from bmc.plan.runs import METHOD_PATTERN, VARIANT_PATTERN, Plan  # noqa: E402
import bmc.plan.analyses as analyses  # noqa: E402

# every setting typed and checked here, before any job runs (bmc/config.py; a bad key fails naming its path)
SETTINGS = check(config, [str(f) for f in workflow.config_settings.configfiles])
# GPUs, CPUs, memory, runtime and partition of each rule's jobs (config `gpus` and `cluster`, bmc/plan/cluster.py);
# small CPU steps and downloads run where Snakemake runs (`cluster.local`)
check_cluster(config)
workflow.localrules(*local_rules(config))

# every run of the config, its paths, and the members of each table, figure and the report
PLAN = Plan(SETTINGS, config)
R = PLAN.results
LOGS = PLAN.logs
BENCH = f"{R}/benchmarks"
TASKS = PLAN.tasks
DATASETS = PLAN.datasets
RESOURCES = PLAN.resources
SFT_MODEL = PLAN.sft_model("{task}")


def one_of(names):
    """A wildcard constraint matching exactly these names (none: a pattern that matches nothing)."""
    return "|".join(names) if names else "(?!)"


wildcard_constraints:
    task="|".join(TASKS),
    seed=r"\d+",
    method=METHOD_PATTERN,
    strategy=VARIANT_PATTERN,
    name=r"[A-Za-z0-9_-]+",


# Runs from the repository root with the package on the path, inside any environment (pip or conda), with the
# config's `job_env` exported (braces doubled for Snakemake's own formatting).
# BMC_RUN_OPTIONS: the options that name this run's config; every job records them beside its outputs, and
# `bmc status` repeats them in the command that remakes outputs of changed code or inputs (bmc.reporting.job_records)
FILES, OVERRIDES = (
    workflow.config_settings.configfiles,
    workflow.config_settings.config_args,
)
RUN_OPTIONS = (["--configfile", *map(str, FILES)] if FILES else []) + (
    ["--config", *OVERRIDES] if OVERRIDES else []
)
JOB_ENV = "".join(
    f"export {name}={shlex.quote(value)}; ".replace("{", "{{").replace("}", "}}")
    for name, value in {
        **(SETTINGS.job_env or {}),
        "BMC_RUN_OPTIONS": shlex.join(RUN_OPTIONS),
    }.items()
)
shell.prefix(
    # braces doubled twice: once for this f-string, once for Snakemake's own formatting
    f"set -euo pipefail; export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; {JOB_ENV}"
)


def job_threads(rule):
    """Threads of a model job (SFT, sampling, bridging, training, generation); Snakemake sets OMP_NUM_THREADS to
    it. The rule's CPUs on a cluster (`cluster.rules`), else `job_threads` (1 at smoke scale, where start-up
    dominates and two jobs run side by side), else all cores (bmc.plan.cluster.threads).
    """
    return threads(config, rule, workflow.resource_settings.cores)


def job_resources(rule):
    """A rule's `resources:` from the config (bmc.plan.cluster.rule_resources)."""
    return rule_resources(config, rule)


def as_json(section):
    """A config section as a shell-quoted JSON argument."""
    return shlex.quote(json.dumps(section))


def task_json(section):
    """Params function: the section's settings for the job's task, as a JSON argument."""
    return lambda wc: as_json(PLAN.task_settings(section, wc.task))


# ---- input functions: a job's wildcards -> the plan ----
def training_pairs(wc):
    return PLAN.training_pairs(wc.task, wc.method)


def editor_models_needed(wc):
    return PLAN.editor_models_needed(wc.strategy)


def judge_baseline(wc):
    return PLAN.judge_baseline(wc.dataset) or []


def analysis_inputs(wc):
    return analyses.analysis_inputs(PLAN, wc.name)


def sweep_pairs_inputs(wc):
    return analyses.sweep_pairs_inputs(PLAN, wc.task, wc.sweep, wc.point)


def sweep_train_pairs(wc):
    return analyses.sweep_train_pairs(PLAN, wc.task, wc.sweep, wc.point)


def sweep_train_params(wc):
    return as_json(analyses.sweep_train_settings(PLAN, wc.task, wc.sweep, wc.point))


def sweep_generations(wc, output):
    """The sweep model's answers to every test set."""
    return " ".join(f"{output}/generations/{d}.jsonl" for d in DATASETS[wc.task])


def sweep_evaluations(wc, output, release):
    """Grade each test set's answers as the evaluate rule does, `--release` included where it passes it (so the
    released rule is graded by the same code)."""
    label = f"{wc.sweep}={wc.point}"
    released = f" --release {release}" if release else ""
    return " && ".join(
        f"python -m bmc.cli evaluate --generations {output}/generations/{d}.jsonl --out {output}/{d}/scores.json"
        f" --model-name {label} --method {label} --seed {wc.seed} --task {wc.task} --dataset {d}{released}"
        for d in DATASETS[wc.task]
    )
