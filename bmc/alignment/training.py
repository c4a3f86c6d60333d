"""Preference training of one method and seed with BMCTrainer (`bmc.alignment.trainer`): its pairs as TRL
rows, the trainer, and the run's summary (rule `train`, `bmc.stages.train`).

Pairs use the paper's template by default: prompt = `bmc.data.prompt_format.training_prompt(user)`, completion =
assistant text + EOS; prompt format `chat_template` uses the model's chat template (`bmc.data.prompt_format`).
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.alignment.methods import method_entry
from bmc.data.prompt_format import completion_text, prompt_text
from bmc.data.records import PAIR
from bmc.io import InputError, iter_jsonl

if TYPE_CHECKING:
    from bmc.config import TrainJob

log = logging.getLogger(__name__)

# Settings of a training job that are not BMCConfig fields (`seed` comes from --seed).
OWN_KEYS = {
    "methods",
    "max_prompt_length",
    "precompute_ref_logps",
    "method_params",
    "seed",
    "prompt_format",
    "attn_implementation",
}


def load_pairs(
    path: str, tokenizer, max_prompt_length: int | None, fmt: str = "paper", max_length: int | None = None
) -> tuple[list[dict], int]:
    """Pairs as TRL prompt/chosen/rejected strings in the prompt format, and how many prompts were truncated;
    bad rows fail with file and line.

    A prompt is truncated as the authors' trainer truncates it: only when the prompt and the longer response
    together exceed `max_length`, to the prompt's last `max_prompt_length` tokens (decoded back to text)."""
    seen: set[str] = set()

    def check(pair: dict) -> str | None:
        msgs = pair["prompt"]
        if len(msgs) != 1 or not isinstance(msgs[0], dict) or msgs[0].get("role") != "user":
            return "prompt must be a list holding exactly one {'role': 'user', 'content': ...} message"
        if not str(msgs[0].get("content", "")).strip():
            return "empty user message"
        for key in ("chosen", "rejected"):
            if not pair[key].strip():
                return f"empty {key} response (pair {pair['id']})"
        if pair["id"] in seen:
            return f"duplicate pair id {pair['id']!r}"
        seen.add(pair["id"])
        return None

    def n_tokens(text: str) -> int:
        return len(tokenizer(text, add_special_tokens=False)["input_ids"])

    rows, truncated = [], 0
    for pair in iter_jsonl(path, required=PAIR, check=check):
        user = pair["prompt"][0]["content"]
        row = {
            "prompt": prompt_text(user, fmt, tokenizer),
            "chosen": completion_text(user, pair["chosen"], tokenizer, fmt),
            "rejected": completion_text(user, pair["rejected"], tokenizer, fmt),
        }
        if max_prompt_length and max_length:
            ids = tokenizer(row["prompt"], add_special_tokens=False)["input_ids"]
            longer = max(n_tokens(row["chosen"]), n_tokens(row["rejected"]))
            if len(ids) > max_prompt_length and len(ids) + longer > max_length:
                row["prompt"] = tokenizer.decode(ids[-max_prompt_length:])
                truncated += 1
        rows.append(row)
    if not rows:
        raise InputError(path, None, "no pairs to train on")
    if truncated:
        log.warning("%s: %d prompts truncated to their last %d tokens", path, truncated, max_prompt_length)
    return rows, truncated


def job_pairs(path: str, model_path: str, settings: TrainJob) -> tuple[list[dict], int]:
    """`load_pairs` of a job's pairs file with its model's tokenizer and its settings."""
    from bmc.models.prepare import load_tokenizer

    return load_pairs(
        path,
        load_tokenizer(model_path),
        settings.max_prompt_length,
        settings.prompt_format,
        settings.max_length,
    )


def build_trainer(
    method: str,
    seed: int,
    model_path: str,
    ref_path: str | None,
    rows: list[dict],
    settings: TrainJob,
    out: Path,
    reference_sums: str | None = None,
    pairs: str | None = None,
):
    """(BMCTrainer, tokenizer) for one method and seed: the settings given, with the method's own
    `method_params` on top, as BMCConfig fields (the hyperparameters its module declares to its loss); `out` is the checkpoint folder. `reference_sums`: the
    `reference_sums` rule's file for `rows` (read from the file `pairs`), used instead of computing them."""
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM
    from transformers.utils import is_liger_kernel_available

    from bmc.alignment import reference
    from bmc.alignment.methods import get_method
    from bmc.alignment.trainer import BMCConfig, BMCTrainer
    from bmc.models import attention
    from bmc.models.prepare import load_tokenizer
    from bmc.training.arguments import build_args

    spec = get_method(method)
    attention.check_available(settings.attn_implementation)
    given_sums = None
    if reference_sums:
        own = reference.job_settings_of(settings.model_dump(exclude_unset=True), method)
        if not reference.uses_shared_sums(method, own):
            raise ValueError(
                f"{method} with these settings reads no precomputed reference sums ({reference_sums})"
            )
        if pairs is None:
            raise ValueError("reference sums are checked against their pairs file: give `pairs`")
        expected = reference.job_inputs(ref_path or model_path, pairs, method, own)
        given_sums = reference.ReferenceSums.read(reference_sums, expected)
    # Reference-free objectives never need a reference: "precompute" then just skips loading one.
    # TDPO reads the reference's full distributions at every step, which cannot be precomputed.
    precompute = settings.precompute_ref_logps or not spec.needs_reference
    if spec.needs_distributions:
        precompute = False
    # the hyperparameters the method's module declares go to its loss, the other settings to BMCConfig
    own = method_params(settings, method)
    declared = {k: own.pop(k) for k in list(own) if k in spec.objective.hyperparameters}
    config = build_args(
        BMCConfig,
        {**settings.model_dump(exclude_unset=True), **own},
        OWN_KEYS,
        out,
        method=method,
        seed=seed,
        precompute_ref_log_probs=precompute,
        dataset_num_proc=None,
    )
    if config.use_liger_kernel and not is_liger_kernel_available():
        raise RuntimeError(
            "train.use_liger_kernel needs the liger-kernel package (envs/train.yaml installs it on Linux) and a GPU "
            "Triton can compile for"
        )
    tokenizer = load_tokenizer(model_path)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    kernel = {"attn_implementation": settings.attn_implementation} if settings.attn_implementation else {}
    if config.padding_free and settings.attn_implementation in (None, "sdpa", "eager"):
        log.warning(
            "padding_free with %s attention attends over each whole packed row (exact, but slower than "
            "padding on a CPU): set attn_implementation to flash_attention_2 (CUDA) or sdpa_varlen",
            settings.attn_implementation or "transformers' default (sdpa)",
        )
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype, **kernel)
    ref = None
    if spec.needs_reference and ref_path and Path(ref_path).resolve() != Path(model_path).resolve():
        ref = AutoModelForCausalLM.from_pretrained(ref_path, dtype=dtype, **kernel)
    trainer = BMCTrainer(
        model=model,
        ref_model=ref,
        args=config,
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(rows),
        reference_sums=given_sums,
        method_params=declared,
    )
    return trainer, tokenizer


def summarize(
    trainer,
    method: str,
    seed: int,
    n_pairs: int,
    result,
    wall_s: float,
    resumed_from,
    prompts_truncated: int = 0,
) -> dict:
    """train_summary.json: mask statistics, final loss and the reward metrics of the log history."""
    stats = trainer.mask_stats
    history = [h for h in trainer.state.log_history if "loss" in h]

    def mean(key):
        values = [h[key] for h in history if key in h]
        return sum(values) / len(values) if values else None

    last = history[-1] if history else {}
    pairs = max(stats["pairs"], 1)
    return {
        "method": method,
        "seed": seed,
        "n_pairs": n_pairs,
        "attn_implementation": trainer.model.config._attn_implementation,
        "padding_free": trainer.args.padding_free,
        "use_liger_kernel": trainer.args.use_liger_kernel,
        "reference_sums": trainer.reference_sums_file,
        "method_params": dict(trainer.hp.params),  # the hyperparameters the method's module declares
        "prompts_truncated": prompts_truncated,
        "n_empty_masks": stats["empty_masks"],
        "mean_marked_tokens_per_pair": {
            "chosen": stats["marked_chosen"] / pairs,
            "rejected": stats["marked_rejected"] / pairs,
        },
        "steps": result.global_step,
        "train_loss": result.training_loss,
        "final_loss": last.get("loss"),
        "final_reward_accuracy": last.get("rewards/accuracies"),
        "final_reward_margin": last.get("rewards/margins"),
        "mean_reward_accuracy": mean("rewards/accuracies"),
        "mean_reward_margin": mean("rewards/margins"),
        "wall_s": round(wall_s, 1),
        "resumed_from": resumed_from,
    }


def method_params(settings: TrainJob, method: str) -> dict:
    """The settings `method_params` gives `method` (`method_entry`: its base method's, then its own), as given
    (none: an empty dict)."""
    given = {
        name: entry.model_dump(exclude_unset=True) for name, entry in (settings.method_params or {}).items()
    }
    return method_entry(given, method)


def run_settings(settings: TrainJob, method: str, seed: int) -> dict:
    """The settings a run's checkpoints are fingerprinted with: the section as given without the method list,
    the method and seed, and this method's own `method_params` only (another method's do not concern it)."""
    given = settings.model_dump(exclude_unset=True, exclude={"methods", "method_params"})
    return {**given, "method": method, "seed": seed, "method_params": method_params(settings, method)}
