"""The QA and math answers of a finished run graded three ways, side by side: the authors' own code (from a
release folder laid out by the `release` rule, or any folder in its layout), the suite's re-implementation of
their rule, and the suite's corrected rule. Per task and method, the average over the test sets (%), the
number of answers, and how many verdicts the re-implementation and the authors' code disagree on.

    python scripts/compare_graders.py --results results/mini --release resources/bmc-release [--seed 0]

The generations a run keeps (`<results>/generations/<task>/<method>/seed<N>/<set>.jsonl`) are graded again; the
run's own scores are not read. Without `--release` the authors' column is left out.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from bmc.data.tasks import grade
from bmc.evaluation.released_code import authors_verdicts
from bmc.io import iter_jsonl

TASKS = ("qa", "math")


def grade_set(path: Path, task: str, release: str | None) -> dict[str, list[bool]]:
    """Per rule, the verdict of every answer of one generations file."""
    generations = list(iter_jsonl(path))
    dataset = path.stem
    verdicts = {
        "reimplementation": [
            grade(task, g["response"], g["answer"], "released", dataset)[1] for g in generations
        ],
        "corrected": [grade(task, g["response"], g["answer"])[1] for g in generations],
    }
    if release:
        authors, notes = authors_verdicts(release, task, dataset, generations)
        if authors is None:
            raise SystemExit(f"{release} cannot grade {task}/{dataset} with the authors' code")
        verdicts["authors_code"] = [correct for _, correct in authors]
    return verdicts


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--results", required=True, help="a run's results folder, e.g. results/mini")
    p.add_argument("--release", help="a folder holding the authors' grading code in the release layout")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    rules = (["authors_code"] if args.release else []) + ["reimplementation", "corrected"]
    print("| task | method | " + " | ".join(rules) + " | answers | re-implementation ≠ authors |")
    print("| --- | --- | " + " | ".join("---:" for _ in rules) + " | ---: | ---: |")
    for task in TASKS:
        folder = Path(args.results) / "generations" / task
        for method in sorted(p.name for p in folder.glob("*") if (p / f"seed{args.seed}").is_dir()):
            per_set = [
                grade_set(f, task, args.release)
                for f in sorted((folder / method / f"seed{args.seed}").glob("*.jsonl"))
            ]
            means = {r: sum(100 * sum(s[r]) / len(s[r]) for s in per_set) / len(per_set) for r in rules}
            answers = sum(len(s["corrected"]) for s in per_set)
            differ = (
                sum(
                    a != b
                    for s in per_set
                    for a, b in zip(s["authors_code"], s["reimplementation"], strict=True)
                )
                if args.release
                else "—"
            )
            cells = " | ".join(f"{means[r]:.1f}" for r in rules)
            print(f"| {task} | {method} | {cells} | {answers} | {differ} |")


if __name__ == "__main__":
    main()
