"""`BMCTrainer`: TRL's DPOTrainer with the BMC objective and the DPO-family variants it is compared with.

TRL keeps the data pipeline (tokenisation, collation, truncation), training loop, checkpointing and the
reference precomputation. This subclass adds:
- diff masks between the chosen and rejected token ids, computed once at tokenisation (not per step) over
  the full prompt+response ids as the released code does, and kept for the response tokens only. The
  released code diffs the *padded* batch rows, so its trailing pad tokens (batch-dependent) can take part
  in the alignment; we diff the unpadded ids, which is batch-independent. Diffing the response ids alone
  is not equivalent: below 200 tokens difflib gives the same response marks, but from 200 tokens on its
  autojunk rule depends on the whole sequence (ECQA-style pairs repeated to ~300 tokens: 20% of pairs
  got different marks), so the prompt stays in the diff;
- a loss that weights each response token's log-prob by the method's token weights (BMC's
  λ_t = 1 + m_t·min(1/p_t, δ)), the policy's sums with the policy's own p_t and the reference's with the
  reference's own p_t, then applies the method's objective; both come from `bmc.alignment.objective`, where
  the equations are. With `precompute_ref_log_probs`, the reference's weighted sums are computed once per
  example before training (or read from a file the `reference_sums` rule wrote for every seed,
  `bmc.alignment.reference`) and no reference forward runs per step;
- padding-free batches (`padding_free`, `bmc.alignment.packing`): a micro-batch's sequences in one row, every
  per-sequence sum a segment sum; the objective and everything after it see the same per-pair terms.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import NamedTuple

import torch
from datasets.fingerprint import Hasher
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from bmc.alignment import objective, packing
from bmc.alignment.masks import ALGORITHMS, diff_masks
from bmc.alignment.methods import Method, get_method
from bmc.alignment.objective import Hyperparameters, PairTerms
from bmc.alignment.stopwords import stopword_ids

MASK_COLUMNS = ("chosen_diff_mask", "rejected_diff_mask")
STOPWORD_FORMS = ("released", "with_leading_space")
# DPOConfig options that BMCTrainer's own loss and collation would silently ignore, with their defaults
IGNORED_TRL_OPTIONS = {
    "label_smoothing": 0.0,
    "use_weighting": False,
    "loss_weights": None,
    "router_aux_loss_coef": None,
    "pad_token": None,
}


@dataclass
class BMCConfig(DPOConfig):
    """DPOConfig plus the BMC settings. `beta` is the objective's β (SimPO's β too); TRL's `loss_type`,
    `ld_alpha` and `f_divergence_type` are replaced by `method` and must stay at their defaults."""

    method: str = field(default="DPO-BMC", metadata={"help": "method name, see bmc.alignment.methods"})
    bmc_weights: bool | None = field(
        default=None,
        metadata={"help": "weight varied tokens by λ_t = 1 + m_t·min(1/p_t, δ); None = as the method says"},
    )
    delta: float = field(default=3.0, metadata={"help": "δ: upper bound of the confidence term 1/p_t"})
    diff_algorithm: str = field(
        default="difflib", metadata={"help": "difflib (released code) or levenshtein (paper text)"}
    )
    stopword_forms: str = field(
        default="released",
        metadata={
            "help": "released: each stop word tokenised bare, as the released code does; with_leading_space: "
            "also its space-prefixed form, the one byte-level BPE tokenizers use inside running text"
        },
    )
    simpo_bmc_bound: str = field(
        default="delta",
        metadata={
            "help": "bound of SimPO-BMC's confidence term 1/p_t: delta (the paper's δ) or released_1.0 (the "
            "authors' compiled SimPO-BMC trainer: 1.0, so varied tokens weigh 2); see bmc.alignment.objective"
        },
    )
    padding_free: bool = field(
        default=False,
        metadata={
            "help": "concatenate a micro-batch's chosen and rejected sequences into one row (position ids restarting "
            "per sequence) instead of padding them; every per-sequence sum becomes a segment sum, the loss is the "
            "padded batch's. Pair it with an attention kernel that runs each sequence on its own "
            "(flash_attention_2, or the suite's sdpa_varlen): transformers' sdpa attends over the whole row"
        },
    )

    def __post_init__(self):
        super().__post_init__()
        get_method(self.method)
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if self.delta <= 0:
            raise ValueError(f"delta must be > 0, got {self.delta}")
        if self.diff_algorithm not in ALGORITHMS:
            raise ValueError(f"diff_algorithm must be one of {ALGORITHMS}, got {self.diff_algorithm!r}")
        if self.stopword_forms not in STOPWORD_FORMS:
            raise ValueError(f"stopword_forms must be one of {STOPWORD_FORMS}, got {self.stopword_forms!r}")
        objective.confidence_bound("simpo", self.delta, self.simpo_bmc_bound)  # raises on an unknown bound
        if (
            list(self.loss_type) != ["sigmoid"]
            or self.ld_alpha is not None
            or self.f_divergence_type != "reverse_kl"
        ):
            raise ValueError(
                "set the objective with `method`, not TRL's loss_type / ld_alpha / f_divergence_type"
            )
        ignored = [name for name, default in IGNORED_TRL_OPTIONS.items() if getattr(self, name) != default]
        if ignored:
            raise ValueError(f"BMCTrainer's loss does not use TRL's {ignored}; leave them at their defaults")
        if self.padding_free and self.pad_to_multiple_of is not None:
            raise ValueError(
                f"padding_free leaves nothing to pad: unset pad_to_multiple_of (got {self.pad_to_multiple_of!r})"
            )
        if get_method(self.method).needs_distributions and self.precompute_ref_log_probs:
            raise ValueError(
                f"{self.method} needs the reference's full next-token distributions at every step, "
                "which cannot be precomputed; set precompute_ref_log_probs=False"
            )

    @property
    def hyperparameters(self) -> Hyperparameters:
        """The numbers every objective shares: β and the confidence bound (δ, or SimPO-BMC's released 1.0). A
        method's own (R-DPO's α, SimPO's γ, ...) come from its module's declaration (`BMCTrainer`'s
        `method_params`)."""
        return Hyperparameters(
            beta=self.beta,
            delta=objective.confidence_bound(self.resolved_method.loss, self.delta, self.simpo_bmc_bound),
        )

    @property
    def resolved_method(self) -> Method:
        method = get_method(self.method)
        if self.bmc_weights is None or self.bmc_weights == method.bmc_weights:
            return method
        return replace(method, bmc_weights=self.bmc_weights)


@dataclass
class BMCCollator(DataCollatorForPreference):
    """TRL's preference collator plus `diff_mask` (2·batch, seq), aligned with `input_ids` (prompt = 0); with
    `padding_free`, the same sequences in one row (`bmc.alignment.packing.pack`)."""

    padding_free: bool = False

    def truncate(self, seq: list[int]) -> list[int]:
        """`seq` truncated exactly as TRL truncates the ids."""
        if self.max_length is None:
            return seq
        return seq[: self.max_length] if self.truncation_mode == "keep_start" else seq[-self.max_length :]

    def torch_call(self, examples):
        masks = [[0] * len(e["prompt_ids"]) + list(e[col]) for col in MASK_COLUMNS for e in examples]
        masks = [self.truncate(m) for m in masks]
        if self.padding_free:
            return self.packed(examples, masks)
        out = super().torch_call(examples)
        width = out["input_ids"].shape[1]
        out["diff_mask"] = torch.tensor([m + [0] * (width - len(m)) for m in masks], dtype=torch.long)
        return out

    def packed(self, examples, masks: list[list[int]]) -> dict:
        sequences = [
            (
                self.truncate(e["prompt_ids"] + e[f"{side}_ids"]),
                self.truncate([0] * len(e["prompt_ids"]) + [1] * len(e[f"{side}_ids"])),
                mask,
            )
            for (side, e), mask in zip(
                [(side, e) for side in ("chosen", "rejected") for e in examples], masks, strict=True
            )
        ]
        out = packing.pack(sequences)
        for key in ("ref_chosen_logps", "ref_rejected_logps"):
            if key in examples[0]:
                out[key] = torch.tensor([e[key] for e in examples])
        return out


def response_masks(
    prompt_ids: list[int], chosen_ids: list[int], rejected_ids: list[int], stop_ids, algorithm: str
) -> tuple[list[int], list[int]]:
    """Diff masks of the full prompt+response sequences, restricted to the response tokens."""
    chosen_mask, rejected_mask = diff_masks(
        prompt_ids + chosen_ids, prompt_ids + rejected_ids, stop_ids, algorithm
    )
    n = len(prompt_ids)
    return chosen_mask[n:], rejected_mask[n:]


class Scores(NamedTuple):
    """A model's scores of the [chosen; rejected] rows: sums (2·batch,), per-token tensors (2·batch, seq-1), or
    (1, N-1) for a padding-free batch."""

    weighted: torch.Tensor  # Σ_t λ_t log p_t over response tokens
    plain: torch.Tensor  # Σ_t log p_t over response tokens
    counts: torch.Tensor  # response token counts
    outputs: object  # the model outputs
    # (2·batch, seq-1, vocab) next-token log-distributions, only for objectives that need them (TDPO)
    distributions: torch.Tensor | None = None
    token_logps: torch.Tensor | None = None  # (2·batch, seq-1) per-token log-probs (0 off the response)
    diff_mask: torch.Tensor | None = None  # (2·batch, seq-1) varied-token marks, aligned with token_logps
    segments: packing.Segments | None = None  # a padding-free batch's sequences (None: padded rows)


class BMCTrainer(DPOTrainer):
    """DPOTrainer whose loss is `bmc.alignment.objective.preference_loss` on the method's weighted sequence
    log-probs."""

    def __init__(
        self,
        model,
        args: BMCConfig,
        processing_class,
        data_collator=None,
        reference_sums=None,
        method_params=None,
        **kwargs,
    ):
        """`reference_sums`: the reference's sums of the training pairs as the `reference_sums` rule computed
        them (`bmc.alignment.reference.ReferenceSums`), used instead of computing them here. `method_params`:
        the hyperparameters the method's module declares (`bmc.alignment.method_spec`), its defaults for those
        not given; the loss reads them as `hp.params`."""
        if getattr(processing_class, "pad_token_id", None) is None:
            raise ValueError(
                "the tokenizer has no pad token: load it with bmc.models.prepare.load_tokenizer from a model "
                "folder the `model` stage made (its `pad_token_if_missing` sets one, default eos)"
            )
        self.method = args.resolved_method
        own = self.method.objective.resolve(method_params or {}, args.method)
        self.hp = replace(args.hyperparameters, params=own)
        self._stop_ids = stopword_ids(processing_class, args.stopword_forms == "with_leading_space")
        if data_collator is None:
            data_collator = BMCCollator(
                pad_token_id=processing_class.pad_token_id,
                max_length=args.max_length,
                truncation_mode=args.truncation_mode,
                pad_to_multiple_of=args.pad_to_multiple_of,
                padding_free=args.padding_free,
            )
        self.mask_stats = {"pairs": 0, "empty_masks": 0, "marked_chosen": 0, "marked_rejected": 0}
        self._given_reference_sums = reference_sums
        # TRL 1.16 turns its own padding_free off with a warning; BMCTrainer's collation and loss implement it
        padding_free, args.padding_free = args.padding_free, False
        try:
            super().__init__(
                model=model,
                args=args,
                processing_class=processing_class,
                data_collator=data_collator,
                **kwargs,
            )
        finally:
            args.padding_free = padding_free

    @property
    def reference_sums_file(self) -> str | None:
        """The `reference_sums` file the reference's sums were read from (None: computed here, or none)."""
        return self._given_reference_sums.path if self._given_reference_sums else None

    # ---- data: diff masks once per pair ---------------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        stop_ids, algorithm = self._stop_ids, args.diff_algorithm

        def add_masks(example):
            chosen, rejected = response_masks(
                example["prompt_ids"], example["chosen_ids"], example["rejected_ids"], stop_ids, algorithm
            )
            return {"chosen_diff_mask": chosen, "rejected_diff_mask": rejected}

        # The fingerprint names the weighting, so TRL's cached reference sums never mix DPO and BMC sums.
        m = self.method
        tag = (dataset._fingerprint, algorithm, sorted(stop_ids), args.delta, m.bmc_weights, m.loss)
        dataset = dataset.map(
            add_masks, new_fingerprint=Hasher.hash(tag), desc=f"Diff masks ({dataset_name})"
        )
        if dataset_name == "train":
            for cm, rm in zip(dataset["chosen_diff_mask"], dataset["rejected_diff_mask"], strict=True):
                self.mask_stats["pairs"] += 1
                self.mask_stats["empty_masks"] += int(not any(cm) and not any(rm))
                self.mask_stats["marked_chosen"] += sum(cm)
                self.mask_stats["marked_rejected"] += sum(rm)
        return dataset

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = list(self._signature_columns) + list(MASK_COLUMNS)

    def _precompute_ref_logps(self, dataset, name, batch_size):
        if not self.method.needs_reference:  # SimPO, ORPO, FIGA: nothing to precompute
            return dataset
        if self._given_reference_sums is not None and name == "train":
            return self._given_reference_sums.attach(dataset)
        if dataset.cache_files or self.accelerator.num_processes == 1:
            return super()._precompute_ref_logps(dataset, name, batch_size)
        # TRL caches the sums in a file beside the dataset's; a dataset built in memory has none, and each
        # process would look in its own temporary folder. Every process keeps the gathered sums in memory.
        chosen, rejected = self._reference_sums(dataset, name, batch_size)
        return dataset.add_column("ref_chosen_logps", chosen).add_column("ref_rejected_logps", rejected)

    def _reference_sums(self, dataset, name: str, batch_size: int) -> tuple[list[float], list[float]]:
        """The reference's weighted sums of every pair, computed in shards and gathered on every rank."""
        from torch.utils.data import DataLoader
        from trl.models import prepare_deepspeed

        loader = self.accelerator.prepare(
            DataLoader(dataset, batch_size=batch_size, collate_fn=self.data_collator, shuffle=False)
        )
        if self.ref_model is None and self.is_deepspeed_enabled:  # parameters still sharded before train()
            if self._precompute_engine is None:
                self._precompute_engine = prepare_deepspeed(self.model, self.accelerator)
            model = self._precompute_engine
        else:
            model = self.ref_model or self.model
        chosen, rejected = [], []
        for batch in loader:
            sums = self.accelerator.gather_for_metrics(self.compute_ref_log_probs(model, batch))
            chosen.append(sums[0].float().cpu())
            rejected.append(sums[1].float().cpu())
        if len(torch.cat(chosen)) != len(dataset):
            raise RuntimeError(f"reference sums for {len(torch.cat(chosen))} of {len(dataset)} {name} pairs")
        return torch.cat(chosen).tolist(), torch.cat(rejected).tolist()

    # ---- log-probs ------------------------------------------------------------------------------------
    def token_weights(
        self, token_logps: torch.Tensor, diff_mask: torch.Tensor, segments: packing.Segments | None = None
    ) -> torch.Tensor:
        """(2·batch, seq-1) per-token weights of the method, from the scoring model's own log-probs ((1, N-1) for
        a padding-free batch, whose `segments` say which positions are a rejected sequence's)."""
        return objective.token_weights(self.method, token_logps, diff_mask, self.hp.delta, segments)

    def sequence_logps(self, model, inputs, grad: bool) -> Scores:
        """Score the [chosen; rejected] sequences of `inputs` with `model` (the policy's or the reference's own
        λ_t); padded (2·batch rows) or padding-free (one row, `bmc.alignment.packing`)."""
        completion_mask = inputs["completion_mask"]  # (2·batch, seq), or (1, N) padding-free
        loss_mask = completion_mask[:, 1:]  # position t scores token t+1
        segments = packing.segments(inputs)
        model_inputs = packing.model_inputs(inputs)
        distributions = None
        with torch.set_grad_enabled(grad):
            if (
                self.method.needs_distributions
            ):  # full logits: TRL's fused head returns the label's log-prob only
                outputs = model(**model_inputs, use_cache=False)
                logits = outputs.logits[:, :-1]  # at least float32 for the softmax
                distributions = logits.to(torch.promote_types(logits.dtype, torch.float32)).log_softmax(
                    dim=-1
                )
                labels = inputs["input_ids"][:, 1:].unsqueeze(-1)
                token_logps = distributions.gather(-1, labels).squeeze(-1) * loss_mask
            else:
                labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
                outputs = model(**model_inputs, labels=labels, use_cache=False, fused_lm_head=True)
                token_logps = outputs.log_probs[:, -loss_mask.size(1) :]  # (2·batch, seq-1)
        packed = () if segments is None else (segments,)  # a padded batch's weights take (log-probs, masks)
        weights = self.token_weights(token_logps, inputs["diff_mask"][:, 1:], *packed)
        plain = objective.weighted_logps(token_logps, torch.ones_like(token_logps), loss_mask, segments)
        weighted = objective.weighted_logps(token_logps, weights, loss_mask, segments)
        diff_mask = inputs["diff_mask"][:, 1:] * loss_mask
        counts = objective.token_counts(loss_mask, segments)
        return Scores(weighted, plain, counts, outputs, distributions, token_logps, diff_mask, segments)

    def compute_ref_log_probs(self, model, inputs):
        """Reference's weighted sums (batch,) ×2, λ from the reference's own probabilities (also for precompute)."""
        with torch.no_grad(), self.accelerator.autocast():
            return self.sequence_logps(model, inputs, grad=False).weighted.chunk(2, dim=0)

    def _reference_scores(self, inputs) -> Scores:
        if self.ref_model is None:
            raise RuntimeError("no reference model to score the batch with")
        with torch.no_grad(), self.accelerator.autocast():
            return self.sequence_logps(self.ref_model, inputs, grad=False)

    def _reference_logps(self, inputs):
        if "ref_chosen_logps" in inputs:
            return inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        return self._reference_scores(inputs).weighted.chunk(2, dim=0)

    # ---- loss -----------------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        policy = self.sequence_logps(model, inputs, grad=True)
        weighted, plain, counts, outputs = policy.weighted, policy.plain, policy.counts, policy.outputs
        chosen, rejected = weighted.chunk(2, dim=0)  # (batch,) each
        chosen_len, rejected_len = counts.to(weighted.dtype).chunk(2, dim=0)
        seq_kl = None
        if self.method.needs_distributions:
            reference = self._reference_scores(inputs)
            ref_chosen, ref_rejected = reference.weighted.chunk(2, dim=0)
            kl = objective.sequential_kl(
                reference.distributions,
                policy.distributions,
                inputs["completion_mask"][:, 1:],
                policy.segments,
            )
            seq_kl = kl.chunk(2, dim=0)
        elif self.method.needs_reference:
            ref_chosen, ref_rejected = (
                r.to(weighted.device, weighted.dtype) for r in self._reference_logps(inputs)
            )
        else:
            ref_chosen = ref_rejected = torch.zeros_like(chosen)
        chosen_nll = objective.orpo_chosen_nll(plain.chunk(2, dim=0)[0], chosen_len)
        terms = PairTerms(
            chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, chosen_nll, seq_kl
        )
        losses = objective.preference_loss(self.method.loss, terms, self.hp)
        self._log_metrics(mode, terms)
        if mode == "train":
            self._log_token_dynamics(policy, inputs["completion_mask"][:, 1:])
        loss = losses.mean()
        return (loss, outputs) if return_outputs else loss

    def _log_metrics(self, mode: str, terms: PairTerms) -> None:
        gather = self.accelerator.gather_for_metrics
        with torch.no_grad():
            r_chosen, r_rejected = objective.implicit_rewards(self.method.loss, terms, self.hp.beta)
            metrics = {
                "rewards/chosen": r_chosen,
                "rewards/rejected": r_rejected,
                "rewards/accuracies": (r_chosen > r_rejected).float(),
                "rewards/margins": r_chosen - r_rejected,
                "logps/chosen": terms.policy_chosen,
                "logps/rejected": terms.policy_rejected,
            }
            for name, value in metrics.items():
                self._metrics[mode][name].append(gather(value.detach()).mean().item())

    def _log_token_dynamics(self, policy: Scores, loss_mask: torch.Tensor) -> None:
        """Mean log-prob of the varied and unvaried response tokens of chosen and rejected, read from the
        policy's forward pass of this step (no extra forward); logged with the step's other metrics."""
        with torch.no_grad():
            sums = token_group_sums(policy.token_logps.detach(), policy.diff_mask, loss_mask, policy.segments)
            # one gather of every group's (sum, count) on every process, so that no process waits on another
            totals = self.accelerator.gather(torch.stack(list(sums.values())).reshape(1, -1, 2))
            for key, (total, count) in zip(sums, totals.sum(dim=0).tolist(), strict=True):
                if count > 0:
                    self._metrics["train"][f"{TOKEN_DYNAMICS_PREFIX}{key}"].append(total / count)


TOKEN_DYNAMICS_PREFIX = "tokens/"
# the step's other logged values kept beside the token means (sequence-level implicit rewards, gradient norm)
STEP_KEYS = (
    "loss",
    "grad_norm",
    "rewards/chosen",
    "rewards/rejected",
    "rewards/margins",
    "rewards/accuracies",
)


def token_group_sums(
    token_logps: torch.Tensor,
    diff_mask: torch.Tensor,
    loss_mask: torch.Tensor,
    segments: packing.Segments | None = None,
) -> dict[str, torch.Tensor]:
    """{chosen,rejected}_{varied,unvaried}_logp: (sum of the log-probs, token count) of that group's tokens
    in the [chosen; rejected] rows (or a padding-free batch's `segments`), as a float tensor of two."""
    rejected = packing.rejected_positions(token_logps, segments)
    scored = loss_mask.bool()
    varied = diff_mask.bool() & scored
    out = {}
    for side, sel_side in (("chosen", ~rejected), ("rejected", rejected)):
        for group, sel in (("varied", varied & sel_side), ("unvaried", scored & ~varied & sel_side)):
            values = token_logps[sel].float()
            out[f"{side}_{group}_logp"] = torch.stack(
                [values.sum(), values.new_tensor(float(values.numel()))]
            )
    return out


def token_group_means(
    token_logps: torch.Tensor, diff_mask: torch.Tensor, loss_mask: torch.Tensor
) -> dict[str, float | None]:
    """The mean log-prob of each group's tokens (None when the group has no token)."""
    sums = token_group_sums(token_logps, diff_mask, loss_mask)
    return {k: (v[0] / v[1]).item() if v[1] > 0 else None for k, v in sums.items()}


def token_dynamics_rows(log_history: list[dict]) -> list[dict]:
    """The token-dynamics metrics of a trainer's log history, one row per logging step."""
    rows = []
    for entry in log_history:
        values = {
            k[len(TOKEN_DYNAMICS_PREFIX) :]: v
            for k, v in entry.items()
            if k.startswith(TOKEN_DYNAMICS_PREFIX)
        }
        if values:
            shared = {k.replace("/", "_"): entry[k] for k in STEP_KEYS if k in entry}
            rows.append({"step": entry.get("step"), "epoch": entry.get("epoch"), **values, **shared})
    return rows
