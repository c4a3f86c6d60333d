"""Rule `analysis`: one of the paper's quantitative analyses: a figure, its data and our summary beside the
paper's.

`bmc.analysis.<name>` → results/<run>/figures/<name>.{png,pdf,csv,json}.

Inputs are named `key=path` (a key given several times is a list); each analysis module exposes
`analyse(inputs, settings: bmc.config.AnalysisJob) -> Analysis` and a `TITLE`.
"""

from __future__ import annotations

import argparse
import importlib

import yaml

from bmc.analysis import ANALYSES
from bmc.analysis.common import parse_inputs, save
from bmc.config import AnalysisJob, job_settings


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--name", required=True, choices=ANALYSES)
    p.add_argument("--inputs", nargs="+", required=True, help="key=path, a key repeated for a list")
    p.add_argument(
        "--params", default="{}", help="JSON: the `analysis` section and per task its training settings"
    )
    p.add_argument("--paper-values", required=True, help="paper_values.yaml")
    p.add_argument("--label", required=True, help="the scale's label, printed on the figure")
    p.add_argument("--out", required=True, help="output prefix: results/<scale>/figures/<name>")


def run(args: argparse.Namespace) -> None:
    module = importlib.import_module(f"bmc.analysis.{args.name}")
    settings = job_settings(AnalysisJob, args.params, "analysis")
    analysis = module.analyse(parse_inputs(args.inputs), settings)
    with open(args.paper_values, encoding="utf-8") as f:
        paper = yaml.safe_load(f).get(args.name)
    save(args.out, analysis, args.name, module.TITLE, args.label, paper)
