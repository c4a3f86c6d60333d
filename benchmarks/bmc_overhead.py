"""Cost of the BMC objective over plain DPO, per training step (forward + backward), on CPU.

Prints one JSON line:
- dpo_step_s, bmc_step_s, step_ratio: TRL's DPOTrainer vs BMCTrainer (DPO-BMC), live reference, same batch;
- recompute_over_precomputed: the mask work of one step as the released code does it inside every forward
  of the policy and the reference (re-tokenise the stop-word list, diff the padded rows), over the mask work
  of one step with masks precomputed at tokenisation (the collator padding them);
  recompute_s_per_step and step_with_recompute_over_step give the same cost in seconds and as a step ratio;
- difflib_pairs_per_s, levenshtein_pairs_per_s: diff-mask throughput on the full prompt+response ids;
- precomputed_ref_step_ratio: a BMC step with precomputed reference sums over one with a reference forward.

Usage: python benchmarks/bmc_overhead.py [--model DIR] [--batch 4] [--repeats 5]
(default model: the seeded 2-layer random Llama of the smoke scale, built in a temporary folder).

On the default model a step (~3 s on 2 cores) is almost all LM head: hidden size 64 but SmolLM2's
49,152-token vocabulary, so TRL's chunked log-prob kernel (logits, log-softmax and their backward over
8 sequences x ~95 tokens x 49,152) takes ~95% of it (cProfile); the two transformer layers are noise.
The ratios therefore compare BMC's extra work against a step of real, vocabulary-bound arithmetic.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import torch
from datasets import Dataset
from transformers import AutoModelForCausalLM, AutoTokenizer
from trl import DPOConfig, DPOTrainer
from trl.trainer.dpo_trainer import DataCollatorForPreference

from bmc.alignment import stopwords
from bmc.alignment.masks import diff_masks
from bmc.alignment.trainer import BMCConfig, BMCTrainer
from bmc.data.prompt_format import training_prompt

QUESTION = (
    "A student heats a pot of water on a stove. Which statement explains why the water boils?\nOptions:\n{}"
)
CHOSEN = (
    "Heat from the stove is transferred to the water by conduction and convection. When the water reaches "
    "its boiling point of 100 degrees Celsius, bubbles of vapour form throughout the liquid. The answer is {}"
)
REJECTED = (
    "Heat from the stove is transferred to the pot by radiation only. When the pot gets hot enough, the water "
    "evaporates from the surface without bubbles forming. The answer is {}"
)


def make_rows(n: int) -> list[dict]:
    options = ["heat energy", "cold air", "light", "pressure", "gravity", "sound", "friction", "magnetism"]
    return [
        {
            "prompt": training_prompt(QUESTION.format("\n".join(options[i % 8 :] + options[: i % 8]))),
            "chosen": CHOSEN.format(options[i % 8]),
            "rejected": REJECTED.format(options[(i + 1) % 8]),
        }
        for i in range(n)
    ]


def step_seconds(runs: list[tuple], repeats: int) -> list[float]:
    """Median wall time of compute_loss + backward for each (trainer, batch), the runs interleaved step by
    step so that drift in machine load affects them alike; the first round warms up."""
    times = [[] for _ in runs]
    for i in range(repeats + 1):
        for (trainer, batch), bucket in zip(runs, times, strict=True):
            trainer.model.zero_grad()
            start = time.perf_counter()
            trainer.compute_loss(trainer.model, batch).backward()
            if i:
                bucket.append(time.perf_counter() - start)
    return [sorted(t)[len(t) // 2] for t in times]


def build(kind: str, model_dir: str, rows: list[dict], out: Path, precompute: bool = False):
    tok = AutoTokenizer.from_pretrained(model_dir)
    common = dict(
        output_dir=str(out / kind),
        per_device_train_batch_size=len(rows),
        report_to="none",
        use_cpu=True,
        max_length=512,
        precompute_ref_log_probs=precompute,
    )

    def load():
        return AutoModelForCausalLM.from_pretrained(model_dir, dtype=torch.float32)

    if kind == "dpo":
        cls, args = DPOTrainer, DPOConfig(**common)
    else:
        cls, args = BMCTrainer, BMCConfig(method="DPO-BMC", **common)
    ref = None if precompute else load()
    trainer = cls(
        model=load(), ref_model=ref, args=args, processing_class=tok, train_dataset=Dataset.from_list(rows)
    )
    batch = trainer.data_collator([trainer.train_dataset[i] for i in range(len(rows))])
    return trainer, batch


def released_code_extra_seconds(tokenizer, batch, algorithm: str, repeats: int) -> float:
    """Per forward: rebuild the stop-word ids and diff every padded [chosen, rejected] row pair."""
    ids = batch["input_ids"].tolist()
    half = len(ids) // 2
    times = []
    for _ in range(repeats):
        stopwords._CACHE.clear()
        start = time.perf_counter()
        stops = stopwords.stopword_ids(tokenizer)
        for chosen, rejected in zip(ids[:half], ids[half:], strict=True):
            diff_masks(chosen, rejected, stops, algorithm)
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2]


def mask_collate_seconds(trainer, repeats: int) -> float:
    """Per step with precomputed masks: the collator's extra work to pad them (BMCCollator over TRL's)."""
    examples = [trainer.train_dataset[i] for i in range(len(trainer.train_dataset))]
    plain = DataCollatorForPreference(pad_token_id=trainer.processing_class.pad_token_id)
    ours, base = [], []
    for _ in range(repeats * 20):
        start = time.perf_counter()
        trainer.data_collator(examples)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        plain(examples)
        base.append(time.perf_counter() - start)
    return max(sorted(ours)[len(ours) // 2] - sorted(base)[len(base) // 2], 1e-7)


def pairs_per_second(
    sequences: list[tuple[list[int], list[int]]], stops, algorithm: str, rounds: int = 20
) -> float:
    start = time.perf_counter()
    for _ in range(rounds):
        for chosen, rejected in sequences:
            diff_masks(chosen, rejected, stops, algorithm)
    return rounds * len(sequences) / (time.perf_counter() - start)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None, help="model folder (default: build the smoke-scale random Llama)")
    p.add_argument("--batch", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args()
    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model_dir = a.model
        if model_dir is None:
            from bmc.config import ModelSection
            from bmc.models.prepare import build_random_llama

            model_dir = str(tmp / "model")
            build_random_llama(Path(model_dir), ModelSection(kind="random_llama", seed=0))
        rows = make_rows(a.batch)
        dpo, dpo_batch = build("dpo", model_dir, rows, tmp)
        bmc, bmc_batch = build("bmc", model_dir, rows, tmp)
        pre, pre_batch = build("pre", model_dir, rows, tmp, precompute=True)
        dpo_s, bmc_s, pre_s = step_seconds([(dpo, dpo_batch), (bmc, bmc_batch), (pre, pre_batch)], a.repeats)
        tok = bmc.processing_class
        extra = 2 * released_code_extra_seconds(tok, bmc_batch, "difflib", a.repeats)  # policy + reference
        stops = stopwords.stopword_ids(tok)
        data = bmc.train_dataset
        sequences = [(e["prompt_ids"] + e["chosen_ids"], e["prompt_ids"] + e["rejected_ids"]) for e in data]
        result = {
            "model": model_dir if a.model else "random-llama-2-layer",
            "batch_pairs": a.batch,
            "dpo_step_s": round(dpo_s, 5),
            "bmc_step_s": round(bmc_s, 5),
            "step_ratio": round(bmc_s / dpo_s, 3),
            # mask work per step: recomputed in every forward (released code) over padding precomputed masks
            "recompute_over_precomputed": round(extra / mask_collate_seconds(bmc, a.repeats), 1),
            "recompute_s_per_step": round(extra, 5),
            "step_with_recompute_over_step": round((bmc_s + extra) / bmc_s, 3),
            "difflib_pairs_per_s": round(pairs_per_second(sequences, stops, "difflib"), 1),
            "levenshtein_pairs_per_s": round(pairs_per_second(sequences, stops, "levenshtein"), 1),
            "precomputed_ref_step_ratio": round(pre_s / bmc_s, 3),
        }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
