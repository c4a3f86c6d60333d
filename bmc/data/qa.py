"""QA data: validated, seeded subsets for SFT, pair building and evaluation (rule `data_qa`).

The resources folder is either the shipped subsets (`sft.jsonl`, `<SET>/{train,test}.jsonl`, rows carrying
their released `line`) or the authors' full release (`qa_sft/*.parquet`, `OpenbookQA/` for OBQA).
Writes `sft.jsonl`, `prefs.jsonl`, `test/<SET>.jsonl` and `summary.json` (formats in
docs/contracts.md). Question ids and `source` always point into the released files, so a question
has the same id whether it was read from the shipped subset or the full release.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.data.schemas import QA_FIELDS, SFT_FIELDS, check_qa_row, check_sft_row
from bmc.io import InputError, iter_jsonl, iter_lines, write_json, write_jsonl

if TYPE_CHECKING:
    from bmc.config import QAData

RELEASE_FOLDERS = {"OBQA": "OpenbookQA"}  # config name -> folder name in the authors' release


def dataset_folder(resources: Path, dataset: str) -> Path:
    """`<resources>/<dataset>` (shipped) or the release's folder name for it (e.g. OpenbookQA)."""
    names = [dataset] + ([RELEASE_FOLDERS[dataset]] if dataset in RELEASE_FOLDERS else [])
    for name in names:
        if (resources / name).is_dir():
            return resources / name
    raise InputError(resources, None, f"no folder for dataset {dataset!r} (looked for {names})")


def nonblank_line_numbers(path: Path) -> list[int]:
    """1-based numbers of the non-blank lines (the rows `iter_jsonl` yields, in order)."""
    return [i for i, line in iter_lines(path) if line.strip()]


def load_questions(resources: Path, dataset: str, split: str) -> list[dict]:
    """Every row of `<dataset>/<split>.jsonl` as a validated QA question record."""
    path = dataset_folder(resources, dataset) / f"{split}.jsonl"
    if not path.is_file():
        raise InputError(path, None, f"missing {split} split of {dataset}")
    released = f"{RELEASE_FOLDERS.get(dataset, dataset)}/{split}.jsonl"
    rows = iter_jsonl(path, required=QA_FIELDS, check=check_qa_row)
    questions = []
    for lineno, row in zip(nonblank_line_numbers(path), rows, strict=True):
        line = row.get("line", lineno)  # shipped rows keep their line in the released file
        questions.append(
            {
                "id": f"{dataset}-{split}-{line}",
                "task": "qa",
                "dataset": dataset,
                "question": row["problem"],
                "solution": row["solution"],
                "answer": row["answer"],
                "source": {"file": released, "line": line},
            }
        )
    if not questions:
        raise InputError(path, None, f"the {split} split of {dataset} has no rows")
    _check_unique(path, [q["id"] for q in questions])
    return questions


def load_sft(resources: Path) -> list[dict]:
    """SFT examples (`id`, `messages`) from the shipped `sft.jsonl` or the release's `qa_sft/*.parquet`."""
    shipped = resources / "sft.jsonl"
    if shipped.exists():
        rows = iter_jsonl(shipped, required=SFT_FIELDS, check=check_sft_row)
        examples = [{"id": r["prompt_id"], "messages": r["messages"]} for r in rows]
        if not examples:
            raise InputError(shipped, None, "no SFT examples")
        _check_unique(shipped, [e["id"] for e in examples])
        return examples
    files = sorted((resources / "qa_sft").glob("*.parquet"))
    if not files:
        raise InputError(resources, None, "neither sft.jsonl nor qa_sft/*.parquet found")
    examples = []
    for path in files:
        frame = read_parquet(path)
        missing = [c for c in SFT_FIELDS if c not in frame.columns]
        if missing:
            raise InputError(path, None, f"missing columns {missing} (columns: {list(frame.columns)})")
        for row_no, (pid, messages) in enumerate(zip(frame["prompt_id"], frame["messages"], strict=True), 1):
            turns = None if messages is None or isinstance(messages, str | dict) else list(messages)
            if turns is None or not all(hasattr(m, "keys") for m in turns):
                raise InputError(path, row_no, "messages should be a list of {role, content} turns")
            row = {"prompt_id": str(pid), "messages": [dict(m) for m in turns]}
            if msg := check_sft_row(row):
                raise InputError(path, row_no, msg)  # row number in the parquet table
            examples.append({"id": row["prompt_id"], "messages": row["messages"]})
    if not examples:
        raise InputError(files[0].parent, None, "no SFT examples in qa_sft/*.parquet")
    _check_unique(files[0].parent, [e["id"] for e in examples])
    return examples


def read_parquet(path: Path):
    """A parquet table; a file that is not one fails naming it."""
    import pandas as pd

    try:
        return pd.read_parquet(path)
    except Exception as e:  # noqa: BLE001 - pyarrow raises several types for a damaged file
        raise InputError(path, None, f"not a readable parquet file ({type(e).__name__}: {e})") from None


def subsample(rows: list, n: int | None, seed: int, name: str) -> list:
    """A seeded subset of n rows, kept in their original order; n None or >= len keeps all, 0 keeps none
    (as the math and instruction-following splits take it).

    The generator is seeded by (seed, name), so a subset does not depend on the other subsets drawn.
    """
    if n is None or n >= len(rows):
        return list(rows)
    keep = set(random.Random(f"{seed}:{name}").sample(range(len(rows)), n))
    return [r for i, r in enumerate(rows) if i in keep]


def write_outputs(out: Path, sft: list, prefs: list, tests: dict[str, list], summary: dict) -> None:
    """The data stage's files (formats in docs/contracts.md), written once every row is validated."""
    for dataset, rows in tests.items():
        write_jsonl(out / "test" / f"{dataset}.jsonl", rows)
    write_jsonl(out / "sft.jsonl", sft)
    write_jsonl(out / "prefs.jsonl", prefs)
    write_json(out / "summary.json", summary)


def _check_unique(path: Path, ids: list[str]) -> None:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InputError(path, None, f"duplicate id {i!r}")
        seen.add(i)


def build(resources: Path, settings: QAData) -> tuple[list, list, dict[str, list], dict]:
    """(SFT examples, preference questions, test questions per set, summary) of the `data.qa` settings."""
    seed = settings.seed
    sft_all = load_sft(resources)
    sft = subsample(sft_all, settings.sft_n, seed, "sft")
    summary: dict = {
        "seed": seed,
        "resources": str(resources),
        "sft": {"n": len(sft), "available": len(sft_all)},
        "prefs": {},
        "test": {},
    }
    prefs, tests = [], {}
    for dataset in settings.datasets:
        for split, n, kind in (("train", settings.prefs_n, "prefs"), ("test", settings.test_n, "test")):
            rows = load_questions(resources, dataset, split)
            picked = subsample(rows, n, seed, f"{dataset}-{split}")
            summary[kind][dataset] = {"n": len(picked), "available": len(rows)}
            if split == "train":
                prefs += picked
            else:
                tests[dataset] = picked
    return sft, prefs, tests, summary
