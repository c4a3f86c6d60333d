"""Stage `data`: validated, seeded QA subsets for SFT, pair building and evaluation.

Reads either the shipped subsets (`sft.jsonl`, `<SET>/{train,test}.jsonl`) or the authors' full
release (`qa_sft/*.parquet`, `OpenbookQA/` for OBQA). Writes `sft.jsonl`, `prefs.jsonl`,
`test/<SET>.jsonl` and `summary.json` (record formats in docs/contracts.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
from pathlib import Path

from bmc.io import InputError, iter_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)

FOLDERS = {"OBQA": ("OBQA", "OpenbookQA")}  # dataset name -> folder names to look for
QA_FIELDS = {"problem": str, "solution": str, "answer": str}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--resources", required=True, help="folder with the QA files (shipped or released)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--params", required=True, help="JSON: the config's `data.qa` section")


def options_of(problem: str) -> list[str] | None:
    """The answer options listed after 'Options:' (one per line), or None if there is no list."""
    head, sep, tail = problem.partition("\nOptions:\n")
    if not sep:
        return None
    return [o.strip() for o in tail.split("\n") if o.strip()]


def check_qa_row(row: dict) -> str | None:
    for key in QA_FIELDS:
        if not row[key].strip():
            return f"field {key!r} is empty"
    options = options_of(row["problem"])
    if not options:
        return "problem has no 'Options:' list (expected '<question>\\nOptions:\\n<one option per line>')"
    if row["answer"].strip().lower() not in {o.lower() for o in options}:
        return f"answer {row['answer']!r} is not one of the options {options}"
    return None


def check_sft_row(row: dict) -> str | None:
    roles = [m.get("role") if isinstance(m, dict) else None for m in row["messages"]]
    if roles != ["user", "assistant"]:
        return f"messages should be one user turn then one assistant turn, got roles {roles}"
    if not all(isinstance(m.get("content"), str) and m["content"].strip() for m in row["messages"]):
        return "a message has empty or non-string content"
    return None


def load_questions(resources: Path, dataset: str, split: str) -> list[dict]:
    folder = next((resources / f for f in FOLDERS.get(dataset, (dataset,)) if (resources / f).is_dir()), None)
    if folder is None:
        raise InputError(
            resources,
            None,
            f"no folder for dataset {dataset} (looked for {FOLDERS.get(dataset, (dataset,))})",
        )
    path = folder / f"{split}.jsonl"
    rows = []
    for lineno, row in enumerate(iter_jsonl(path, required=QA_FIELDS, check=check_qa_row), 1):
        line = row.get("line", lineno)  # shipped subsets keep the released line number
        rows.append(
            {
                "id": f"{dataset}-{split}-{line}",
                "task": "qa",
                "dataset": dataset,
                "question": row["problem"],
                "solution": row["solution"],
                "answer": row["answer"],
                "source": {"file": f"{folder.name}/{split}.jsonl", "line": line},
            }
        )
    return rows


def load_sft(resources: Path) -> list[dict]:
    shipped = resources / "sft.jsonl"
    if shipped.exists():
        rows = iter_jsonl(shipped, required={"prompt_id": str, "messages": list}, check=check_sft_row)
        return [{"id": r["prompt_id"], "messages": r["messages"]} for r in rows]
    import pandas as pd

    files = sorted((resources / "qa_sft").glob("*.parquet"))
    if not files:
        raise InputError(resources, None, "neither sft.jsonl nor qa_sft/*.parquet found")
    out = []
    for f in files:
        frame = pd.read_parquet(f)
        for i, (pid, messages) in enumerate(zip(frame["prompt_id"], frame["messages"], strict=True), 1):
            row = {"messages": [dict(m) for m in messages]}
            if msg := check_sft_row(row):
                raise InputError(f, i, msg)
            out.append({"id": str(pid), **row})
    return out


def subsample(rows: list[dict], n: int | None, rng: random.Random) -> list[dict]:
    """A seeded subset of n rows in their original order; n None/0 or >= len keeps all."""
    if not n or n >= len(rows):
        return rows
    keep = set(rng.sample(range(len(rows)), n))
    return [r for i, r in enumerate(rows) if i in keep]


def run(args: argparse.Namespace) -> None:
    params = json.loads(args.params)
    resources, out = Path(args.resources), Path(args.out)
    rng = random.Random(int(params.get("seed", 0)))
    sft = subsample(load_sft(resources), params.get("sft_n"), rng)
    prefs, summary = [], {"sft": len(sft), "prefs": {}, "test": {}}
    for dataset in params["datasets"]:
        train = subsample(load_questions(resources, dataset, "train"), params.get("prefs_n"), rng)
        test = subsample(load_questions(resources, dataset, "test"), params.get("test_n"), rng)
        prefs += train
        write_jsonl(out / "test" / f"{dataset}.jsonl", test)
        summary["prefs"][dataset], summary["test"][dataset] = len(train), len(test)
    write_jsonl(out / "sft.jsonl", sft)
    write_jsonl(out / "prefs.jsonl", prefs)
    write_json(out / "summary.json", summary)
    log.info("QA data: %s", summary)
