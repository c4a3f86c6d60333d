"""A stand-in for the hub file the `alpaca_eval` library's length control reads: `df_gamed.csv` of the dataset
`tatsu-lab/alpaca_eval`, laid out in a hub cache as `huggingface_hub` keeps it, so that `hf_hub_download` finds it
with HF_HUB_OFFLINE=1 and HF_HUB_CACHE pointing at that cache.

    python -m bmc.standin.alpaca_eval_hub --cache DIR [--n 805]

The file has the columns the library's GLM reads (`index`, `instruction_difficulty`, `preference`,
`std_delta_len`, `not_gamed_baseline`, `model`): two "gamed" rows per instruction (a verbose and a concise
variant), with made-up, deterministic values. The LC win rates it gives test the pipeline, not a model.
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

from bmc.io import write_text

REPO_FOLDER = "datasets--tatsu-lab--alpaca_eval"
REVISION = "0" * 40  # the stand-in snapshot's commit id
FILE = "df_gamed.csv"


def df_gamed(n: int) -> str:
    """The CSV text: the first n rows are instructions 0..n-1 in order (the library reads each instruction's
    difficulty from the first row of its index), then the concise variants."""
    rows = ["model,index,instruction_difficulty,preference,std_delta_len,not_gamed_baseline"]
    for variant, delta, shift in (("gamed_verbose", 1.5, 0.25), ("gamed_concise", -1.5, -0.25)):
        for i in range(n):
            difficulty = round(math.sin(i * 0.7), 4)
            preference = round(min(max(0.5 + shift - 0.2 * difficulty, 0.02), 0.98), 4)
            rows.append(f"{variant},{i},{difficulty},{preference},{delta},False")
    return "\n".join(rows) + "\n"


def lay_out(cache: str | Path, n: int = 805) -> Path:
    """Write the stand-in `df_gamed.csv` into the hub cache `cache`; returns its path."""
    repo = Path(cache) / REPO_FOLDER
    write_text(repo / "refs" / "main", REVISION)
    path = repo / "snapshots" / REVISION / FILE
    write_text(path, df_gamed(n))
    return path


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m bmc.standin.alpaca_eval_hub", description=__doc__.split("\n")[0]
    )
    p.add_argument("--cache", required=True, help="the hub cache folder (HF_HUB_CACHE)")
    p.add_argument("--n", type=int, default=805, help="instructions (AlpacaEval has 805)")
    args = p.parse_args(argv)
    print(lay_out(args.cache, args.n))


if __name__ == "__main__":
    main()
