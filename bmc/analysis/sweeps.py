"""Sweeps beside the main runs: the training pairs of a sweep point (rule `sweep_pairs`,
`bmc.stages.sweep_pairs`), and reading a sweep's scores.

- `proportion`: a seeded share p of the pairs take their bridged pseudo-winning response, the rest keep y_w
  (Figure 3; p = 0 is DPO-MC's data, p = 1 DPO-BMC's).
- `edit_distance`: the pairs split into equal-count bins by the token edit distance between chosen and
  rejected (Figure 5); bin k of n.

A sweep point's score is read under both graders, as the tables read theirs: the authors' released rule
(`score_released`, the paper's rule, first) and the suite's corrected rule (`score`) beside it, each the average
over the task's test sets with its approximate 95% interval; `released_rule` says what graded the released rule.
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


# each grading rule of a sweep point, the paper's first, and its scores.json field (bmc.stages.evaluate)
RULES = {"released": "score_released", "corrected": "score"}


def score_files(paths: list[str]) -> list[str]:
    """scores.json files, each path being one or a folder of <set>/scores.json."""
    return [
        str(f)
        for path in paths
        for f in (sorted(Path(path).glob("*/scores.json")) if Path(path).is_dir() else [path])
    ]


def read_scores(paths: list[str]) -> dict:
    """One model's scores.json files (or folders of <set>/scores.json): per set {n, released, corrected}, the
    questions `n`, what graded the released rule (`released_rule`: one value, several joined by "+", or None
    when not recorded) and per rule (`RULES`) the sets' average `score` with its 95% interval."""
    sets, graders = {}, set()
    for path in score_files(paths):
        s = json.loads(Path(path).read_text(encoding="utf-8"))
        missing = [k for k in ("dataset", "n", *RULES.values()) if k not in s]
        if missing:
            raise ValueError(f"{path} has no {missing}: score it again with the current `evaluate` stage")
        sets[s["dataset"]] = {"n": int(s["n"])} | {rule: float(s[key]) for rule, key in RULES.items()}
        graders.add(s.get("released_rule"))
    out = {"sets": sets, "n": sum(v["n"] for v in sets.values())}
    named = sorted(g or "not recorded" for g in graders)
    out["released_rule"] = "+".join(named) if graders - {None} else None
    for rule in RULES:
        by_set = {d: {"score": v[rule], "n": v["n"]} for d, v in sets.items()}
        low, high = average_interval(by_set) if by_set else (None, None)
        avg = sum(v["score"] for v in by_set.values()) / len(by_set) if by_set else None
        out[rule] = {"score": avg, "ci_low": low, "ci_high": high}
    return out


def point_cell(paths: list[str]) -> dict:
    """A sweep point's cell: n, released_rule and per rule {score, ci_low, ci_high} (`read_scores` without the
    sets)."""
    return {k: v for k, v in read_scores(paths).items() if k != "sets"}


def flat_cell(cell: dict) -> dict:
    """A cell as the columns of a figure's CSV: n, released_rule, score_<rule>, ci_low_<rule>, ci_high_<rule>."""
    out = {"n": cell["n"], "released_rule": cell["released_rule"]}
    for rule in RULES:
        out |= {f"{k}_{rule}": v for k, v in cell[rule].items()}
    return out
