"""Padding-free preference batches against padded ones, on CPU: padding, tokens per step, step time and exactness.

Prints one JSON line:
- pad_fraction_padded, pad_fraction_padding_free: the share of a micro-batch's positions that hold padding, over
  every micro-batch of an epoch (the trainer's seeded shuffle), per data set: `mini_math` (the mini scale's
  math preference questions and batch size), `paper_qa` and `paper_math` (the paper's QA and math questions,
  max_length and batch size; the released data in --release where present, else the shipped subsets);
- tokens_per_step_padded, tokens_per_step_padding_free: positions per micro-batch (padded: 2·batch rows times
  the longest sequence; padding-free: the sequences' own tokens), the same data sets;
- step_time_ratio: padding-free over padded, the median time of a policy step (forward and backward, the
  reference's sums precomputed) over the same mini math micro-batches and the same model, the padded batch
  under PyTorch's SDPA and the padding-free one under sdpa_varlen (SDPA per sequence);
- max_abs_loss_diff, max_rel_grad_diff: over all 14 methods, padding-free against padded on one mini math
  micro-batch in float32 (a live reference, the policy moved off it): |loss difference| and, per parameter
  tensor, |g_padding_free - g_padded| / |g_padded| (L2 norms); the worst method is named. max_rel_loss_diff
  divides by the loss (IPO's is about (1/2β)² = 100 at β 0.05, where one float32 step is 7.6e-6);
  abs_loss_diff_by_method gives each method's. padded_floor_* are the same differences between the padded
  batch and the same batch padded to a multiple of 64 (the padded run's own sensitivity to its padding).

The pairs: a data set's preference questions with their gold solution as the chosen response and the solution
of another question of the set (a seeded permutation) as the rejected one, standing in for the SFT model's
wrong answer, which only a trained model can sample (--pairs: a pairs.jsonl instead, e.g. the mini run's
results/mini/pairs/math/pairs.jsonl). Tokens are counted with the shipped SmolLM2 tokenizer (the paper's
Llama-2 tokenizer is not offline). The model: a random Llama with SmolLM2-135M's widths (the mini scale's
architecture) and --layers layers (default 4; each layer costs the same share in both layouts), or --model.

Usage: python benchmarks/padding_free.py [--release ../shared/data/bmc-release] [--repeats 3] [--steps 3]
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
import yaml
from datasets import Dataset
from transformers import AutoModelForCausalLM

from bmc.alignment.methods import METHODS
from bmc.alignment.trainer import BMCConfig, BMCTrainer
from bmc.config import MathData, ModelSection
from bmc.data import math as math_data
from bmc.data import qa as qa_data
from bmc.data.prompt_format import completion_text, prompt_text
from bmc.io import read_jsonl
from bmc.models import attention
from bmc.models.prepare import build_random_llama, load_tokenizer

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "workflow" / "resources" / "data"
GOALS = {"pad_fraction_padding_free": 0.02, "step_time_ratio": 0.75, "loss": 1e-5, "grad": 1e-4}


def train_settings(scale: str) -> dict:
    return yaml.safe_load((REPO / "workflow" / "config" / f"{scale}.yaml").read_text())["train"]


def as_pairs(questions: list[dict], seed: int = 0) -> list[tuple[str, str, str]]:
    """(question, chosen, rejected): each question's solution, and another question's as the rejected one."""
    others = list(range(len(questions)))
    random.Random(seed).shuffle(others)
    return [
        (q["question"], q["solution"], questions[o]["solution"])
        for q, o in zip(questions, others, strict=True)
    ]


def data_sets(release: Path | None, pairs_file: str | None) -> dict[str, list[tuple[str, str, str]]]:
    """The benchmark's pairs: the mini run's math pairs, and paper-like QA and math pairs."""
    mini = yaml.safe_load((REPO / "workflow" / "config" / "mini.yaml").read_text())["data"]["math"]
    if pairs_file:
        rows = read_jsonl(pairs_file)
        mini_pairs = [(r["prompt"][0]["content"], r["chosen"], r["rejected"]) for r in rows]
    else:
        _, prefs, _ = math_data.training_sets(SHIPPED / "math", MathData(**mini))
        mini_pairs = as_pairs(prefs)
    source = release if release and (release / "ECQA").is_dir() else SHIPPED / "qa"
    qa = [
        q for name in ("ECQA", "QASC", "OBQA", "ARC") for q in qa_data.load_questions(source, name, "train")
    ]
    math_source = release if release and (release / "math").is_dir() else SHIPPED / "math"
    math_pool, _ = math_data.load_training(math_source)
    return {"mini_math": mini_pairs, "paper_qa": as_pairs(qa), "paper_math": as_pairs(math_pool)}


def rows_of(pairs: list[tuple[str, str, str]], tokenizer) -> list[dict]:
    return [
        {
            "prompt": prompt_text(q, "paper", tokenizer),
            "chosen": completion_text(q, c, tokenizer, "paper"),
            "rejected": completion_text(q, r, tokenizer, "paper"),
        }
        for q, c, r in pairs
    ]


def trainer_for(model_dir: str, rows: list[dict], settings: dict, out: Path, **changes) -> BMCTrainer:
    """A BMCTrainer over `rows` with the scale's max_length and batch size; a live reference unless
    `precompute_ref_log_probs`."""
    changes = {"method": "DPO-BMC", "padding_free": False, "precompute_ref_log_probs": True, **changes}
    if not METHODS[
        changes["method"]
    ].needs_reference:  # as the train stage: nothing to precompute, no reference
        changes["precompute_ref_log_probs"] = True
    args = BMCConfig(
        output_dir=str(out),
        report_to="none",
        use_cpu=True,
        bf16=False,
        max_length=settings["max_length"],
        per_device_train_batch_size=settings["per_device_train_batch_size"],
        beta=settings["beta"],
        delta=settings["delta"],
        dataset_num_proc=None,
        **changes,
    )

    def load():
        return AutoModelForCausalLM.from_pretrained(
            model_dir, dtype=torch.float32, attn_implementation="sdpa_varlen"
        )

    live = not args.precompute_ref_log_probs and METHODS[args.method].needs_reference
    trainer = BMCTrainer(
        model=load(),
        ref_model=load() if live else None,
        args=args,
        processing_class=load_tokenizer(model_dir),
        train_dataset=Dataset.from_list(rows),
    )
    trainer.model.train()
    return trainer


def epoch_batches(n: int, batch: int, seed: int = 0) -> list[list[int]]:
    """The example indices of an epoch's micro-batches, in a seeded shuffle."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()
    return [order[i : i + batch] for i in range(0, n, batch)]


def padding(trainer: BMCTrainer) -> dict:
    """Positions per micro-batch over an epoch, padded and padding-free."""
    data, limit = trainer.train_dataset, trainer.args.max_length
    lengths = [
        [min(len(e["prompt_ids"]) + len(e[f"{side}_ids"]), limit) for side in ("chosen", "rejected")]
        for e in data
    ]
    padded = real = 0
    batches = epoch_batches(len(data), trainer.args.per_device_train_batch_size)
    for indices in batches:
        seqs = [n for i in indices for n in lengths[i]]
        padded += len(seqs) * max(seqs)
        real += sum(seqs)
    return {"padded": padded / len(batches), "padding_free": real / len(batches), "pad": 1 - real / padded}


def step_seconds(runs: list[tuple[BMCTrainer, list[dict]]], repeats: int) -> list[float]:
    """Median time of compute_loss + backward over each run's batches, the runs interleaved batch by batch so
    that machine load affects them alike; the first round warms up."""
    times = [[] for _ in runs]
    for i in range(repeats + 1):
        for b in range(len(runs[0][1])):
            for (trainer, batches), bucket in zip(runs, times, strict=True):
                trainer.model.zero_grad()
                start = time.perf_counter()
                trainer.compute_loss(trainer.model, batches[b]).backward()
                if i:
                    bucket.append(time.perf_counter() - start)
    return [statistics.median(t) for t in times]


def loss_and_grads(trainer: BMCTrainer, examples: list[dict]):
    trainer.model.zero_grad()
    loss = trainer.compute_loss(trainer.model, trainer.data_collator(examples))
    loss.backward()
    return loss.item(), [p.grad.clone() for p in trainer.model.parameters() if p.grad is not None]


def differences(one, other) -> tuple[float, float, float]:
    """(|loss difference|, that relative to the loss, the largest relative L2 difference of a parameter's
    gradient) between two (loss, gradients)."""
    (l1, g1), (l2, g2) = one, other
    grad = max(((x - y).norm() / x.norm().clamp(min=1e-30)).item() for x, y in zip(g1, g2, strict=True))
    return abs(l1 - l2), abs(l1 - l2) / max(abs(l1), 1e-30), grad


EXACT = ("max_abs_loss_diff", "max_rel_loss_diff", "max_rel_grad_diff")


def exactness(model_dir: str, rows: list[dict], settings: dict, out: Path, pairs: int) -> dict:
    """The largest loss and gradient differences over every method: padding-free against padded, and the padded
    batch against itself padded to a multiple of 64 (the padded run's own float32 floor)."""
    worst: dict = {k: 0.0 for k in EXACT} | {f"padded_floor_{k[4:]}": 0.0 for k in EXACT}
    worst["abs_loss_diff_by_method"] = {}
    for method in sorted(METHODS):
        common = dict(method=method, precompute_ref_log_probs=False)
        padded = trainer_for(model_dir, rows[:pairs], settings, out / method, **common)
        packed = trainer_for(model_dir, rows[:pairs], settings, out / method, padding_free=True, **common)
        generator = torch.Generator().manual_seed(0)
        with torch.no_grad():  # move both policies off the reference, identically
            for a, b in zip(padded.model.parameters(), packed.model.parameters(), strict=True):
                noise = 0.02 * torch.randn(a.shape, generator=generator)
                a.add_(noise)
                b.add_(noise)
        examples = [padded.train_dataset[i] for i in range(len(padded.train_dataset))]
        base = loss_and_grads(padded, examples)
        found = differences(base, loss_and_grads(packed, examples))
        padded.data_collator.pad_to_multiple_of = 64
        floor = differences(base, loss_and_grads(padded, examples))
        worst["abs_loss_diff_by_method"][method] = float(f"{found[0]:.3g}")
        for key, value, floor_value in zip(EXACT, found, floor, strict=True):
            if value >= worst[key]:
                worst |= {key: value, f"worst_{key[4:-5]}_method": method}
            worst[f"padded_floor_{key[4:]}"] = max(worst[f"padded_floor_{key[4:]}"], floor_value)
        del padded, packed
    return worst


def padding_and_time(model_dir: str, sets: dict, scales: dict, tmp: Path, steps: int, repeats: int) -> dict:
    """Pad fractions and tokens per step of every data set, and the step times on mini math batches."""
    counts = {
        name: padding(trainer_for(model_dir, rows, scales[name], tmp / name, method="SimPO"))
        for name, rows in sets.items()
    }
    runs = []  # the same mini math micro-batches, padded and padding-free
    for free in (False, True):
        trainer = trainer_for(
            model_dir, sets["mini_math"], scales["mini_math"], tmp / f"time{free}", padding_free=free
        )
        order = epoch_batches(len(trainer.train_dataset), scales["mini_math"]["per_device_train_batch_size"])
        runs.append(
            (trainer, [trainer.data_collator([trainer.train_dataset[i] for i in b]) for b in order[:steps]])
        )
    padded_s, free_s = step_seconds(runs, repeats)
    return {
        "pad_fraction_padded": {n: round(c["pad"], 4) for n, c in counts.items()},
        "pad_fraction_padding_free": {n: 0.0 for n in counts},  # a padding-free batch holds no padding
        "tokens_per_step_padded": {n: round(c["padded"], 1) for n, c in counts.items()},
        "tokens_per_step_padding_free": {n: round(c["padding_free"], 1) for n, c in counts.items()},
        "step_time_ratio": round(free_s / padded_s, 3),
        "step_s_padded": round(padded_s, 3),
        "step_s_padding_free": round(free_s, 3),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--release", type=Path, default=REPO.parent / "shared" / "data" / "bmc-release")
    p.add_argument(
        "--pairs", default=None, help="the mini math pairs.jsonl (default: built from the questions)"
    )
    p.add_argument("--model", default=None, help="a model folder (default: a random SmolLM2-135M-wide Llama)")
    p.add_argument("--layers", type=int, default=4)
    p.add_argument("--steps", type=int, default=3, help="mini math micro-batches timed")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--check-pairs", type=int, default=4, help="pairs of the exactness micro-batch")
    p.add_argument("--exactness-only", action="store_true", help="only the loss and gradient differences")
    a = p.parse_args()
    torch.manual_seed(0)
    mini, paper = train_settings("mini"), train_settings("paper")
    with tempfile.TemporaryDirectory(prefix="bmc-bench-") as tmp:
        tmp = Path(tmp)
        model_dir = a.model
        if model_dir is None:
            model_dir = str(tmp / "model")
            shape = dict(
                hidden_size=576, intermediate_size=1536, num_attention_heads=9, num_key_value_heads=3
            )
            build_random_llama(
                Path(model_dir),
                ModelSection(kind="random_llama", seed=0, num_hidden_layers=a.layers, **shape),
            )
        tokenizer = load_tokenizer(model_dir)
        sets = {name: rows_of(pairs, tokenizer) for name, pairs in data_sets(a.release, a.pairs).items()}
        scales = {"mini_math": mini, "paper_qa": paper, "paper_math": paper}
        result = {}
        if not a.exactness_only:
            result = padding_and_time(model_dir, sets, scales, tmp, a.steps, a.repeats)
        exact = exactness(model_dir, sets["mini_math"], mini, tmp / "exact", a.check_pairs)
    result |= {k: (float(f"{v:.3g}") if isinstance(v, float) else v) for k, v in exact.items()}
    result |= {
        "pairs": {n: len(rows) for n, rows in sets.items()},
        "data": "release" if a.release and (a.release / "ECQA").is_dir() else "shipped subsets",
        "model": a.model or f"random Llama, SmolLM2-135M widths, {a.layers} layers",
        "threads": torch.get_num_threads(),
    }
    met = [exact["max_abs_loss_diff"] <= GOALS["loss"], exact["max_rel_grad_diff"] <= GOALS["grad"]]
    if not a.exactness_only:
        met.append(max(result["pad_fraction_padding_free"].values()) <= GOALS["pad_fraction_padding_free"])
        met.append(result["step_time_ratio"] <= GOALS["step_time_ratio"])
    result["goals_met"] = all(met)
    print(json.dumps(result))


if __name__ == "__main__":
    attention.check_available("sdpa_varlen")  # registers the kernel
    main()
