"""Supervised fine-tuning with TRL's SFTTrainer on the paper's QA template (rule `sft`, `bmc.stages.sft`).

Each example is a prompt-completion pair: prompt = "### Instruction:\\n{user}\\n\\n### Response:\\n",
completion = the assistant text + the tokenizer's EOS (added here, so TRL adds none); with
prompt format `chat_template` both come from the model's chat template (`bmc.data.prompt_format`). The loss covers the
whole text (`loss_scope: whole_text`, the default: the authors' SFT script has no completion mask) or the
completion only (`loss_scope: completion`). The settings are the config's `sft` section (`bmc.config.Sft`): any SFTConfig /
TrainingArguments field (bf16, deepspeed, gradient_checkpointing, padding_free, ...) passes through; unknown keys
are refused. `attn_implementation` (`bmc.models.attention`) is the model's attention kernel, recorded in the
summary.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.data.prompt_format import completion_text, prompt_text

if TYPE_CHECKING:
    from bmc.config import SftJob

log = logging.getLogger(__name__)


def cpu_defaults(params: dict) -> dict:
    """SFTConfig defaults bf16 and (activation) checkpointing to on; small scales train on CPU in float32.

    Checkpointing is set through its new name unless the config names either one, so that a
    config's `gradient_checkpointing` (the deprecated alias) still takes effect.
    """
    defaults: dict = {"bf16": False}
    if not {"gradient_checkpointing", "activation_checkpointing"} & set(params):
        defaults |= {"activation_checkpointing": False, "gradient_checkpointing": None}
    return defaults


def to_prompt_completion(rows: list[dict], tokenizer, fmt: str = "paper") -> list[dict]:
    """Chat rows -> {"prompt", "completion"} strings in the prompt format, completion ending in EOS."""
    out = []
    for r in rows:
        user, reply = r["messages"][0]["content"], r["messages"][1]["content"]
        out.append(
            {
                "prompt": prompt_text(user, fmt, tokenizer),
                "completion": completion_text(user, reply, tokenizer, fmt),
            }
        )
    return out


def build_trainer(model_path: str, rows: list[dict], settings: SftJob, output_dir: Path):
    """An SFTTrainer over `rows` in the settings' prompt format, the loss over the whole text or the completion
    only (`loss_scope`); every other setting given is an SFTConfig field. Returns (trainer, tokenizer)."""
    from datasets import Dataset
    from trl import SFTConfig, SFTTrainer

    from bmc.models import attention
    from bmc.models.prepare import load_tokenizer
    from bmc.training.arguments import build_args

    fields = settings.model_dump(
        exclude_unset=True, exclude={"loss_scope", "prompt_format", "attn_implementation"}
    )
    attention.check_available(settings.attn_implementation)
    if settings.attn_implementation:  # TRL loads the model with model_init_kwargs
        fields["model_init_kwargs"] = {
            **(fields.get("model_init_kwargs") or {}),
            "attn_implementation": settings.attn_implementation,
        }
    tokenizer = load_tokenizer(model_path)
    args = build_args(
        SFTConfig,
        fields,
        own_keys=set(),
        output_dir=output_dir,
        completion_only_loss=settings.loss_scope == "completion",
        dataset_num_proc=None,
        **cpu_defaults(fields),
    )
    dataset = Dataset.from_list(to_prompt_completion(rows, tokenizer, settings.prompt_format))
    # a model path (not an object) lets TRL load it with `model_init_kwargs` (dtype, attention kernel)
    trainer = SFTTrainer(model=model_path, args=args, train_dataset=dataset, processing_class=tokenizer)
    return trainer, tokenizer


def truncation_report(trainer, tokenizer, n_rows: int) -> dict:
    """How many examples lost their end (EOS) to `max_length`, and how many TRL dropped as empty."""
    ids = trainer.train_dataset["input_ids"]
    truncated = sum(1 for seq in ids if seq[-1] != tokenizer.eos_token_id)
    dropped = n_rows - len(ids)
    if truncated or dropped:
        log.warning(
            "max_length=%s cuts %d of %d examples before their EOS (%d dropped as fully prompt)",
            trainer.args.max_length,
            truncated + dropped,
            n_rows,
            dropped,
        )
    return {"truncated": truncated, "dropped": dropped}


def summarize(n_rows: int, lengths: dict, trainer, result, wall_s: float, resumed_from) -> dict:
    """sft_summary.json: examples, truncation, steps, mean and final loss, wall time and the resumed checkpoint."""
    return {
        "examples": n_rows,
        **lengths,
        "steps": result.global_step,
        "train_loss": result.training_loss,  # mean over the run
        "final_loss": next((e["loss"] for e in reversed(trainer.state.log_history) if "loss" in e), None),
        "attn_implementation": trainer.model.config._attn_implementation,
        "padding_free": trainer.args.padding_free,
        "wall_s": round(wall_s, 1),
        "resumed_from": resumed_from,
    }
