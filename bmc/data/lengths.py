"""How many tokens each task's training examples hold, padded and not (the token counts of the cost plan).

Counted from the data the config reads, with the run's base model's tokenizer when its folder exists (else the
shipped SmolLM2 tokenizer, and the count says so):
- preference pairs: the run's own pairs file once the pair rules have made it (`results/<run>/pairs/<task>/`;
  instruction following's `given_pairs` writes UltraFeedback's); before that, for QA and math, the preference
  questions as the data stage reads them (the release folder once laid out, else the shipped seeded subset of
  the same files), each with its gold solution as the chosen response and another question's solution as the
  rejected one (the SFT model samples the real ones later); instruction following's UltraFeedback pairs from
  local `data.if.data_files` (a hub split is not read here);
- SFT examples: the task's SFT rows from the same sources.
Each sequence is the prompt in the task's format and the response, truncated to the section's `max_length`. A
padded micro-batch of `per_device_train_batch_size` examples holds every sequence at its longest one's length;
the epoch's micro-batches follow a seeded shuffle. `real` and `padded` are means per example (a pair: both
sequences).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.data.prompt_format import completion_text, prompt_text
from bmc.io import read_jsonl
from bmc.models.prepare import SHIPPED_TOKENIZER

if TYPE_CHECKING:
    from bmc.plan.runs import Plan

SAMPLE = 4000  # examples read per source at most (a seeded sample): the means settle long before


@dataclass(frozen=True)
class Lengths:
    real: float  # tokens per example
    padded: float  # positions per example in padded micro-batches
    n: int  # examples counted
    source: str

    @property
    def pad_fraction(self) -> float:
        return 1 - self.real / self.padded


def padded_mean(examples: list[list[int]], batch: int, seed: int = 0) -> float:
    """Positions per example when an epoch's micro-batches of `batch` examples are padded to their longest
    sequence (`examples`: each example's sequence lengths)."""
    order = list(range(len(examples)))
    random.Random(seed).shuffle(order)
    positions = 0
    for start in range(0, len(order), batch):
        seqs = [n for i in order[start : start + batch] for n in examples[i]]
        positions += len(seqs) * max(seqs)
    return positions / len(examples)


def measure(
    texts: list[list[tuple[str, str]]], tokenizer, max_length: int | None, batch: int, source: str
) -> Lengths:
    """The lengths of examples given as (prompt, response) texts per sequence."""
    flat = [p + r for example in texts for p, r in example]
    counts = iter(len(ids) for ids in tokenizer(flat, add_special_tokens=False)["input_ids"])
    examples = [[min(next(counts), max_length or 1 << 30) for _ in example] for example in texts]
    real = sum(map(sum, examples)) / len(examples)
    return Lengths(real, padded_mean(examples, batch), len(examples), source)


def sample(rows: list, seed: int = 0) -> list:
    return rows if len(rows) <= SAMPLE else random.Random(seed).sample(rows, SAMPLE)


class TaskLengths:
    """The lengths of one plan's tasks, read once per source."""

    def __init__(self, plan: Plan, root: Path):
        from transformers import AutoTokenizer

        self.plan, self.root = plan, root
        base = root / plan.results / "models" / "base"
        self.tokenizer_name = (
            f"{plan.results}/models/base" if base.is_dir() else "the shipped SmolLM2 tokenizer"
        )
        self.tokenizer = AutoTokenizer.from_pretrained(base if base.is_dir() else SHIPPED_TOKENIZER)
        self._cache: dict[tuple, Lengths | None] = {}

    def _format(self, task: str, section: str) -> str:
        return self.plan.task_settings(section, task).get("prompt_format", "paper")

    def _texts(self, user: str, replies: list[str], fmt: str) -> list[tuple[str, str]]:
        tok = self.tokenizer
        return [(prompt_text(user, fmt, tok), completion_text(user, reply, tok, fmt)) for reply in replies]

    def _once(self, count, *args) -> Lengths | None:
        key = (count.__name__, *args)
        if key not in self._cache:
            self._cache[key] = count(*args)
        return self._cache[key]

    def pairs(self, task: str, max_length: int | None, batch: int) -> Lengths | None:
        """Tokens per pair (None: not countable offline)."""
        return self._once(self._pairs, task, max_length, batch)

    def sft(self, task: str, max_length: int | None, batch: int) -> Lengths | None:
        """Tokens per SFT example (None: no SFT data to count)."""
        return self._once(self._sft, task, max_length, batch)

    def _pairs(self, task: str, max_length: int | None, batch: int) -> Lengths | None:
        fmt = self._format(task, "train")
        made = self.root / self.plan.pairs(task)
        if made.is_file():
            rows = sample(read_jsonl(made))
            texts = [self._texts(r["prompt"][0]["content"], [r["chosen"], r["rejected"]], fmt) for r in rows]
            return measure(
                texts, self.tokenizer, max_length, batch, f"{self.plan.pairs(task)} ({self.tokenizer_name})"
            )
        if task == "if":
            return self._ultrafeedback(max_length, batch, fmt)
        questions, where = self._questions(task)
        others = list(range(len(questions)))
        random.Random(0).shuffle(others)
        texts = [
            self._texts(q["question"], [q["solution"], questions[o]["solution"]], fmt)
            for q, o in zip(questions, others, strict=True)
        ]
        how = "each question's solution as chosen, another's as rejected"
        return measure(texts, self.tokenizer, max_length, batch, f"{where}: {how} ({self.tokenizer_name})")

    def _ultrafeedback(self, max_length: int | None, batch: int, fmt: str) -> Lengths | None:
        """UltraFeedback's pairs from local files (`data.if.data_files`), read as the data stage reads them; a hub
        split is not read here."""
        from bmc.data import ultrafeedback
        from bmc.data.hub import load_rows

        data = self.plan.settings.data.if_
        files = [data.data_files] if isinstance(data.data_files, str) else list(data.data_files or [])
        if data.source != "ultrafeedback" or not files or any(not (self.root / f).is_file() for f in files):
            return None
        spec = {
            "dataset": data.dataset,
            "revision": data.revision,
            "data_files": [str(self.root / f) for f in files],
        }
        rows, _ = ultrafeedback.preference_rows(load_rows(spec, data.split), ", ".join(files))
        texts = [self._texts(r["question"], [r["solution"], r["rejected"]], fmt) for r in sample(rows)]
        return measure(
            texts, self.tokenizer, max_length, batch, f"{', '.join(files)} ({self.tokenizer_name})"
        )

    def _folder(self, task: str) -> tuple[Path, str]:
        """The folder the data stage reads, or the shipped subset while the release is not laid out."""
        source = self.root / self.plan.data_input(task)
        if source.is_dir():
            return source, str(self.plan.data_input(task))
        shipped = f"{self.plan.resources}/data/{task}"
        return (
            self.root / shipped,
            f"{shipped} (a seeded sample of the released files; the release is not laid out)",
        )

    def _questions(self, task: str) -> tuple[list[dict], str]:
        from bmc.data import math, qa

        folder, where = self._folder(task)
        data = self.plan.settings.data.qa if task == "qa" else self.plan.settings.data.math
        if task == "qa":
            rows = [q for name in data.datasets for q in qa.load_questions(folder, name, "train")]
        else:
            rows, _ = math.load_training(folder)
        return sample(rows), where

    def _sft(self, task: str, max_length: int | None, batch: int) -> Lengths | None:
        from bmc.data import math, qa

        if task == "if":
            return None
        folder, where = self._folder(task)
        if task == "qa":
            rows = [(e["messages"][0]["content"], e["messages"][1]["content"]) for e in qa.load_sft(folder)]
        else:
            pool, _ = math.load_training(folder)
            rows = [(q["question"], q["solution"]) for q in pool]
        fmt = self._format(task, "sft")
        texts = [self._texts(user, [reply], fmt) for user, reply in sample(rows)]
        return measure(texts, self.tokenizer, max_length, batch, f"{where} ({self.tokenizer_name})")
