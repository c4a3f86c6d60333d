"""Stage `train`: preference training of one method and seed with BMCTrainer (see bmc/alignment/trainer.py)."""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import time
from pathlib import Path

from bmc.chat import training_prompt
from bmc.io import InputError, read_jsonl, write_json

log = logging.getLogger(__name__)

# Keys of the config's `train` section that are not BMCConfig/DPOConfig fields.
OWN_KEYS = {"methods", "max_prompt_length", "precompute_ref_logps", "method_params"}
PAIR_FIELDS = {"id": str, "prompt": list, "chosen": str, "rejected": str}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, help="method name (bmc.alignment.methods)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--model", required=True, help="policy initialisation (the SFT model)")
    p.add_argument("--ref", default=None, help="reference model (default: --model)")
    p.add_argument("--pairs", required=True, help="pairs.jsonl (original or bridged)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--params", required=True, help="JSON: the config's `train` section")


def load_pairs(path: str, tokenizer, max_prompt_length: int | None) -> list[dict]:
    """Pairs as TRL prompt/chosen/rejected strings in the paper's template; bad rows fail with file and line."""
    rows = []
    for lineno, pair in enumerate(read_jsonl(path, required=PAIR_FIELDS), 1):
        users = [m.get("content", "") for m in pair["prompt"] if m.get("role") == "user"]
        if len(users) != 1 or not users[0].strip():
            raise InputError(path, lineno, "prompt must hold exactly one non-empty user message")
        for key in ("chosen", "rejected"):
            if not pair[key].strip():
                raise InputError(path, lineno, f"empty {key} response (pair {pair['id']})")
        prompt = training_prompt(users[0])
        if (
            max_prompt_length
            and len(tokenizer(prompt, add_special_tokens=False)["input_ids"]) > max_prompt_length
        ):
            raise InputError(path, lineno, f"prompt longer than max_prompt_length={max_prompt_length} tokens")
        rows.append({"prompt": prompt, "chosen": pair["chosen"], "rejected": pair["rejected"]})
    if not rows:
        raise InputError(path, None, "no pairs to train on")
    return rows


def build_trainer(
    method: str, seed: int, model_path: str, ref_path: str | None, rows: list[dict], params: dict, out: Path
):
    import torch
    from datasets import Dataset
    from transformers import AutoModelForCausalLM

    from bmc.alignment.methods import get_method
    from bmc.alignment.trainer import BMCConfig, BMCTrainer
    from bmc.models.prepare import load_tokenizer
    from bmc.training_args import build_args

    spec = get_method(method)
    overrides = (params.get("method_params") or {}).get(method, {})
    precompute = bool(params.get("precompute_ref_logps", True)) or not spec.needs_reference
    config = build_args(
        BMCConfig,
        {**params, **overrides},
        OWN_KEYS,
        out,
        method=method,
        seed=seed,
        precompute_ref_log_probs=precompute,
        dataset_num_proc=None,
    )
    tokenizer = load_tokenizer(model_path)
    dtype = torch.bfloat16 if config.bf16 else torch.float32
    model = AutoModelForCausalLM.from_pretrained(model_path, dtype=dtype)
    ref = (
        AutoModelForCausalLM.from_pretrained(ref_path, dtype=dtype)
        if ref_path and ref_path != model_path
        else None
    )
    return BMCTrainer(
        model=model,
        ref_model=ref,
        args=config,
        processing_class=tokenizer,
        train_dataset=Dataset.from_list(rows),
    ), tokenizer


def run(args: argparse.Namespace) -> None:
    from bmc.alignment.methods import get_method
    from bmc.models.prepare import load_tokenizer
    from bmc.training_args import last_checkpoint, save_atomically

    params = json.loads(args.params)
    get_method(args.method)  # unknown names fail before anything loads
    for key in ("beta", "delta"):
        if key in params and params[key] <= 0:
            raise ValueError(f"train.{key} must be > 0, got {params[key]}")
    start = time.time()
    rows = load_pairs(args.pairs, load_tokenizer(args.model), params.get("max_prompt_length"))
    out = Path(args.out)
    checkpoints = out.with_name(out.name + ".checkpoints")
    trainer, tokenizer = build_trainer(
        args.method, args.seed, args.model, args.ref, rows, params, checkpoints
    )
    resume = last_checkpoint(checkpoints)
    result = trainer.train(resume_from_checkpoint=resume)
    save_atomically(trainer, tokenizer, out)
    history = [h for h in trainer.state.log_history if "loss" in h]
    last = history[-1] if history else {}
    stats = trainer.mask_stats
    write_json(
        out / "train_summary.json",
        {
            "method": args.method,
            "seed": args.seed,
            "pairs": len(rows),
            "empty_masks": stats["empty_masks"],
            "marked_tokens_per_pair": {
                "chosen": stats["marked_chosen"] / max(stats["pairs"], 1),
                "rejected": stats["marked_rejected"] / max(stats["pairs"], 1),
            },
            "steps": result.global_step,
            "train_loss": result.training_loss,
            "final": {k: last.get(k) for k in ("loss", "rewards/accuracies", "rewards/margins")},
            "wall_s": round(time.time() - start, 1),
            "resumed_from": resume,
        },
    )
    shutil.rmtree(checkpoints, ignore_errors=True)
    log.info(
        "trained %s seed %d on %d pairs (%d with empty masks)",
        args.method,
        args.seed,
        len(rows),
        stats["empty_masks"],
    )
