"""The cost plan's training jobs (`sft`, `reference_sums`, `train`, `sweep_train`): GPU-hours from the tokens they
process, counted from the data (`bmc.data.lengths`), as configured and in two comparisons.

A job's tokens are its examples times the tokens per example: the sequences' own tokens with `padding_free`,
the positions of padded micro-batches without; where a task's examples cannot be counted offline, the
config's stated `plan.tasks.<task>.tokens` per sequence, with no padding counted. Training costs one unit per
token and epoch, a reference forward pass `plan.reference_cost` units per token: at every step where the
reference runs live (TDPO, or `precompute_ref_logps` off), once per job where the job computes its sums
itself (the sweeps), once per file for the runs that read the `reference_sums` rule's sums.

Besides the configured cost each job has `padded` (the same jobs without padding_free) and `before` (padded,
and every run computing its own reference sums: the plan before padding-free batches and the reference_sums
rule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from bmc.alignment.methods import get_method

if TYPE_CHECKING:
    from bmc.data.lengths import Lengths, TaskLengths
    from bmc.plan.runs import Plan

RULES = ("sft", "reference_sums", "train", "sweep_train")


@dataclass(frozen=True)
class Cost:
    """GPU-hours of one job: as configured, padded, and padded with every run computing its reference sums."""

    configured: float
    padded: float
    before: float
    counted: bool  # tokens counted from the data (else the stated mean)


def per_example(lengths: Lengths | None, stated: float, padding_free: bool) -> tuple[float, float, bool]:
    """(tokens per example as configured, padded, whether counted)."""
    if lengths is None:
        return stated, stated, False
    return (lengths.real if padding_free else lengths.padded), lengths.padded, True


def job_cost(
    rule: str, wildcards: dict, n: int, config: dict, plan: Plan, lengths: TaskLengths | None
) -> Cost:
    """GPU-hours of a training job processing `n` examples."""
    from bmc.plan import analyses as plan_analyses

    spec, task = config["plan"], wildcards["task"]
    ref, speed = spec["reference_cost"], spec["train_tokens_per_gpu_s"] * 3600
    stated = spec["tasks"][task]["tokens"]
    if rule == "sft":
        settings = plan.task_settings("sft", task)
        found = lengths.sft(task, settings.get("max_length"), batch(settings)) if lengths else None
        now, padded, counted = per_example(found, stated, bool(settings.get("padding_free")))
        units = n * epochs(settings)
        return Cost(units * now / speed, units * padded / speed, units * padded / speed, counted)
    if rule == "reference_sums":
        settings = plan.reference_params(task, wildcards["source"], wildcards["weighting"])
    elif rule == "train":
        settings = plan.run_settings(task, wildcards["method"])
    else:  # a sweep point trains the sweep's method, computing its reference sums itself
        settings = plan_analyses.sweep_train_settings(plan, task, wildcards["sweep"], wildcards["point"])
    found = lengths.pairs(task, settings.get("max_length"), batch(settings)) if lengths else None
    now, padded, counted = per_example(found, 2 * stated, bool(settings.get("padding_free")))
    if rule == "reference_sums":  # one forward pass of the reference over the pairs
        return Cost(n * ref * now / speed, n * ref * padded / speed, 0.0, counted)
    method = wildcards.get("method") or plan_analyses.SWEEP_METHOD[wildcards["sweep"]]
    spec_m, steps = get_method(method), epochs(settings)
    live = spec_m.needs_distributions or not settings.get("precompute_ref_logps", True)
    own = 0.0 if not spec_m.needs_reference else ref * (steps if live else 1.0)
    shared = rule == "train" and plan.reference_sums(task, method) is not None
    units = steps + (0.0 if shared else own)
    before = steps + own
    return Cost(n * units * now / speed, n * units * padded / speed, n * before * padded / speed, counted)


def batch(settings: dict) -> int:
    return int(settings.get("per_device_train_batch_size") or 8)  # TrainingArguments' default


def epochs(settings: dict) -> float:
    return float(settings.get("num_train_epochs", 1))
