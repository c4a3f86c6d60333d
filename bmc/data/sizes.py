"""How many examples each task's jobs process, and where each number comes from (the sizes of the cost plan).

The sizes follow the data the config reads, so a changed source or subset size changes the plan:
- files of the authors' release (`data.<task>.source` in the release folder) are counted in the laid-out folder
  when the `release` rule has made it, else taken from the row counts its manifest records (`release.manifest`,
  default `workflow/resources/bmc_release.yaml`, checked by that rule); a file with neither is unknown;
- the instruction-following test sets are counted in the shipped folder the `data_if` rule reads;
- UltraFeedback's pairs come from the hub: local `data_files` are counted, a hub split cannot be.
A size that cannot be counted takes the one `plan.stated_sizes.<task>.<quantity>` states with its source, else
it is unknown. `data.<task>.sft_n`, `prefs_n` and `test_n` (per test set) cap each count as the data stages subsample. A
count's `source` says which of these it is; an unknown one has `n` None and says why.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from bmc.data.qa import RELEASE_FOLDERS
from bmc.data.release import count_rows, load_manifest

if TYPE_CHECKING:
    from bmc.plan.runs import Plan

MATH_PREFS = "math_dpo_bmc/"  # its rows: each distinct question is a preference question (bmc.data.math)


@dataclass(frozen=True)
class Size:
    n: int | None  # None: unknown
    source: str


def total(parts: list[Size]) -> Size:
    """The sum of `parts` (unknown if one is), its source theirs."""
    n = None if any(p.n is None for p in parts) else sum(p.n for p in parts)
    return Size(n, " + ".join(p.source for p in parts) or "nothing")


def capped(size: Size, limit: int | None, key: str) -> Size:
    """`size` subsampled to at most `limit` (the data setting `key`); an unknown size is at most the limit."""
    if limit is None or (size.n is not None and size.n <= limit):
        return size
    if size.n is None:
        return Size(limit, f"at most {key} = {limit:,} ({size.source})")
    return Size(limit, f"{key} = {limit:,} of {size.n:,} ({size.source})")


@dataclass
class TaskSizes:
    sft_examples: Size
    pairs: Size
    tests: dict[str, Size] = field(default_factory=dict)  # per test set

    @property
    def test_examples(self) -> Size:
        return total(list(self.tests.values()))


class ReleaseRows:
    """Row counts of the release's files by their path in the folder: counted there, else the manifest's."""

    def __init__(self, folder: Path, manifest: Path):
        self.folder = folder
        self.entries = {e["dest"]: e for e in load_manifest(manifest)[1].values()}

    def under(self, prefix: str, suffix: str = "") -> list[str]:
        return sorted(d for d in self.entries if d.startswith(prefix) and d.endswith(suffix))

    def size(self, dest: str) -> Size:
        path = self.folder / dest
        if path.is_file():
            return Size(count_rows(path), f"{dest} (counted in the release folder)")
        if dest not in self.entries:
            return Size(None, f"{dest} (not in the release manifest)")
        if "rows" in self.entries[dest]:
            return Size(self.entries[dest]["rows"], f"{dest} (release manifest)")
        return Size(None, f"{dest} (not counted until the `release` rule lays it out)")

    def sizes(self, dests: list[str]) -> Size:
        return total([self.size(d) for d in dests])


def _qa(plan: Plan, rows: ReleaseRows) -> TaskSizes:
    data = plan.settings.data.qa
    sft = capped(rows.sizes(rows.under("qa_sft/", ".parquet")), data.sft_n, "data.qa.sft_n")
    folders = {name: RELEASE_FOLDERS.get(name, name) for name in data.datasets}
    train = [capped(rows.size(f"{f}/train.jsonl"), data.prefs_n, "data.qa.prefs_n") for f in folders.values()]
    tests = {
        name: capped(rows.size(f"{f}/test.jsonl"), data.test_n, "data.qa.test_n")
        for name, f in folders.items()
    }
    return TaskSizes(sft, total(train), tests)


def _math(plan: Plan, rows: ReleaseRows) -> TaskSizes:
    data = plan.settings.data.math
    sft = capped(rows.sizes(rows.under("math_sft/", ".parquet")), data.sft_n, "data.math.sft_n")
    prefs = rows.sizes(rows.under(MATH_PREFS, ".parquet"))
    prefs = Size(prefs.n, f"at most the rows of {prefs.source}")  # repeated questions count once
    tests = {
        name: capped(rows.size(f"math/{name}/test.jsonl"), data.test_n, "data.math.test_n")
        for name in data.datasets
    }
    return TaskSizes(sft, capped(prefs, data.prefs_n, "data.math.prefs_n"), tests)


def _if(plan: Plan, root: Path) -> TaskSizes:
    data = plan.settings.data.if_
    if "if" in plan.given_sft_models or data.sft_n == 0:
        sft = Size(0, "no SFT job (sft_models.if)" if "if" in plan.given_sft_models else "data.if.sft_n = 0")
    else:
        sft = Size(None, "the instruction-following SFT split is not counted")
    local = [data.data_files] if isinstance(data.data_files, str) else list(data.data_files or [])
    if data.source == "ultrafeedback" and local and not any("://" in f for f in local):
        pairs = total([Size(count_rows(root / f), f"{f} (counted)") for f in local])
    else:
        pairs = Size(None, f"{data.dataset} {data.split}: a hub split, not counted offline")
    folder = f"{plan.resources}/data/if"  # where the `data_if` rule reads the test sets
    files = {"alpaca_eval": "alpaca_eval.json", "arena_hard": "arena_hard.jsonl"}
    tests = {}
    for name in data.datasets:
        path = f"{folder}/{files[name]}"
        tests[name] = capped(
            Size(count_rows(root / path), f"{path} (counted)"), data.test_n, "data.if.test_n"
        )
    return TaskSizes(sft, capped(pairs, data.prefs_n, "data.if.prefs_n"), tests)


def task_sizes(plan: Plan, root: Path) -> dict[str, TaskSizes]:
    """The sizes of each task the plan runs; paths of the config are relative to `root` (the workflow's folder).

    QA and math are counted only from the release: a config reading other files fails, naming the task."""
    rows = ReleaseRows(root / plan.release_dir, root / plan.release_manifest)
    stated = plan.settings.plan.stated_sizes if plan.settings.plan else {}
    sizes = {}
    for task in plan.tasks:
        if task != "if" and plan.data_input(task) != plan.release_dir:
            raise ValueError(
                f"the sizes of task {task} are counted from the release only (data.{task}.source)"
            )
        sizes[task] = _if(plan, root) if task == "if" else (_qa if task == "qa" else _math)(plan, rows)
        for quantity, given in stated.get(task, {}).items():  # only where the data cannot be counted
            if getattr(sizes[task], quantity).n is None:
                setattr(sizes[task], quantity, Size(given.n, f"stated, not counted: {given.source}"))
    return sizes
