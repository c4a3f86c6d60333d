"""Make the QA subsets shipped in workflow/resources/data/qa from the authors' released data.

Usage: python scripts/ship_qa_data.py RELEASE_DIR [--seed 0]
Rows are copied unchanged (plus their 1-based line number in the release, `line`).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
from pathlib import Path

import pandas as pd

OUT = Path(__file__).resolve().parents[1] / "workflow" / "resources" / "data" / "qa"
DATASETS = {"ECQA": "ECQA", "QASC": "QASC", "OBQA": "OpenbookQA", "ARC": "ARC"}
SIZES = {"sft": 2000, "train": 300, "test": 200}


def sample_lines(path: Path, n: int, rng: random.Random) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    picked = sorted(rng.sample(range(len(lines)), min(n, len(lines))))
    return [{**json.loads(lines[i]), "line": i + 1} for i in picked]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("release", type=Path)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    sft = pd.read_parquet(args.release / "qa_sft" / "train-00000-of-00001.parquet")
    picked = sorted(rng.sample(range(len(sft)), SIZES["sft"]))
    rows = [
        {"prompt_id": sft.prompt_id[i], "messages": [dict(m) for m in sft.messages[i]], "line": i + 1}
        for i in picked
    ]
    write_jsonl(OUT / "sft.jsonl", rows)
    for name, folder in DATASETS.items():
        for split in ("train", "test"):
            write_jsonl(
                OUT / name / f"{split}.jsonl",
                sample_lines(args.release / folder / f"{split}.jsonl", SIZES[split], rng),
            )
    shutil.copy(args.release / "LICENSE-bmc-repo", OUT / "LICENSE-bmc-repo")


if __name__ == "__main__":
    main()
