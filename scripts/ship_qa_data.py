"""Make the QA subsets shipped in workflow/resources/data/qa from the authors' released data.

Usage: python scripts/ship_qa_data.py RELEASE_DIR [--seed 0]
Rows are copied unchanged (plus their 1-based line/row number in the release, `line`); the same
release and seed give byte-identical files. Also copies the repository license and writes README.md.
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's `bmc`, not an installed copy
from bmc.io import write_jsonl  # noqa: E402

OUT = ROOT / "workflow" / "resources" / "data" / "qa"
DATASETS = {"ECQA": "ECQA", "QASC": "QASC", "OBQA": "OpenbookQA", "ARC": "ARC"}
SIZES = {"sft": 2000, "train": 300, "test": 200}


def sample_lines(path: Path, n: int, rng: random.Random) -> list[dict]:
    lines = path.read_text(encoding="utf-8").splitlines()
    picked = sorted(rng.sample(range(len(lines)), min(n, len(lines))))
    return [{**json.loads(lines[i]), "line": i + 1} for i in picked]


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
    (OUT / "README.md").write_text(readme(args.seed, len(sft)), encoding="utf-8")


def readme(seed: int, sft_available: int) -> str:
    """Provenance note for the shipped folder."""
    folders = ",".join(DATASETS.values())
    return f"""# QA data subsets (offline)

Seeded subsets (seed {seed}, made by `scripts/ship_qa_data.py <release>`) of the data released with
the BMC paper (github.com/YJiangcm/BMC, Apache-2.0, see `LICENSE-bmc-repo`), read from the offline
copy at `/work/shared/data/bmc-release`. Rows are unchanged; `line` is the row's 1-based line number
in the released file (row number for the parquet file). Each dataset keeps its original license:
ECQA (CDLA-Sharing-1.0), QASC (CC BY 4.0), OpenBookQA (Apache-2.0), ARC (CC BY-SA 4.0).

| file | rows | released file |
| --- | --- | --- |
| sft.jsonl | {SIZES["sft"]:,} of {sft_available:,} | qa_sft/train-00000-of-00001.parquet (`prompt_id`, `messages`) |
| {{{",".join(DATASETS)}}}/train.jsonl | {SIZES["train"]} each | {{{folders}}}/train.jsonl (`problem`, `solution`, `answer`) |
| {{{",".join(DATASETS)}}}/test.jsonl | {SIZES["test"]} each | {{{folders}}}/test.jsonl |

QASC's released test file equals its validation file (QASC's test labels are not public).
`bmc data` reads this folder or the full release (config `data.qa.source`); question ids and
`source` refer to the released files either way (e.g. `OBQA-train-12` is line 12 of
`OpenbookQA/train.jsonl`).
"""


if __name__ == "__main__":
    main()
