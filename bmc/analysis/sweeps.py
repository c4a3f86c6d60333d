"""Sweeps beside the main runs: the training pairs of a sweep point (rule `sweep_pairs`,
`bmc.stages.sweep_pairs`), and reading a sweep's scores.

- `proportion`: a seeded share p of the pairs take their bridged pseudo-winning response, the rest keep y_w
  (Figure 3; p = 0 is DPO-MC's data, p = 1 DPO-BMC's).
- `edit_distance`: the pairs split into equal-count bins by the token edit distance between chosen and
  rejected (Figure 5); bin k of n.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

from bmc.reporting.intervals import average_interval


def mix_pairs(original: list[dict], bridged: list[dict], proportion: float, seed: int = 0) -> list[dict]:
    """Pairs in the original order; a seeded share `proportion` of them (rounded) are the bridged ones."""
    if not 0 <= proportion <= 1:
        raise ValueError(f"proportion must be in [0, 1], got {proportion}")
    by_id = {b["id"]: b for b in bridged}
    missing = [p["id"] for p in original if p["id"] not in by_id]
    if missing:
        raise ValueError(f"bridged pairs lack {missing[:5]}")
    ids = sorted(p["id"] for p in original)
    chosen = set(random.Random(seed).sample(ids, round(proportion * len(ids))))
    return [by_id[p["id"]] if p["id"] in chosen else p for p in original]


def edit_distance_bins(distances: list[int], bins: int) -> list[int]:
    """Bin index (0 = smallest distances) of each item: equal-count bins by rank, ties broken by position."""
    if bins < 1:
        raise ValueError("bins must be >= 1")
    order = sorted(range(len(distances)), key=lambda i: (distances[i], i))
    out = [0] * len(distances)
    for rank, i in enumerate(order):
        out[i] = rank * bins // len(distances)
    return out


def token_distances(pairs: list[dict], model: str) -> list[int]:
    """Token edit distance between each pair's chosen and rejected response (the model's tokenizer)."""
    from rapidfuzz.distance import Levenshtein

    from bmc.models.prepare import load_tokenizer

    tok = load_tokenizer(model)

    def ids(text: str) -> list[int]:
        return tok(text, add_special_tokens=False)["input_ids"]

    return [Levenshtein.distance(ids(p["chosen"]), ids(p["rejected"])) for p in pairs]


def read_scores(paths: list[str]) -> dict[str, dict]:
    """One model's scores.json files (or folders of <set>/scores.json): per set {score, n}, and their average."""
    files = [
        f
        for path in paths
        for f in (sorted(Path(path).glob("*/scores.json")) if Path(path).is_dir() else [path])
    ]
    sets = {}
    for path in files:
        s = json.loads(Path(path).read_text(encoding="utf-8"))
        sets[s["dataset"]] = {"score": float(s["score"]), "n": int(s["n"])}
    avg = sum(v["score"] for v in sets.values()) / len(sets) if sets else None
    low, high = average_interval(sets) if sets else (None, None)
    return {"sets": sets, "avg": avg, "n": sum(v["n"] for v in sets.values()), "ci_low": low, "ci_high": high}
