"""Hooks of the `bmc_*` lm-eval tasks: the test sets as the data stage writes them, the suite's evaluation
prompt (`bmc.data.tasks.answer_prompt`) and its graders (`bmc.data.tasks.grade`, `bmc.data.tasks.grade_released`).

Where the questions come from (lm-eval metadata, e.g. `--metadata '{"data_dir": "results/mini/data"}'`, or
the `dataset_kwargs` of a task config that includes ours, keeping its `test_set`):
- `data_files`: one `test/<SET>.jsonl` file (fields id, dataset, question, answer), for one task: a row
  of another test set is refused;
- `data_dir`: a folder holding `test/<SET>.jsonl` (the data stage's `results/<scale>/data/<task>`), the
  folder above it (`results/<scale>/data`, for both groups at once), or the `test` folder itself;
- neither: the shipped subsets (`workflow/resources/data`, a source checkout), read by the data stage's
  loaders, every question of the subset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bmc.data.records import TEST_ITEM
from bmc.data.tasks import answer_prompt, grade, grade_released
from bmc.io import InputError, read_jsonl

QA_SETS = ("ECQA", "QASC", "OBQA", "ARC")
MATH_SETS = ("gsm8k", "math-oai", "mawps", "tabmwp", "svamp", "asdiv")
SHIPPED_DATA = Path(__file__).resolve().parents[3] / "workflow" / "resources" / "data"


def task_of(test_set: str) -> str:
    """The suite's task (`qa` or `math`) of a test set."""
    if test_set in QA_SETS:
        return "qa"
    if test_set in MATH_SETS:
        return "math"
    raise ValueError(f"unknown test set {test_set!r}; expected one of {[*QA_SETS, *MATH_SETS]}")


def find_test_file(test_set: str, data_dir: str | Path) -> Path:
    """`test/<SET>.jsonl` under `data_dir`, its `<task>` subfolder, or `data_dir` itself."""
    folder, name = Path(data_dir), f"{test_set}.jsonl"
    candidates = [folder / "test" / name, folder / task_of(test_set) / "test" / name, folder / name]
    for path in candidates:
        if path.is_file():
            return path
    raise FileNotFoundError(f"no {name} for test set {test_set} (looked for {[str(p) for p in candidates]})")


def read_test_set(
    test_set: str, data_dir: str | Path | None = None, data_files: str | Path | None = None
) -> list[dict]:
    """The questions of a test set (id, dataset, question, answer), from a file, a folder or the shipped subset."""
    if data_files is None and data_dir is None:
        return [{k: q[k] for k in TEST_ITEM} for q in _shipped(test_set)]
    path = Path(data_files) if data_files is not None else find_test_file(test_set, data_dir)

    def check(row: dict) -> str | None:  # a file of another test set wired to this task
        return None if row["dataset"] == test_set else f"row is from {row['dataset']!r}, not {test_set!r}"

    rows = read_jsonl(path, required=TEST_ITEM, check=check)
    if not rows:
        raise InputError(path, None, "no test questions")
    return [{k: r[k] for k in TEST_ITEM} for r in rows]


def _shipped(test_set: str) -> list[dict]:
    if not SHIPPED_DATA.is_dir():
        raise FileNotFoundError(
            f"no shipped subsets at {SHIPPED_DATA} (a source checkout); give data_dir or data_files"
        )
    if task_of(test_set) == "qa":
        from bmc.data.qa import load_questions

        return load_questions(SHIPPED_DATA / "qa", test_set, "test")
    from bmc.data.math import load_test

    return load_test(SHIPPED_DATA / "math", test_set)


def load_test_set(test_set: str, data_dir: str | None = None, data_files: str | None = None, **_: Any):
    """lm-eval `custom_dataset`: the test set as a one-split ("test") DatasetDict.

    lm-eval passes every metadata entry (task version, model arguments) here too; those are ignored."""
    from datasets import Dataset, DatasetDict

    return DatasetDict({"test": Dataset.from_list(read_test_set(test_set, data_dir, data_files))})


def qa_prompt(doc: dict) -> str:
    return answer_prompt("qa", doc["question"])


def math_prompt(doc: dict) -> str:
    return answer_prompt("math", doc["question"])


def scores(task: str, response: str, answer: str) -> dict[str, float]:
    """Both metrics of one response: the suite's grader and the released rule."""
    return {
        "exact_match": float(grade(task, response, answer)[1]),
        "exact_match_released": float(grade_released(task, response, answer)[1]),
    }


def qa_results(doc: dict, results: list[str]) -> dict[str, float]:
    return scores("qa", results[0], doc["answer"])


def math_results(doc: dict, results: list[str]) -> dict[str, float]:
    return scores("math", results[0], doc["answer"])
