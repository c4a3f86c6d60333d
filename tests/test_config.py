"""Typed config: every scale and overlay parses; each kind of mistake fails naming the key's full path, the
value and, where there is an obvious cause, what to write instead."""

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
)
from bmc.config_files import read_config_files
from bmc.training.options import trainer_fields

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "workflow" / "config"


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
        (lambda c: c["train"].update(detla=2.0), r"train\.detla: unknown key: neither a setting of this suite"),
        (lambda c: c["train"].update(simpo_gamma=1.0), r"train\.simpo_gamma: a hyperparameter its method's module "
         r"declares: give it as method_params\.SimPO\.gamma"),
        (lambda c: c["train"].update(method_params={"SimPO-BMC": {"gamma": "1.0"}}),
         r"SimPO-BMC\.gamma: '1\.0' is a string, not a float: .*\(declared in bmc/alignment/methods/simpo\.py\)"),
        (lambda c: c["train"].update(method_params={"TDPO": {"alpha": -0.5}}), r"TDPO\.alpha: -0\.5 is not >= 0"),
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
        (lambda c: c.update(run="../mini"), r"run: String should match pattern"),  # a folder name under results/
        (lambda c: c.update(run="a/b"), r"run: String should match pattern"),
    ],
)  # fmt: skip
def test_mistakes_fail_naming_the_key(change, message):
    with pytest.raises(ConfigError, match=message):
        check(_with(change))


def _yaml(text):
    """A change written as YAML text, read as Snakemake reads config files (YAML 1.1: `5e-7` is a string)."""
    return lambda c: update_config(c, yaml.safe_load(text))


# Issue 26's settings that passed the parse and failed late or silently: each is refused when the Snakefile is
# parsed, naming the key and the value, with what to write instead where the cause is plain.
BAD_SETTINGS = [
    (lambda c: c["data"]["qa"].update(test_n=0),
     r"data\.qa\.test_n: 0 test questions leave nothing to evaluate: give a positive count, or null for all"),
    (lambda c: c["data"]["math"].update(prefs_n=0), r"data\.math\.prefs_n: 0 preference questions leave no pairs"),
    (lambda c: c["data"]["if"].update(sft_n=0),
     r"data\.if\.sft_n: 0 SFT examples, but this task's SFT model is trained \(no sft_models\.if\)"),
    (_yaml("eval: {max_new_tokens: 1000000000}"),
     r"eval\.max_new_tokens: 1000000000 new tokens leave no room for a prompt in the model's context of 2048 "
     r"tokens \(model\.max_position_embeddings\)"),
    (_yaml("task_overrides: {math: {sample: {max_new_tokens: 2048}}}"),
     r"task_overrides\.math\.sample\.max_new_tokens: 2048 new tokens leave no room"),
    (_yaml("eval: {set_overrides: {arena_hard: {max_new_tokens: 4096}}}"),
     r"eval\.set_overrides\.arena_hard\.max_new_tokens: 4096 new tokens"),
    (_yaml("eval: {max_new_tokens: 1e9}"),
     r"eval\.max_new_tokens: Input should be a valid integer, got '1e9' \(a string\); write 1000000000 \(an "
     r"integer, without quotes\)"),
    (_yaml("seeds: [-1]"), r"seeds: \[-1\]: \[-1\] negative; a seed is an integer >= 0"),
    (_yaml("seeds: [0, 1, 0]"), r"seeds: \[0, 1, 0\] lists seed 0 twice"),
    (_yaml("train: {methods: [DPO, DPO-BMC, DPO]}"), r"train\.methods: \['DPO', 'DPO-BMC', 'DPO'\] lists DPO twice"),
    (_yaml("task_overrides: {math: {train: {methods: [SimPO, SimPO]}}}"),
     r"task_overrides\.math\.train\.methods: .* lists SimPO twice"),
    (_yaml("tasks: [qa, qa]"), r"tasks: \['qa', 'qa'\] lists qa twice"),
    (_yaml("train: {max_prompt_length: 300}"),
     r"train\.max_prompt_length: 300 is not below max_length 256 \(train\.max_length\): prompts that long"),
    (_yaml("task_overrides: {qa: {train: {max_length: 128}}}"),
     r"train\.max_prompt_length: 192 is not below max_length 128 \(task_overrides\.qa\.train\.max_length\)"),
    (_yaml("train: {max_length: null, max_prompt_length: 1024}"),
     r"train\.max_prompt_length: 1024 is not below max_length 1024 \(BMCConfig's default max_length\)"),
    (_yaml("train: {method_params: {IPO: {max_prompt_length: 256}}}"),
     r"train\.method_params\.IPO\.max_prompt_length: 256 is not below max_length 256"),
    (_yaml("train: {loss_type: [ipo]}"),
     r"train\.loss_type: \['ipo'\] is refused: the method sets the objective; leave loss_type out"),
    (_yaml("train: {method_params: {DPO: {label_smoothing: 0.1}}}"),
     r"train\.method_params\.DPO\.label_smoothing: 0\.1 is refused: BMCTrainer's loss"),
    (_yaml("train: {lr_scheduler_type: cosin}"),
     r"train\.lr_scheduler_type: 'cosin' is not one of BMCConfig \(TRL's DPOConfig\)'s values: linear, cosine,"),
    (_yaml("sft: {loss_type: dpo}"), r"sft\.loss_type: 'dpo' is not one of TRL's SFTConfig's values: nll, dft"),
    (_yaml("train: {logging_steps: '5'}"),
     r"train\.logging_steps: '5' is a string, but BMCConfig \(TRL's DPOConfig\) takes a number; write 5 without "
     r"quotes"),
    (_yaml("sft: {packing: 'yes'}"), r"sft\.packing: 'yes' is a string, but TRL's SFTConfig takes true or false"),
    (_yaml("train: {method: IPO}"), r"train\.method: 'IPO' is not taken: each run's method comes from train\.methods"),
    (_yaml("sft: {output_dir: /tmp/x}"), r"sft\.output_dir: '/tmp/x' is not taken: the stage sets it"),
    (_yaml("train: {learning_rate: 5e-7}"),
     r"train\.learning_rate: '5e-7' is a string, but BMCConfig \(TRL's DPOConfig\) takes a number; YAML reads "
     r"5e-7 as a string \(a number needs a dot and a signed exponent\): write 5\.0e-7"),
    (_yaml("sample: {max_new_tokens: '64'}"),
     r"sample\.max_new_tokens: Input should be a valid integer, got '64' \(a string\); write 64 \(an integer"),
    (_yaml("train: {adam_epsilon: 1.0e8}"), r"train\.adam_epsilon: '1\.0e8' is a string, .*: write 1\.0e\+8"),
    (_yaml("sft_models: {qa: {kind: hub, name: results/smoke/models/sft_qaa}}"),
     r"sft_models\.qa\.name: 'results/smoke/models/sft_qaa' is neither a folder that exists nor a hub id"),
]  # fmt: skip


@pytest.mark.parametrize(("change", "message"), BAD_SETTINGS)
def test_settings_that_failed_late_are_refused_at_parse_naming_key_and_value(change, message):
    with pytest.raises(ConfigError, match=message):
        check(_with(change))


def test_answers_beyond_a_context_unknown_at_parse_are_bounded(tmp_path):
    paper = load("paper.yaml")
    paper["eval"]["max_new_tokens"] = 1_000_000_000
    with pytest.raises(ConfigError, match=r"eval\.max_new_tokens: 1000000000 new tokens: more than 32768, beyond "
                       r"the context of any model the shipped configs use \(that of model, kind hub, is not known"):  # fmt: skip
        check(paper)
    paper["eval"]["max_new_tokens"] = 32768
    check(paper)
    paper["eval"]["max_model_len"] = 4096  # vLLM's bound on prompt and answer, known at parse
    with pytest.raises(ConfigError, match=r"context of 4096 tokens \(eval\.max_model_len\)"):
        check(paper)
    # a local SFT folder's config.json gives its context
    (tmp_path / "config.json").write_text(json.dumps({"max_position_embeddings": 1024}))
    smoke = _with(
        _yaml(f"sft_models: {{qa: {{kind: hub, name: {tmp_path}}}}}\neval: {{max_new_tokens: 1500}}")
    )
    smoke["model"]["max_position_embeddings"] = 4096
    with pytest.raises(
        ConfigError, match=rf"eval\.max_new_tokens: 1500 .* of 1024 tokens \({tmp_path}/config\.json\)"
    ):
        check(smoke)


def test_a_given_sft_model_may_come_without_sft_examples_and_hub_ids_and_folders_pass(tmp_path):
    given = f"sft_models: {{if: {{kind: hub, name: {tmp_path}}}, qa: {{kind: hub, name: org/model-1.5}}}}"
    config = _with(_yaml(given + "\ndata: {if: {sft_n: 0}}"))
    assert check(config).data.if_.sft_n == 0


def test_an_overlay_given_without_its_scale_file_says_to_give_the_scale_first():
    with pytest.raises(ConfigError) as e:
        check(load("all_methods.yaml"), ["workflow/config/all_methods.yaml"])
    assert str(e.value).count("\n") == 0  # one message, not a dozen "Field required"
    assert "the config (read from workflow/config/all_methods.yaml) has no scale, seeds, label, model" in str(
        e.value
    )
    assert (
        "give the scale file first, e.g. --configfile workflow/config/paper.yaml workflow/config/all_methods.yaml"
        in (str(e.value))
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "- scale: smoke\n- seeds: [0]\n",
            "Config file must be given as JSON or YAML with keys at top level",
        ),
        ("scale: [smoke\n  seeds: {0\n", "Config file is not valid JSON or YAML"),
    ],
)
def test_a_config_file_that_is_not_a_yaml_mapping_is_named(tmp_path, text, message):
    bad = tmp_path / "overlay.yaml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=rf"^{bad}: {message}"):
        read_config_files([str(CONFIGS / "smoke.yaml"), str(bad)])
    cmd = [sys.executable, "-m", "bmc.config_files", str(CONFIGS / "smoke.yaml"), str(bad)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode != 0 and f"{bad}: {message}" in result.stderr
    ok = subprocess.run(cmd[:-1], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert ok.returncode == 0 and ok.stdout.startswith("valid: ")


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


def test_shipped_trainer_fields_match_the_installed_trl():
    sys.path.insert(0, str(ROOT / "scripts"))
    from trainer_fields import describe

    assert trainer_fields() == describe(), (
        "regenerate bmc/training/trainer_fields.json: python scripts/trainer_fields.py"
    )


# a value other than the default for each option the config must leave at its default
NOT_THE_DEFAULT = {
    "loss_type": ["ipo"],
    "ld_alpha": 0.5,
    "f_divergence_type": "js_divergence",
    "label_smoothing": 0.1,
    "use_weighting": True,
    "loss_weights": [1.0],
    "router_aux_loss_coef": 0.1,
    "padding_free": True,
    "pad_token": "<pad>",
}


@pytest.mark.parametrize("name", sorted(trainer_fields()["train"]["fixed"]))
def test_each_option_the_config_keeps_at_its_default_is_one_bmcconfig_refuses(tmp_path, name):
    from bmc.alignment.trainer import BMCConfig

    with pytest.raises(ValueError, match="set the objective with `method`|does not use TRL's"):
        BMCConfig(output_dir=str(tmp_path), use_cpu=True, **{name: NOT_THE_DEFAULT[name]})
    with pytest.raises(ConfigError, match=rf"train\.{name}: .* is refused: .*; leave {name} out"):
        check(_with(lambda c: c["train"].update({name: NOT_THE_DEFAULT[name]})))


def test_the_json_schema_is_generated():
    schema = Config.model_json_schema(by_alias=True)
    assert {"train", "eval", "data", "task_overrides"} <= set(schema["properties"])
    json.dumps(schema)


def dry_run(*configfiles):
    cmd = [sys.executable, "-m", "snakemake", "-n", "--configfile", *map(str, configfiles)]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    return result.returncode, result.stdout + result.stderr


def test_snakemake_dry_run_fails_at_parse_naming_the_key(tmp_path):
    overlay = tmp_path / "typo.yaml"
    overlay.write_text(
        "task_overrides:\n  qa:\n    train: {beta: abc}\n"
        "train: {learning_rate: 5e-7, loss_type: [ipo], methods: [DPO, DPO]}\nseeds: [0, 0]\n"
        "data: {qa: {test_n: 0}}\n"
    )
    code, output = dry_run(CONFIGS / "smoke.yaml", overlay)
    assert code != 0
    for line in [
        "task_overrides.qa.train.beta: 'abc' is a string, but BMCConfig (TRL's DPOConfig) takes a number",
        "train.learning_rate: '5e-7' is a string, but BMCConfig (TRL's DPOConfig) takes a number; YAML reads 5e-7",
        "train.loss_type: ['ipo'] is refused: the method sets the objective",
        "train.methods: ['DPO', 'DPO'] lists DPO twice",
        "seeds: [0, 0] lists seed 0 twice",
        "data.qa.test_n: 0 test questions leave nothing to evaluate",
    ]:
        assert line in output, line


def test_snakemake_dry_run_of_an_overlay_alone_says_to_give_the_scale_file_first():
    code, output = dry_run("workflow/config/all_methods.yaml")
    assert code != 0 and "Field required" not in output
    assert (
        "give the scale file first, e.g. --configfile workflow/config/paper.yaml workflow/config/all_methods.yaml"
        in (output)
    )


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
