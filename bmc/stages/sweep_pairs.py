"""Rule `sweep_pairs`: the training pairs of one sweep point (Figures 3 and 5).

`bmc.analysis.sweeps`:

- `proportion`: a seeded share p of the pairs take their bridged pseudo-winning response, the rest keep y_w
  (Figure 3; p = 0 is DPO-MC's data, p = 1 DPO-BMC's).
- `edit_distance`: the pairs split into equal-count bins by the token edit distance between chosen and
  rejected (Figure 5); bin k of n.
"""

from __future__ import annotations

import argparse

from bmc.analysis.sweeps import edit_distance_bins, mix_pairs, token_distances
from bmc.config import SweepPairsJob, job_settings
from bmc.io import read_jsonl, write_jsonl


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--kind", required=True, choices=("proportion", "edit_distance"))
    p.add_argument("--point", required=True, help="proportion p, or bin index k")
    p.add_argument(
        "--pairs", required=True, help="the pairs to mix or split (original, or bridged for a bin)"
    )
    p.add_argument("--bridged", default=None, help="bridged pairs (proportion)")
    p.add_argument("--model", default=None, help="a model folder with the tokenizer (edit_distance)")
    p.add_argument("--params", default="{}", help='JSON: {"seed": .., "bins": ..}')
    p.add_argument("--out", required=True)


def run(args: argparse.Namespace) -> None:
    settings = job_settings(SweepPairsJob, args.params, "sweep_pairs")
    pairs = read_jsonl(args.pairs)
    if args.kind == "proportion":
        rows = mix_pairs(pairs, read_jsonl(args.bridged), float(args.point), settings.seed)
    else:
        bins = edit_distance_bins(token_distances(pairs, args.model), settings.bins)
        rows = [p for p, b in zip(pairs, bins, strict=True) if b == int(args.point)]
    write_jsonl(args.out, rows)
