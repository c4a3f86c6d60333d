"""`BMCTrainer`: TRL's DPOTrainer with the BMC objective (and the DPO-family variants it is compared with).

TRL keeps the data pipeline, training loop, checkpointing and reference precomputation. This subclass adds:
- diff masks between the chosen and rejected token ids, computed once at tokenisation over the full
  prompt+response ids (the released code's semantics) and kept for the response tokens only;
- a loss that weights each response token's log-prob by λ_t = 1 + m_t·min(1/p_t, δ) (bmc.alignment.weights),
  with the policy's own p_t for the policy and the reference's own p_t for the reference, then applies the
  method's objective (bmc.alignment.losses).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from datasets.fingerprint import Hasher
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from bmc.alignment.losses import implicit_rewards, preference_loss
from bmc.alignment.masks import ALGORITHMS, diff_masks
from bmc.alignment.methods import get_method
from bmc.alignment.stopwords import stopword_ids
from bmc.alignment.weights import confidence_weights, token_counts, weighted_logps

MASK_COLUMNS = ("chosen_diff_mask", "rejected_diff_mask")


@dataclass
class BMCConfig(DPOConfig):
    """DPOConfig plus the BMC settings. `beta` is the objective's β (SimPO's β too)."""

    method: str = field(default="DPO-BMC", metadata={"help": "method name, see bmc.alignment.methods"})
    delta: float = field(default=3.0, metadata={"help": "δ: upper bound of the confidence weight 1/p"})
    diff_algorithm: str = field(
        default="difflib", metadata={"help": "difflib (released code) or levenshtein"}
    )
    rdpo_alpha: float = field(default=0.2, metadata={"help": "R-DPO length penalty α"})
    simpo_gamma: float = field(default=0.5, metadata={"help": "SimPO target margin γ"})
    orpo_lambda: float = field(default=0.1, metadata={"help": "ORPO weight λ of the odds-ratio term"})

    def __post_init__(self):
        super().__post_init__()
        get_method(self.method)
        if self.beta <= 0:
            raise ValueError(f"beta must be > 0, got {self.beta}")
        if self.delta <= 0:
            raise ValueError(f"delta must be > 0, got {self.delta}")
        if self.diff_algorithm not in ALGORITHMS:
            raise ValueError(f"diff_algorithm must be one of {ALGORITHMS}, got {self.diff_algorithm!r}")


@dataclass
class BMCCollator(DataCollatorForPreference):
    """TRL's preference collator plus `diff_mask` (2·batch, seq), aligned with `input_ids`."""

    def torch_call(self, examples):
        out = super().torch_call(examples)
        masks = [[0] * len(e["prompt_ids"]) + list(e["chosen_diff_mask"]) for e in examples]
        masks += [[0] * len(e["prompt_ids"]) + list(e["rejected_diff_mask"]) for e in examples]
        if self.max_length is not None:
            keep = (
                slice(None, self.max_length)
                if self.truncation_mode == "keep_start"
                else slice(-self.max_length, None)
            )
            masks = [m[keep] for m in masks]
        width = out["input_ids"].shape[1]
        out["diff_mask"] = torch.tensor([m + [0] * (width - len(m)) for m in masks], dtype=torch.long)
        return out


class BMCTrainer(DPOTrainer):
    """DPOTrainer whose loss is `bmc.alignment.losses.preference_loss` on BMC-weighted log-probs."""

    def __init__(self, model, args: BMCConfig, processing_class, data_collator=None, **kwargs):
        self.method = get_method(args.method)
        self._stop_ids = stopword_ids(processing_class)
        if data_collator is None:
            data_collator = BMCCollator(
                pad_token_id=processing_class.pad_token_id,
                max_length=args.max_length,
                truncation_mode=args.truncation_mode,
                pad_to_multiple_of=args.pad_to_multiple_of,
            )
        self.mask_stats = {"pairs": 0, "empty_masks": 0, "marked_chosen": 0, "marked_rejected": 0}
        super().__init__(
            model=model, args=args, processing_class=processing_class, data_collator=data_collator, **kwargs
        )

    # ---- data: diff masks once per pair -------------------------------------------------------------
    def _prepare_dataset(self, dataset, processing_class, args, dataset_name):
        dataset = super()._prepare_dataset(dataset, processing_class, args, dataset_name)
        stop_ids, algorithm = self._stop_ids, args.diff_algorithm

        def add_masks(example):
            n_prompt = len(example["prompt_ids"])
            chosen_mask, rejected_mask = diff_masks(
                example["prompt_ids"] + example["chosen_ids"],
                example["prompt_ids"] + example["rejected_ids"],
                stop_ids,
                algorithm,
            )
            return {
                "chosen_diff_mask": chosen_mask[n_prompt:],
                "rejected_diff_mask": rejected_mask[n_prompt:],
            }

        # The fingerprint names the weighting, so TRL's reference-logp cache never mixes DPO and BMC sums.
        tag = (dataset._fingerprint, algorithm, sorted(stop_ids), args.delta, self.method.bmc_weights)
        dataset = dataset.map(
            add_masks, new_fingerprint=Hasher.hash(tag), desc=f"Diff masks ({dataset_name})"
        )
        for cm, rm in zip(dataset["chosen_diff_mask"], dataset["rejected_diff_mask"], strict=True):
            self.mask_stats["pairs"] += 1
            self.mask_stats["empty_masks"] += int(not any(cm) and not any(rm))
            self.mask_stats["marked_chosen"] += sum(cm)
            self.mask_stats["marked_rejected"] += sum(rm)
        return dataset

    def _set_signature_columns_if_needed(self):
        super()._set_signature_columns_if_needed()
        self._signature_columns = list(self._signature_columns) + list(MASK_COLUMNS)

    # ---- log-probs ---------------------------------------------------------------------------------
    def sequence_logps(self, model, inputs, grad: bool) -> tuple[torch.Tensor, torch.Tensor, object]:
        """(2·batch,) weighted response log-probs, (2·batch,) token counts, and the model outputs."""
        completion_mask = inputs["completion_mask"]
        labels = inputs["input_ids"].masked_fill(completion_mask == 0, -100)
        kwargs = {
            "input_ids": inputs["input_ids"],
            "attention_mask": inputs["attention_mask"],
            "use_cache": False,
        }
        with torch.set_grad_enabled(grad):
            outputs = model(**kwargs, labels=labels, fused_lm_head=True)
        loss_mask = completion_mask[:, 1:]  # position t scores token t+1
        token_logps = outputs.log_probs[:, -loss_mask.size(1) :]
        if self.method.bmc_weights:
            weights = confidence_weights(token_logps, inputs["diff_mask"][:, 1:], self.args.delta)
        else:
            weights = torch.ones_like(token_logps)
        return weighted_logps(token_logps, weights, loss_mask), token_counts(loss_mask), outputs

    def compute_ref_log_probs(self, model, inputs):
        """Reference's weighted log-probs, with its own probabilities as confidence (used by precompute)."""
        logps, _, _ = self.sequence_logps(model, inputs, grad=False)
        return logps.chunk(2, dim=0)

    def _reference_logps(self, inputs):
        if "ref_chosen_logps" in inputs:
            return inputs["ref_chosen_logps"], inputs["ref_rejected_logps"]
        ref = self.ref_model if self.ref_model is not None else self.model
        return self.compute_ref_log_probs(ref, inputs)

    # ---- loss ----------------------------------------------------------------------------------------
    def _compute_loss(self, model, inputs, return_outputs):
        mode = "train" if self.model.training else "eval"
        logps, lengths, outputs = self.sequence_logps(model, inputs, grad=True)
        chosen, rejected = logps.chunk(2, dim=0)
        chosen_len, rejected_len = lengths.to(logps.dtype).chunk(2, dim=0)
        if self.method.needs_reference:
            ref_chosen, ref_rejected = self._reference_logps(inputs)
        else:
            ref_chosen = ref_rejected = torch.zeros_like(chosen)
        hp = {
            "beta": self.beta,
            "alpha": self.args.rdpo_alpha,
            "gamma": self.args.simpo_gamma,
            "lam": self.args.orpo_lambda,
        }
        losses = preference_loss(
            self.method.objective, chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len, hp
        )
        loss = losses.mean()
        self._log_preference_metrics(
            mode, chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len
        )
        return (loss, outputs) if return_outputs else loss

    def _log_preference_metrics(
        self, mode, chosen, rejected, ref_chosen, ref_rejected, chosen_len, rejected_len
    ):
        gather = self.accelerator.gather_for_metrics
        with torch.no_grad():
            r_chosen, r_rejected = implicit_rewards(
                self.method.objective,
                chosen,
                rejected,
                ref_chosen,
                ref_rejected,
                chosen_len,
                rejected_len,
                self.beta,
            )
            metrics = {
                "rewards/chosen": r_chosen,
                "rewards/rejected": r_rejected,
                "rewards/accuracies": (r_chosen > r_rejected).float(),
                "rewards/margins": r_chosen - r_rejected,
                "logps/chosen": chosen,
                "logps/rejected": rejected,
            }
            for name, value in metrics.items():
                self._metrics[mode][name].append(gather(value.detach()).mean().item())
