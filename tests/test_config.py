"""Typed config: every scale and overlay parses; each kind of mistake fails naming the key's full path."""

import dataclasses
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from bmc.config import (
    Config,
    ConfigError,
    Generation,
    GenerationJob,
    TrainJob,
    check,
    job_settings,
    trainer_fields,
)

CONFIGS = Path(__file__).resolve().parents[1] / "workflow" / "config"


def load(*names):
    config = {}
    for name in names:
        update_config(config, yaml.safe_load((CONFIGS / name).read_text()))
    return config


@pytest.mark.parametrize(
    "names",
    [
        ("smoke.yaml",),
        ("mini.yaml",),
        ("paper.yaml",),
        ("mini.yaml", "all_methods.yaml", "table3.yaml", "mini_table4.yaml"),
        ("paper.yaml", "paper_mistral.yaml"),
    ],
)
def test_every_shipped_config_and_overlay_parses(names):
    assert isinstance(check(load(*names)), Config)


def _with(change):
    config = load("smoke.yaml")
    change(config)
    return config


def _overrides(config, task, section):
    return config.setdefault("task_overrides", {}).setdefault(task, {}).setdefault(section, {})


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["train"].update(detla=2.0), r"train: unknown key\(s\) \['detla'\]"),
        (lambda c: c["eval"].update(max_new_tokenz=10), r"eval\.max_new_tokenz: unknown key"),
        (lambda c: _overrides(c, "qa", "train").update(beta="abc"), r"task_overrides\.qa\.train\.beta: .*number"),
        (lambda c: _overrides(c, "math", "train").update(delta=-2), r"task_overrides\.math\.train\.delta: .*0"),
        (lambda c: c["bridge"]["editor"].update(temprature=0), r"bridge\.editor\.temprature: unknown key"),
        (lambda c: c["train"].update(learning_rate="1e-5"), r"train\.learning_rate: .*number"),  # YAML string
        (lambda c: c["train"].update(methods=["DPO-BMCC"]), r"train\.methods: unknown method 'DPO-BMCC'"),
        (lambda c: c["data"]["qa"].update(datasets=["ECQA", "ECQA"]), r"data\.qa\.datasets: lists a test set twice"),
        (lambda c: c["data"]["math"].update(sft_n=-1), r"data\.math\.sft_n: .*0"),
        (lambda c: c["sft"].update(loss_scope="prompt"), r"sft\.loss_scope: "),
        (lambda c: c["sft"].pop("learning_rate"), r"sft\.learning_rate: required"),
        (lambda c: c["model"].update(kind="hub"), r"model: a model of kind hub needs \['name'\]"),
        (lambda c: c.update(tasks=["qa", "if"], judge=None), r"judge: required for task `if`"),
        (lambda c: c["eval"].update(set_overrides={"arena_hard": {"temperatur": 0}}),
         r"eval\.set_overrides\.arena_hard\.temperatur: unknown key"),
        (lambda c: c["bridge"]["editor"].update(kind="openai", serve={"tensor_paralel_size": 4}),
         r"bridge\.editor\.serve\.tensor_paralel_size: unknown key"),
        (lambda c: c["bridge"]["editor"].update(kind="openai", serve={}, base_url="http://localhost:8000/v1"),
         r"bridge\.editor: give base_url or serve, not both"),
        (lambda c: c["analysis"].pop("similarity_model"), r"analysis: sec31_similarity needs similarity_model"),
        (lambda c: c.update(table3_tasks=["code"]), r"table3_tasks\.0: Input should be 'qa', 'math' or 'if'"),
        (lambda c: c.update(job_env={"MALLOC-MAX": "0"}), r"job_env\.MALLOC-MAX: String should match pattern"),
        (lambda c: c.update(job_env={"MALLOC_MMAP_MAX_": 0}), r"job_env\.MALLOC_MMAP_MAX_: .*valid string"),
        (lambda c: c["data"]["if"].update(prefs_n=None), r"data\.if: the ShareGPT pool is split .* give sft_n and prefs_n"),
    ],
)  # fmt: skip
def test_mistakes_fail_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        check(_with(change))


def test_trainer_settings_pass_through_when_trl_knows_them():
    config = _with(lambda c: c["train"].update(bf16=False, logging_steps=5, max_grad_norm=1.0))
    assert check(config).train.model_extra == {"logging_steps": 5, "max_grad_norm": 1.0}


def test_switching_the_editor_kind_drops_the_other_kind_options_with_a_warning():
    config = _with(lambda c: c["bridge"]["editor"].update(kind="hf", model="base"))
    assert config["bridge"]["editor"]["serve"]  # inherited from the served openai editor by the merge
    with pytest.warns(UserWarning, match=r"\['serve'\] are not options of kind hf"):
        assert check(config).bridge.editor.serve is None
    with pytest.raises(ConfigError, match=r"bridge\.editor\.batch_sise: unknown key"):
        check(_with(lambda c: c["bridge"]["editor"].update(batch_sise=4)))


def test_shipped_trainer_field_names_match_the_installed_trl():
    from trl import SFTConfig

    from bmc.alignment.trainer import BMCConfig

    names = {
        k: sorted(f.name for f in dataclasses.fields(c))
        for k, c in (("sft", SFTConfig), ("train", BMCConfig))
    }
    assert trainer_fields() == names, "regenerate bmc/trainer_fields.json"


def test_the_json_schema_is_generated():
    schema = Config.model_json_schema(by_alias=True)
    assert {"train", "eval", "data", "task_overrides"} <= set(schema["properties"])
    json.dumps(schema)


def test_snakemake_dry_run_fails_at_parse_naming_the_key(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text("task_overrides:\n  qa:\n    train: {beta: abc}\n")
    root = CONFIGS.parents[1]
    cmd = [sys.executable, "-m", "snakemake", "-n", "--configfile", str(CONFIGS / "smoke.yaml"), str(overlay)]
    result = subprocess.run(cmd, cwd=root, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0
    assert "task_overrides.qa.train.beta: Input should be a valid number" in result.stdout + result.stderr


def test_a_job_reads_its_section_typed_with_the_defaults_and_numbers_as_written():
    train = job_settings(
        TrainJob, json.dumps({"beta": 1, "learning_rate": 0.001, "logging_steps": 5}), "train"
    )
    assert (train.beta, train.precompute_ref_logps, train.prompt_format) == (1, True, "paper")
    # what the stage passes on (trainer fields, fingerprints) is the section as given, an int still an int
    assert (
        json.dumps(train.model_dump(exclude_unset=True))
        == '{"learning_rate": 0.001, "beta": 1, "logging_steps": 5}'
    )
    sample = job_settings(
        GenerationJob, json.dumps({"max_new_tokens": 8, "prompt_format": "chat_template"}), "sample"
    )
    assert (sample.num_samples, sample.backend, sample.temperature, sample.prompt_format) == (
        1,
        "transformers",
        1.0,
        "chat_template",
    )
    with pytest.raises(
        ConfigError, match=r"invalid train settings:\n  train\.method_params\.DPO\.delta: .*0"
    ):
        job_settings(TrainJob, json.dumps({"method_params": {"DPO": {"delta": 0}}}), "train")


def test_sampling_at_temperature_zero_fails_at_parse_and_per_test_set():
    with pytest.raises(ConfigError, match=r"sample: sampling \(do_sample\) needs temperature > 0"):
        check(_with(lambda c: c["sample"].update(do_sample=True, temperature=0.0)))
    settings = job_settings(GenerationJob, json.dumps({"do_sample": True, "temperature": 0.9}), "eval")
    override = Generation.model_validate({"temperature": 0.0})  # valid alone, not on top of sampling
    with pytest.raises(ValueError, match="needs temperature > 0"):
        settings.decoding(override)
    assert (
        settings.decoding(Generation.model_validate({"do_sample": False, "max_new_tokens": 5})).max_new_tokens
        == 5
    )


def test_a_required_setting_with_a_default_must_still_be_given():
    with pytest.raises(ConfigError, match=r"eval\.backend: required"):
        check(_with(lambda c: c["eval"].pop("backend")))
