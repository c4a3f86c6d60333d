"""Every job of every shipped config reads its `--params` into its stage's typed settings: the JSON the rules
pass (bmc.plan.runs) is what the stages accept, with nothing left to a stage's own defaults."""

import json
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from bmc.config import (
    Bridge,
    GenerationJob,
    IFData,
    Judge,
    MathData,
    ModelSection,
    QAData,
    Release,
    SftJob,
    TrainJob,
    check,
    job_settings,
)
from bmc.plan.runs import Plan

CONFIGS = Path(__file__).resolve().parents[2] / "workflow" / "config"
SHIPPED = [
    ("smoke.yaml",),
    ("mini.yaml",),
    ("paper.yaml",),
    ("mini.yaml", "all_methods.yaml", "table3.yaml", "mini_table4.yaml"),
    ("paper.yaml", "paper_mistral.yaml"),
]
DATA = {"qa": QAData, "math": MathData, "if": IFData}
TASK_SECTIONS = {"sft": SftJob, "sample": GenerationJob, "train": TrainJob, "eval": GenerationJob}


def plan_of(names) -> Plan:
    config = {}
    for name in names:
        update_config(config, yaml.safe_load((CONFIGS / name).read_text()))
    return Plan(check(config), config)


def read(model, params: dict, section: str):
    """What the stage reads from the JSON its rule passes (`as_json` in workflow/rules/common.smk)."""
    return job_settings(model, json.dumps(params), section)


@pytest.mark.parametrize("names", SHIPPED, ids=lambda names: "+".join(names))
def test_every_job_reads_its_params_into_its_typed_settings(names):
    plan = plan_of(names)
    config = plan.config
    read(Release, config.get("release") or {}, "release")
    for task in plan.tasks:
        data = read(DATA[task], config["data"][task], f"data.{task}")
        assert data.datasets == plan.datasets[task]
        for section, model in TASK_SECTIONS.items():
            params = plan.task_settings(section, task)
            settings = read(model, params, section)
            # what the stage passes on (trainer fields, fingerprints) is the JSON as the rule gave it
            assert settings.model_dump(exclude_unset=True) == params
            assert settings.prompt_format == (config.get("prompt_formats") or {}).get(task, "paper")
    # the editor's and the judge's options as given: their identity keys the response caches
    for variant in {v for t in plan.tasks for v in plan.bridged_variants(t)}:
        if variant.startswith("released"):
            continue  # the authors' pairs: converted, not bridged
        params = plan.bridge_settings(variant)
        assert read(Bridge, params, "bridge").model_dump(exclude_unset=True) == params
    if plan.config.get("judge") and "if" in plan.tasks:
        assert read(Judge, config["judge"], "judge").model_dump(exclude_unset=True) == config["judge"]
    models = [config["model"], *plan.given_sft_models.values(), *plan.editor_models.values()]
    for model in models:
        read(ModelSection, model, "model")
