"""Checks across the sections of a validated config (`bmc.config.Config`): settings each valid alone that fail
only once jobs run, each reported as (full key, what is wrong) when the Snakefile is parsed:

- `data.<task>.sft_n: 0` where the task's SFT model is trained (no `sft_models.<task>`);
- `max_new_tokens` of sampling or evaluation (the section, a task's override or a test set's) that leaves no
  room for a prompt in the model's context, where that context is known when parsing (a random Llama's size, a
  local folder's config.json, vLLM's `max_model_len`), else more than `MAX_NEW_TOKENS`;
- `max_prompt_length` not below `max_length` (given, or BMCConfig's default) for a task or a method.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.training.options import trainer_fields

if TYPE_CHECKING:
    from bmc.config import Config, ModelSection

# answers longer than this are refused when the model's context is not known at parse time: more than the
# context of any model the shipped configs use (Llama-2 4,096, Llama-3 8,192, Mistral 32,768 tokens)
MAX_NEW_TOKENS = 32768


def _given(section) -> dict:
    return section.model_dump(exclude_unset=True) if section is not None else {}


def _override(settings: Config, task: str, section: str) -> dict:
    overrides = (settings.task_overrides or {}).get(task)
    return _given(getattr(overrides, section)) if overrides is not None else {}


def _merged(settings: Config, task: str, section: str) -> tuple[dict, dict]:
    """(the section's settings for `task` as the plan passes them, each key's path in the config)."""
    base, over = _given(getattr(settings, section)), _override(settings, task, section)
    paths = {k: f"{section}.{k}" for k in base} | {k: f"task_overrides.{task}.{section}.{k}" for k in over}
    return base | over, paths


def model_context(model: ModelSection, where: str) -> tuple[int, str] | None:
    """(the model's context in tokens, where it comes from) if it is known without loading the model."""
    if model.kind == "random_llama":
        return model.max_position_embeddings, f"{where}.max_position_embeddings"
    config = Path(model.name or "") / "config.json"
    if model.kind == "hub" and config.is_file():
        context = json.loads(config.read_text(encoding="utf-8")).get("max_position_embeddings")
        return (context, f"{config}") if isinstance(context, int) else None
    return None


def _sft_n_problems(settings: Config) -> list[tuple[str, str]]:
    given = settings.sft_models or {}
    out = []
    for task in settings.run_tasks():
        data = getattr(settings.data, "if_" if task == "if" else task)
        if task not in given and data.sft_n == 0:
            out.append(
                (
                    f"data.{task}.sft_n",
                    f"0 SFT examples, but this task's SFT model is trained (no sft_models.{task}): give a positive "
                    f"count, null for all, or the SFT model under sft_models.{task}",
                )
            )
    return out


def _length_problems(settings: Config) -> list[tuple[str, str]]:
    """Answers that cannot fit in the model's context, for sampling and evaluation."""
    out = {}
    for task in settings.run_tasks():
        where = f"sft_models.{task}" if task in (settings.sft_models or {}) else "model"
        model = (settings.sft_models or {}).get(task, settings.model)
        for section in ("sample", "eval"):
            merged, paths = _merged(settings, task, section)
            decodings = [(merged, paths)]
            for name, override in (merged.get("set_overrides") or {}).items():
                at = f"{paths['set_overrides']}.{name}"
                decodings.append((merged | override, paths | {k: f"{at}.{k}" for k in override}))
            for decoding, at in decodings:
                new_tokens = decoding.get("max_new_tokens", 128)
                key = at.get("max_new_tokens", f"{section}.max_new_tokens")
                context = (
                    (decoding["max_model_len"], at["max_model_len"])
                    if decoding.get("max_model_len")
                    else model_context(model, where)
                )
                if context and new_tokens >= context[0]:
                    out[key] = (
                        f"{new_tokens} new tokens leave no room for a prompt in the model's context of {context[0]} "
                        f"tokens ({context[1]}): give fewer"
                    )
                elif not context and new_tokens > MAX_NEW_TOKENS:
                    out[key] = (
                        f"{new_tokens} new tokens: more than {MAX_NEW_TOKENS}, beyond the context of any model the "
                        f"shipped configs use (that of {where}, kind {model.kind}, is not known before it is loaded)"
                    )
    return list(out.items())


def _prompt_bound_problems(settings: Config) -> list[tuple[str, str]]:
    default = trainer_fields()["train"]["fields"]["max_length"]["default"]
    out = {}
    for task in settings.run_tasks():
        merged, paths = _merged(settings, task, "train")
        runs = [(merged, paths)]
        for method, own in (merged.get("method_params") or {}).items():
            at = f"{paths['method_params']}.{method}"
            runs.append((merged | own, paths | {k: f"{at}.{k}" for k in own}))
        for run, at in runs:
            bound, length = run.get("max_prompt_length"), run.get("max_length") or default
            if bound is not None and bound >= length:
                where = at["max_length"] if run.get("max_length") else "BMCConfig's default max_length"
                out[at["max_prompt_length"]] = (
                    f"{bound} is not below max_length {length} ({where}): prompts that long leave no room for the "
                    "responses; give a smaller max_prompt_length"
                )
    return list(out.items())


def folder_or_hub_id(name: str) -> bool:
    """`name` is a folder that exists, or has the form of a hub id (what transformers' from_pretrained takes)."""
    if Path(name).expanduser().exists():
        return True
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(name)
    except HFValidationError:
        return False
    return True


def _hub_model_problems(settings: Config) -> list[tuple[str, str]]:
    """A `hub` model whose name is neither a folder nor a hub id (a mistyped folder) fails here, not in its job."""
    models = {"model": settings.model}
    models |= {f"sft_models.{t}": m for t, m in (settings.sft_models or {}).items()}
    models |= {f"editor_models.{n}": m for n, m in (settings.editor_models or {}).items()}
    return [
        (
            f"{where}.name",
            f"{m.name!r} is neither a folder that exists nor a hub id (`name` or `namespace/name`); check the "
            "path (relative paths are read from the folder Snakemake runs in)",
        )
        for where, m in models.items()
        if m.kind == "hub" and not folder_or_hub_id(m.name)
    ]


def cross_section_problems(settings: Config) -> list[tuple[str, str]]:
    return (
        _sft_n_problems(settings)
        + _length_problems(settings)
        + _prompt_bound_problems(settings)
        + _hub_model_problems(settings)
    )
