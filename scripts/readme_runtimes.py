"""Write a scale's measured runtimes into docs/runtimes.md, from the Snakemake benchmark files of a finished run.

    python scripts/readme_runtimes.py --scale mini [--results results] [--doc docs/runtimes.md] [--check]

The table sits between `<!-- runtimes:<scale> -->` and `<!-- /runtimes:<scale> -->`; every number in it is
the wall time of a job that ran (results/<scale>/benchmarks/<rule>/<wildcards>.tsv), summed per rule and task.
`--check` only says whether the document's table is the one these files give.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import defaultdict
from pathlib import Path

from bmc.reporting.provenance import rule_times

TASKS = ("qa", "math", "if")


def job_task(rule: str, job: str) -> str:
    """The task a job belongs to: a wildcard folder (`sft/qa`) or the rule's suffix (`generate_math`)."""
    for part in [*job.split("/"), rule.rsplit("_", 1)[-1]]:
        if part in TASKS:
            return part
    return "all"


def runtime_table(bench_dir: Path) -> list[str]:
    """Markdown rows: per rule, its jobs and minutes per task, and the totals."""
    per_rule: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(lambda: [0, 0.0]))
    for row in rule_times(bench_dir):
        cell = per_rule[row["rule"]][job_task(row["rule"], row["job"])]
        cell[0] += 1
        cell[1] += row["seconds"]
    if not per_rule:
        raise SystemExit(f"no benchmark files under {bench_dir}: run the scale first")
    tasks = [t for t in (*TASKS, "all") if any(t in cells for cells in per_rule.values())]
    lines = ["| rule | " + " | ".join(tasks) + " |", "| --- |" + " ---: |" * len(tasks)]
    totals = {t: [0, 0.0] for t in tasks}
    order = sorted(per_rule, key=lambda r: -sum(c[1] for c in per_rule[r].values()))
    for rule in order:
        cells = []
        for t in tasks:
            jobs, secs = per_rule[rule].get(t, (0, 0.0))
            totals[t][0] += jobs
            totals[t][1] += secs
            cells.append(f"{secs / 60:.1f} min ({jobs})" if jobs else "")
        lines.append(f"| {rule} | " + " | ".join(cells) + " |")
    lines.append(
        "| **total** | " + " | ".join(f"**{s / 60:.0f} min** ({j})" for j, s in totals.values()) + " |"
    )
    return lines


def replace_block(text: str, scale: str, lines: list[str], kind: str = "runtimes") -> str:
    """`text` with the lines between `<!-- <kind>:<scale> -->` and `<!-- /<kind>:<scale> -->` replaced."""
    begin, end = f"<!-- {kind}:{scale} -->", f"<!-- /{kind}:{scale} -->"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if not pattern.search(text):
        raise SystemExit(f"no {begin} … {end} block")
    return pattern.sub(lambda _: "\n".join([begin, *lines, end]), text)


def block_main(
    argv: list[str] | None, kind: str, block, source: str, description: str, doc: str = "README.md"
) -> int:
    """The command line of a generated block of a document (`doc` by default): `block(results_dir, scale)` gives
    its lines, `--check` only compares them with the document's (exit 1 when they differ)."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--scale", required=True)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--doc", "--readme", dest="doc", type=Path, default=Path(doc), help=f"default: {doc}")
    p.add_argument("--check", action="store_true")
    args = p.parse_args(argv)
    text = args.doc.read_text(encoding="utf-8")
    new = replace_block(text, args.scale, block(args.results, args.scale), kind)
    if args.check:
        print(
            f"{args.doc} {kind} are current" if new == text else f"{args.doc} {kind} differ from the {source}"
        )
        return int(new != text)
    args.doc.write_text(new, encoding="utf-8")
    return 0


def main(argv: list[str] | None = None) -> int:
    def block(results: Path, scale: str) -> list[str]:
        return runtime_table(results / scale / "benchmarks")

    return block_main(argv, "runtimes", block, "benchmark files", __doc__.splitlines()[0], "docs/runtimes.md")


if __name__ == "__main__":
    sys.exit(main())
