"""Rule `reference_sums`: the reference model's sums of one pairs file, computed once for every seed.

`bmc.alignment.reference`. One job per (pairs, reference, weighting) serves every seed's run and every method
that shares them. `--params` is what the sums depend on (the plan's `reference_settings` of those runs: a
`train` section without the optimisation's settings, with `bmc_weights`); the sums are those a training job
computes itself with `precompute_ref_logps` (the same trainer and code), written as JSON with the inputs they
were made from (`inputs`: the reference's fingerprint, the pairs' sha256, the settings), the digest of the
tokenised pairs and the chosen and rejected sums in the pairs' order. The training jobs read it with
`--ref-sums`.
"""

from __future__ import annotations

import argparse
import logging
import tempfile
import time
from pathlib import Path

from bmc.training.run import add_world_size_argument

log = logging.getLogger(__name__)
# the method the sums are computed with: plain DPO, under the weighting its `bmc_weights` names
METHOD = "DPO"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="the reference: the SFT model the runs start from")
    p.add_argument("--pairs", required=True, help="pairs.jsonl (original or bridged)")
    p.add_argument("--out", required=True, help="the sums' JSON file")
    p.add_argument(
        "--params", required=True, help="JSON: the settings the sums depend on (a `train` section)"
    )
    add_world_size_argument(p)


def run(args: argparse.Namespace) -> None:
    from bmc.alignment import reference
    from bmc.alignment.training import build_trainer, job_pairs
    from bmc.config import TrainJob, job_settings
    from bmc.io import write_json
    from bmc.training.arguments import check_world_size

    check_world_size(getattr(args, "world_size", None))
    settings = job_settings(TrainJob, args.params, "train")
    given = settings.model_dump(exclude_unset=True)
    start = time.time()
    rows, _ = job_pairs(args.pairs, args.model, settings)
    with tempfile.TemporaryDirectory(prefix="bmc-reference-") as scratch:
        trainer, _ = build_trainer(METHOD, 0, args.model, None, rows, settings, Path(scratch))
        content = reference.record(
            reference.job_inputs(args.model, args.pairs, METHOD, given), trainer.train_dataset
        )
        if trainer.accelerator.is_main_process:
            write_json(args.out, {**content, "wall_s": round(time.time() - start, 1)})
        trainer.accelerator.wait_for_everyone()
    log.info(
        "reference sums of %d pairs (%s weights) -> %s",
        content["rows"],
        reference.weighting(METHOD, given),
        args.out,
    )
