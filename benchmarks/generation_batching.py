"""Generation with a token budget per batch (`max_batch_tokens`) against count-only batches, on CPU.

Prints one JSON line: the wall time of greedy generation over the same prompts with `batch_size` alone
(`count_s`) and with `batch_size` plus `max_batch_tokens` (`budget_s`), their ratio (`speedup`), the
padded prompt tokens of each batching and whether both gave the same texts (they should: greedy, and
left padding does not change a prompt's continuation beyond float noise).

The prompts are the shipped Arena-Hard questions (long-tailed: most are under 300 tokens, a few run to
thousands), the first `--n` of them in file order, so the run sees the same kind of batch the mini
scale's instruction-following evaluation does.

Usage: python benchmarks/generation_batching.py [--model DIR] [--n 32] [--batch 32] [--budget 16384]
       [--new-tokens 64]
(default model: the seeded 2-layer random Llama of the smoke scale, built in a temporary folder; pass
--model results/mini/models/base for SmolLM2-135M-Instruct).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from bmc.config import ModelSection
from bmc.data.prompt_format import prompt_text
from bmc.generation.backends import GenerationParams, load_generator, token_budget_batches
from bmc.io import read_jsonl
from bmc.models.prepare import build_random_llama

QUESTIONS = Path(__file__).resolve().parents[1] / "workflow/resources/data/if/arena_hard.jsonl"


def padded_tokens(lengths: list[int], batches: list[list[int]]) -> int:
    return sum(len(b) * max(lengths[i] for i in b) for b in batches)


def timed(generator, prompts: list[str]) -> tuple[float, list[str]]:
    start = time.perf_counter()
    texts = generator.generate(prompts)
    return time.perf_counter() - start, texts


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default=None)
    p.add_argument("--n", type=int, default=32)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--budget", type=int, default=16384)
    p.add_argument("--new-tokens", type=int, default=64)
    args = p.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        model = args.model
        if model is None:
            model = str(Path(tmp) / "random")
            build_random_llama(
                Path(model), ModelSection(kind="random_llama", seed=0, max_position_embeddings=8192)
            )
        count = load_generator(model, GenerationParams(max_new_tokens=args.new_tokens, batch_size=args.batch))
        tokenizer = count.tokenizer
        questions = [r["turns"][0]["content"] for r in read_jsonl(QUESTIONS)][: args.n]
        prompts = [prompt_text(q, "paper", tokenizer) for q in questions]
        budget = load_generator(
            model,
            GenerationParams(
                max_new_tokens=args.new_tokens, batch_size=args.batch, max_batch_tokens=args.budget
            ),
        )
        lengths = [len(ids) for ids in tokenizer(prompts)["input_ids"]]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        count_batches = token_budget_batches(order, lengths, args.batch, None, args.new_tokens)
        budget_batches = token_budget_batches(order, lengths, args.batch, args.budget, args.new_tokens)
        budget_s, budget_texts = timed(budget, prompts)  # the faster one first: a cold cache penalises it
        count_s, count_texts = timed(count, prompts)
    print(
        json.dumps(
            {
                "model": args.model or "random-llama-2-layer",
                "prompts": len(prompts),
                "prompt_tokens": sum(lengths),
                "longest_prompt": max(lengths),
                "new_tokens": args.new_tokens,
                "count_batches": len(count_batches),
                "budget_batches": len(budget_batches),
                "count_padded_tokens": padded_tokens(lengths, count_batches),
                "budget_padded_tokens": padded_tokens(lengths, budget_batches),
                "count_s": round(count_s, 2),
                "budget_s": round(budget_s, 2),
                "speedup": round(count_s / budget_s, 2),
                "same_texts": sum(a == b for a, b in zip(count_texts, budget_texts, strict=True)),
            }
        )
    )


if __name__ == "__main__":
    main()
