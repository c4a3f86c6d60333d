"""The reference model's sums of a pairs file, computed once and read by every seed's training job (rule
`reference_sums`, `bmc.stages.reference_sums`).

With precomputed reference log-probs, a job scores every pair with the reference (the SFT model) before
training: Σ_t λ_t log p_t of the chosen and the rejected response, λ_t the reference's own BMC weights or 1.
Those sums depend on the pairs, the reference model and the settings that shape its forward pass and weights,
never on the seed or the optimisation; so one job computes them per (pairs, reference, weighting) and the
training jobs of every seed and of every method with the same weighting (DPO, IPO and R-DPO; DPO-BMC, IPO-BMC
and R-DPO-BMC) read them. `reference_settings` says which settings they depend on: a job's settings less
those that only shape the optimisation (`OPTIMISATION_ONLY`; a setting unknown here counts, so that sums are
never shared across a difference that could matter), and δ, the diff algorithm and the stop words only under
BMC weights. The file records the reference's fingerprint, the pairs' sha256, these settings and a digest of
the tokenised pairs; a training job refuses a file made from other inputs, naming what differs.

Imports nothing heavy (the plan reads `reference_settings` when the Snakefile is parsed).
"""

from __future__ import annotations

import hashlib
from array import array
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bmc.io import InputError, fingerprint_changes, read_json

# settings of the `train` section that shape the optimisation only, not the reference's sums
OPTIMISATION_ONLY = frozenset(
    {
        "methods",
        "method_params",
        "seed",
        "data_seed",
        "learning_rate",
        "num_train_epochs",
        "max_steps",
        "lr_scheduler_type",
        "lr_scheduler_kwargs",
        "warmup_steps",
        "warmup_ratio",
        "gradient_accumulation_steps",
        "weight_decay",
        "adam_beta1",
        "adam_beta2",
        "adam_epsilon",
        "max_grad_norm",
        "optim",
        "optim_args",
        "gradient_checkpointing",
        "gradient_checkpointing_kwargs",
        "activation_checkpointing",
        "save_steps",
        "save_total_limit",
        "save_strategy",
        "save_only_model",
        "logging_steps",
        "logging_strategy",
        "logging_dir",
        "logging_first_step",
        "report_to",
        "disable_tqdm",
        "beta",
        "simpo_bmc_bound",
        # Liger patches the policy's layers when training starts; the reference is scored before, unpatched
        "use_liger_kernel",
        "liger_kernel_config",
    }
)
# settings that change the sums only through BMC's weights (masks and their bound)
WEIGHTING_ONLY = frozenset({"delta", "diff_algorithm", "stopword_forms"})
WEIGHTINGS = ("plain", "bmc")
COLUMNS = ("ref_chosen_logps", "ref_rejected_logps")


def uses_shared_sums(method: str, settings: dict[str, Any]) -> bool:
    """Whether a run of `method` with these settings reads the reference's sums before training: a method with
    a reference, except TDPO (it reads the reference's full distributions at every step), with
    `precompute_ref_logps` on (the default)."""
    from bmc.alignment.methods import get_method

    spec = get_method(method)
    return (
        spec.needs_reference and not spec.needs_distributions and settings.get("precompute_ref_logps", True)
    )


def job_settings_of(section: dict[str, Any], method: str) -> dict[str, Any]:
    """A run's settings: the section (a task's `train` settings as given) with the method's `method_params` entry
    on top (`method_entry`: its base method's, then its own)."""
    from bmc.alignment.methods import method_entry

    own = method_entry(section.get("method_params"), method)
    return {**{k: v for k, v in section.items() if k != "method_params"}, **own}


def weighting(method: str, settings: dict[str, Any]) -> str:
    """`bmc` when the run weights tokens by BMC's λ_t (the method's choice, or `bmc_weights`), else `plain`."""
    from bmc.alignment.methods import get_method

    given = settings.get("bmc_weights")
    return "bmc" if (get_method(method).bmc_weights if given is None else given) else "plain"


def reference_settings(method: str, settings: dict[str, Any]) -> dict[str, Any]:
    """The settings a run's reference sums depend on (`settings`: the run's own, `job_settings_of`), the
    weighting included as `bmc_weights`; the hyperparameters the method's module declares never count."""
    from bmc.alignment.methods import hyperparameters_of

    kind = weighting(method, settings)
    drop = (
        OPTIMISATION_ONLY
        | {"bmc_weights", "precompute_ref_logps"}
        | (WEIGHTING_ONLY if kind == "plain" else set())
        | set(hyperparameters_of(method))  # a method's own: its loss reads them, never the reference
    )
    kept = {k: v for k, v in sorted(settings.items()) if k not in drop}
    return {**kept, "bmc_weights": kind == "bmc"}


def tokens_digest(dataset) -> str:
    """sha256 of a tokenised preference dataset as the trainer scores it: each pair's ids and diff masks."""
    h = hashlib.sha256()
    columns = ("prompt_ids", "chosen_ids", "rejected_ids", "chosen_diff_mask", "rejected_diff_mask")
    for row in dataset.select_columns(list(columns)):
        for column in columns:
            values = array("q", row[column])
            h.update(len(values).to_bytes(8, "little") + values.tobytes())
    return h.hexdigest()


@dataclass(frozen=True)
class ReferenceSums:
    """A `reference_sums` file: the sums of every pair, in the order of the tokenised dataset."""

    path: str
    chosen: list[float]
    rejected: list[float]
    tokens_sha256: str

    @classmethod
    def read(cls, path: str | Path, expected: dict[str, Any]) -> ReferenceSums:
        """The file at `path`, checked against what the job computes them from (`expected`: `model`,
        `pairs_sha256`, `settings`): a file made from other inputs fails, naming what differs."""
        record = read_json(path)
        for key in ("inputs", "tokens_sha256", "chosen", "rejected"):
            if key not in record:
                raise InputError(path, None, f"no {key!r}: not a reference_sums file")
        changes = fingerprint_changes(record["inputs"], expected)
        if changes:
            raise InputError(
                path,
                None,
                "reference sums made from other inputs than this job's (file -> job): " + "; ".join(changes),
            )
        if len(record["chosen"]) != len(record["rejected"]):
            raise InputError(path, None, "chosen and rejected sums of different lengths")
        return cls(str(path), record["chosen"], record["rejected"], record["tokens_sha256"])

    def attach(self, dataset):
        """`dataset` (the trainer's tokenised pairs) with the sums as TRL's reference columns, once its pairs
        are checked to be those the sums were computed on."""
        if len(dataset) != len(self.chosen):
            raise InputError(self.path, None, f"sums of {len(self.chosen)} pairs, the job has {len(dataset)}")
        if tokens_digest(dataset) != self.tokens_sha256:
            raise InputError(self.path, None, "the job tokenised its pairs differently from the sums' job")
        return dataset.add_column(COLUMNS[0], self.chosen).add_column(COLUMNS[1], self.rejected)


def record(inputs: dict[str, Any], dataset) -> dict[str, Any]:
    """A `reference_sums` file's content from a trainer's dataset with its reference columns."""
    return {
        "inputs": inputs,
        "rows": len(dataset),
        "tokens_sha256": tokens_digest(dataset),
        "chosen": list(dataset[COLUMNS[0]]),
        "rejected": list(dataset[COLUMNS[1]]),
    }


def job_inputs(model: str, pairs: str, method: str, settings: dict[str, Any]) -> dict[str, Any]:
    """What a run's reference sums are computed from: the reference (the policy's initial model), the pairs and
    `reference_settings`."""
    from bmc.io import file_sha256, model_fingerprint

    return {
        "model": model_fingerprint(model) or str(model),
        "pairs_sha256": file_sha256(pairs),
        "settings": reference_settings(method, settings),
    }
