"""Rules `train` and `sweep_train`: preference training of one method and seed on one pairs file.

`bmc.alignment.training`. Checkpoints go to `<out>.checkpoints/` and a killed run resumes from the newest one
if the models, the pairs and the settings (β included) are those it was made with, else starts over and says
why; the final folder, with `train_summary.json` and `token_dynamics.jsonl` inside, appears atomically
(`bmc.training.run`).
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from bmc.alignment.training import build_trainer, job_pairs, run_settings, summarize
from bmc.config import TrainJob, job_settings
from bmc.training.run import add_world_size_argument, checkpoint_folder, save_final, train_resuming

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--method", required=True, help="method name (bmc.alignment.methods)")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--model", required=True, help="policy initialisation (the SFT model folder)")
    p.add_argument("--ref", default=None, help="reference model folder (default: --model)")
    p.add_argument("--pairs", required=True, help="pairs.jsonl (original or bridged)")
    p.add_argument("--out", required=True, help="output model folder")
    p.add_argument("--params", required=True, help="JSON: the config's `train` section")
    p.add_argument(
        "--ref-sums",
        default=None,
        help="the reference's sums of these pairs (rule `reference_sums`), read instead of computed",
    )
    add_world_size_argument(p)


def run(args: argparse.Namespace) -> None:
    from bmc.alignment.methods import get_method
    from bmc.alignment.trainer import token_dynamics_rows
    from bmc.training.arguments import check_world_size, training_fingerprint

    check_world_size(getattr(args, "world_size", None))  # callers building a Namespace may leave it out
    settings = job_settings(TrainJob, args.params, "train")
    get_method(args.method)  # unknown names fail before anything loads
    start = time.time()
    rows, truncated = job_pairs(args.pairs, args.model, settings)
    out = Path(args.out)
    checkpoints = checkpoint_folder(out)
    trainer, tokenizer = build_trainer(
        args.method,
        args.seed,
        args.model,
        args.ref,
        rows,
        settings,
        checkpoints,
        reference_sums=getattr(args, "ref_sums", None),  # callers building a Namespace may leave it out
        pairs=args.pairs,
    )
    ref = args.ref if args.ref and Path(args.ref).resolve() != Path(args.model).resolve() else None
    fingerprint = training_fingerprint(
        args.model, args.pairs, run_settings(settings, args.method, args.seed), ref
    )
    result, resumed_from = train_resuming(trainer, checkpoints, fingerprint)
    summary = summarize(
        trainer, args.method, args.seed, len(rows), result, time.time() - start, resumed_from, truncated
    )
    dynamics = token_dynamics_rows(trainer.state.log_history)
    save_final(trainer, tokenizer, out, {"train_summary.json": summary, "token_dynamics.jsonl": dynamics})
    log.info(
        "trained %s seed %d on %d pairs (%d with empty masks)",
        args.method,
        args.seed,
        len(rows),
        summary["n_empty_masks"],
    )
