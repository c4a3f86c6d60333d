"""Make the math subsets shipped in workflow/resources/data/math from the authors' released data.

Usage: python scripts/ship_math_data.py RELEASE_DIR [--seed 0]
`train.jsonl` holds the released chain-of-thought rows that end with a final "The answer is ..." (code
solutions and rows without the cue are left out): all of `math/finetune_data_sampled.jsonl`'s and a
seeded sample of `math/cot_pretrain_data_sampled.jsonl`'s. Rows are copied unchanged plus `file` (the
released file) and `line` (1-based line number in it); test rows plus `line`. The same release and
seed give byte-identical files. Also copies the repository license and writes README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `bmc`, not an installed copy
from bmc.evaluation.math_answers import extract_answer_span  # noqa: E402
from bmc.io import write_jsonl  # noqa: E402

OUT = ROOT / "workflow" / "resources" / "data" / "math"
COT_FILE = "math/cot_pretrain_data_sampled.jsonl"
TRAIN_FILES = {"math/finetune_data_sampled.jsonl": None, COT_FILE: 400}  # file -> rows to sample (None: all)
TEST_SETS = ("gsm8k", "math-oai", "mawps")
TEST_N = 200


def numbered_rows(path: Path) -> list[dict]:
    """Every non-blank row of a JSONL file, plus its 1-based `line`."""
    lines = path.read_text(encoding="utf-8").splitlines()
    return [{**json.loads(text), "line": i} for i, text in enumerate(lines, 1) if text.strip()]


def sample_by_line(rows: list[dict], n: int, rng: random.Random) -> list[dict]:
    """A seeded sample of at most n rows, in line order."""
    return sorted(rng.sample(rows, min(n, len(rows))), key=lambda r: r["line"])


def without_line(row: dict) -> dict:
    return {k: v for k, v in row.items() if k != "line"}


def is_answered_cot(row: dict) -> bool:
    """A chain-of-thought row (not a code solution) whose output ends with a non-empty final answer."""
    return "## Code Solution" not in row["input"] and bool(extract_answer_span(row["output"]).strip("$ "))


def train_rows(release: Path, rng: random.Random) -> tuple[list[dict], dict]:
    """The shipped training rows (each file's in line order) and, per file, (kept, usable, rows)."""
    rows, counts = [], {}
    for file, n in TRAIN_FILES.items():
        released = numbered_rows(release / file)
        usable = [r for r in released if is_answered_cot(r)]
        kept = usable if n is None else sample_by_line(usable, n, rng)
        rows += [{**without_line(r), "file": file, "line": r["line"]} for r in kept]
        counts[file] = (len(kept), len(usable), len(released))
    return rows, counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("release", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    rows, counts = train_rows(args.release, rng)
    write_jsonl(OUT / "train.jsonl", rows)
    available = {}
    for name in TEST_SETS:
        released = numbered_rows(args.release / "math" / name / "test.jsonl")
        available[name] = len(released)
        write_jsonl(OUT / name / "test.jsonl", sample_by_line(released, TEST_N, rng))
    shutil.copy(args.release / "LICENSE-bmc-repo", OUT / "LICENSE-bmc-repo")
    (OUT / "README.md").write_text(readme(args.seed, counts, available), encoding="utf-8")


def readme(seed: int, counts: dict, available: dict) -> str:
    """Provenance note for the shipped folder."""
    train = "\n".join(
        f"| train.jsonl | {kept:,} of {usable:,} usable ({total:,} rows) | {file} |"
        for file, (kept, usable, total) in counts.items()
    )
    cot_n, cot_usable = TRAIN_FILES[COT_FILE], counts[COT_FILE][1]
    tests = "\n".join(
        f"| {s}/test.jsonl | {TEST_N} of {n:,} | math/{s}/test.jsonl |" for s, n in available.items()
    )
    return f"""# Math data subsets (offline)

Seeded subsets (seed {seed}, made by `scripts/ship_math_data.py <release>`) of the data released with
the BMC paper (github.com/YJiangcm/BMC, Apache-2.0, see `LICENSE-bmc-repo`), read from the offline
copy at `/work/shared/data/bmc-release`. Rows are unchanged; `line` is the row's 1-based line number
in the released file and, in `train.jsonl`, `file` is that file (relative to the release).

| file | rows | released file |
| --- | --- | --- |
{train}
{tests}

`train.jsonl` keeps only chain-of-thought rows whose output ends with a final "The answer is ..."
(`input` "## Question ... ## Solution" or "## Step-by-Step Solution"); rows with a "## Code Solution"
or without that cue are left out ("usable" counts the rest). All usable rows of
`finetune_data_sampled.jsonl` are kept, and a seeded sample of at most {cot_n} of
`cot_pretrain_data_sampled.jsonl`'s (only {cot_usable} of its rows end with the cue, so all are kept).
SVAMP and ASDiv are not shipped; read the release's `math/` folder for them (config `data.math.source`).

Licenses: the math SFT samples (`train.jsonl`) as released in the BMC repository (Apache-2.0
repository); GSM8K (MIT); MATH (MIT); MAWPS (research use, as distributed by the authors' repository).
`bmc data-math` reads this folder or the release's `math/` folder; question ids and `source` refer
to the released files either way (e.g. `gsm8k-test-12` is line 12 of `math/gsm8k/test.jsonl`,
`math-finetune-7` line 7 of `math/finetune_data_sampled.jsonl`).
"""


if __name__ == "__main__":
    main()
