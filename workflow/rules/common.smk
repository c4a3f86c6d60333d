# Shared helpers: config validation, paths, and the `bmc` command every rule calls.
import json
import os
import shlex
import sys

from snakemake.utils import validate

sys.path.insert(0, workflow.basedir)
from bmc.alignment.methods import (
    uses_bridged_data,
)  # noqa: E402  (light import: no torch)

validate(config, "../config/schema.yaml")

SCALE = config["scale"]
R = f"results/{SCALE}"
LOGS = f"logs/{SCALE}"
BENCH = f"{R}/benchmarks"
SEEDS = [str(s) for s in config["seeds"]]
QA_SETS = config["data"]["qa"]["datasets"]
METHODS = config["train"]["methods"]
STRATEGY = config["bridge"]["strategy"]
RESOURCES = config.get("resources", "workflow/resources")

# Runs from the repository root with the package on the path, inside any environment (pip or conda).
shell.prefix(
    # braces doubled twice: once for this f-string, once for Snakemake's own formatting
    f"set -euo pipefail; export PYTHONPATH={workflow.basedir}${{{{PYTHONPATH:+:$PYTHONPATH}}}}; "
)
# Training stages may run under a multi-GPU launcher, e.g. "accelerate launch --num_processes 4".
TRAIN_LAUNCHER = config.get("train_launcher", "python")


def as_json(section):
    """A config section as a shell-quoted JSON argument."""
    return shlex.quote(json.dumps(section))


def model_dir(method, seed):
    """The model folder a (method, seed) row is evaluated from; SFT is trained once."""
    if method == "SFT":
        return f"{R}/models/sft_qa"
    return f"{R}/models/qa/{method}/seed{seed}"


def eval_runs():
    """(method, seed) pairs that get evaluated: SFT once, each preference method per seed."""
    return [("SFT", SEEDS[0])] + [(m, s) for m in METHODS for s in SEEDS]


def qa_scores():
    return [
        f"{R}/scores/qa/{m}/seed{s}/{d}/scores.json"
        for m, s in eval_runs()
        for d in QA_SETS
    ]


def training_pairs(wildcards):
    """Bridged pairs for -BC/-BMC methods, the original pairs otherwise."""
    if uses_bridged_data(wildcards.method):
        return f"{R}/bridged/qa/{STRATEGY}/pairs.jsonl"
    return f"{R}/pairs/qa/pairs.jsonl"


def variant_pairs():
    """Objectives trained both without and with BMC (Table 5 rows), e.g. IPO and IPO-BMC."""
    return [m for m in METHODS if f"{m}-BMC" in METHODS]


def tables():
    names = ["table1_qa"] + (["table5_qa"] if variant_pairs() else [])
    return [f"{R}/tables/{name}.{ext}" for name in names for ext in ("csv", "md")]


def final_outputs():
    return tables() + [f"{R}/report/index.md", f"{R}/report/index.html"]
