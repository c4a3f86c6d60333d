"""Statistical power of the tables' comparisons: paired tests per question and the smallest detectable difference.

- Graded answers (QA, math): the exact McNemar test on the questions where the two methods disagree
  (two-sided binomial test of the discordant counts b and c at 1/2), per question and seed.
- Judged answers (instruction following): a paired bootstrap of the per-question preference (mean over
  both judging orders), giving the difference's 95% CI and a two-sided p-value.
- The smallest difference detectable at 80% power and α = 0.05 two-sided, for n questions × seeds per method,
  from the two-proportion sample-size formula (Fleiss, without continuity correction) at the base method's
  accuracy. It ignores the pairing, so it is conservative for the paired test.
A paper's claimed difference is "resolvable" by a run when it is at least the run's detectable difference.
"""

from __future__ import annotations

import json
import math
import random
from collections import defaultdict
from pathlib import Path
from statistics import NormalDist

from bmc.alignment.methods import bmc_variant
from bmc.io import iter_jsonl
from bmc.records import GRADED_GENERATION, JUDGMENT

ALPHA, POWER = 0.05, 0.8
# comparisons of Table 1 (each BMC ablation against DPO) and Table 5 (each variant against its -BMC)
TABLE1_PAIRS = [("DPO", "DPO-MC"), ("DPO", "DPO-BC"), ("DPO", "DPO-BMC")]
VARIANT_PAIRS = [(v, bmc_variant(v)) for v in ("DPO", "IPO", "ORPO", "R-DPO", "SimPO")]


def exact_mcnemar(b: int, c: int) -> float:
    """Two-sided exact McNemar p-value for b and c discordant pairs (binomial test of b against n = b + c)."""
    n = b + c
    if n == 0:
        return 1.0
    tail = sum(math.comb(n, k) for k in range(min(b, c) + 1)) / 2**n
    return min(1.0, 2 * tail)


def paired_bootstrap(x: list[float], y: list[float], rounds: int = 2000, seed: int = 0) -> dict:
    """Mean of y - x over paired items, its 95% percentile CI and a two-sided bootstrap p-value."""
    if len(x) != len(y) or not x:
        raise ValueError("paired bootstrap needs two equally long, non-empty lists")
    diffs = [b - a for a, b in zip(x, y, strict=True)]
    rng = random.Random(seed)
    n = len(diffs)
    means = sorted(sum(rng.choices(diffs, k=n)) / n for _ in range(rounds))
    below = sum(m <= 0 for m in means) / rounds
    above = sum(m >= 0 for m in means) / rounds
    return {
        "diff": sum(diffs) / n,
        "ci_low": means[int(0.025 * (rounds - 1))],
        "ci_high": means[int(0.975 * (rounds - 1))],
        "p": min(1.0, 2 * min(below, above)),
    }


def required_n(p1: float, p2: float, alpha: float = ALPHA, power: float = POWER) -> int:
    """Items per group for a two-sided two-proportion test to detect p1 vs p2 (Fleiss, no continuity correction)."""
    if p1 == p2:
        raise ValueError("p1 and p2 must differ")
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)
    pbar = (p1 + p2) / 2
    root = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p1 * (1 - p1) + p2 * (1 - p2))
    return math.ceil(root**2 / (p1 - p2) ** 2)


def detectable_difference(n: int, p: float = 0.5, alpha: float = ALPHA, power: float = POWER) -> float:
    """Smallest increase d over a base rate p (a proportion) that n items per group detect, by bisection on
    the exact (unrounded) Fleiss formula; 1 - p when even that is not detectable."""
    if n < 1:
        raise ValueError("n must be >= 1")
    p = min(max(p, 1e-6), 1 - 1e-6)
    z_a, z_b = NormalDist().inv_cdf(1 - alpha / 2), NormalDist().inv_cdf(power)

    def needed(d: float) -> float:
        q, pbar = p + d, p + d / 2
        root = z_a * math.sqrt(2 * pbar * (1 - pbar)) + z_b * math.sqrt(p * (1 - p) + q * (1 - q))
        return root**2 / d**2

    lo, hi = 1e-9, 1 - p
    if needed(hi) > n:
        return hi
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if needed(mid) > n else (lo, mid)
    return hi


def outcomes(score_path: str) -> tuple[str, int, dict[tuple[str, str], float], bool]:
    """(method, seed, {(dataset, id): outcome}, graded) of one scores.json: the corrected grader's 0/1 verdict
    from records.jsonl, or for judged sets the mean preference over both orders from judgments.jsonl."""
    scores = json.loads(Path(score_path).read_text(encoding="utf-8"))
    folder, dataset = Path(score_path).parent, scores["dataset"]
    out: dict[tuple[str, str], float] = {}
    if (folder / "records.jsonl").exists():
        for r in iter_jsonl(folder / "records.jsonl", required=GRADED_GENERATION):
            out[(dataset, r["id"])] = float(r["correct"])
        return scores["method"], int(scores["seed"]), out, True
    from bmc.evaluation.judge import model_preference

    prefs = defaultdict(list)
    for j in iter_jsonl(folder / "judgments.jsonl", required=JUDGMENT):
        prefs[(dataset, j["id"])].append(model_preference(j))
    return scores["method"], int(scores["seed"]), {k: sum(v) / len(v) for k, v in prefs.items()}, False


def compare(base: dict, other: dict, graded: bool, seed: int = 0) -> dict:
    """Paired comparison of two methods' {(seed, dataset, id): outcome} on their shared items (percent points)."""
    keys = sorted(set(base) & set(other))
    if not keys:
        raise ValueError("the two methods share no scored question")
    x, y = [base[k] for k in keys], [other[k] for k in keys]
    boot = paired_bootstrap(x, y, seed=seed)
    row = {
        "n_items": len(keys),
        "base_score": 100 * sum(x) / len(x),
        "other_score": 100 * sum(y) / len(y),
        "diff": 100 * boot["diff"],
        "ci_low": 100 * boot["ci_low"],
        "ci_high": 100 * boot["ci_high"],
    }
    if graded:
        b = sum(a == 1 and o == 0 for a, o in zip(x, y, strict=True))
        c = sum(a == 0 and o == 1 for a, o in zip(x, y, strict=True))
        row |= {"test": "exact McNemar", "b": b, "c": c, "p": exact_mcnemar(b, c)}
    else:
        row |= {"test": "paired bootstrap", "p": boot["p"]}
    row["detectable"] = 100 * detectable_difference(len(keys), row["base_score"] / 100)
    return row


def paper_claim(table: str, paper: dict, base: str, other: str) -> tuple[float | None, float | None]:
    """(the paper's claimed difference other - base, the paper's score of base) for this table (Table 1
    averages, Table 5 gains, Table 2 AlpacaEval LC); None where not transcribed."""
    values = paper.get(table, {}).get("values", {})
    if table.startswith("table5_"):
        row = values.get(base, {})
        without = row.get("without")
        if row.get("gain") is not None:
            return row["gain"], without
        if row.get("with") is not None and without is not None:
            return round(row["with"] - without, 2), without
        return None, without
    field = "LC" if table == "table2" else "Avg"
    a, b = values.get(base, {}).get(field), values.get(other, {}).get(field)
    return (None if a is None or b is None else round(b - a, 2)), a


def power_rows(table: str, score_paths: list[str], paper: dict) -> list[dict]:
    """One row per comparison of the table whose two methods were both scored."""
    by_method: dict[str, dict] = defaultdict(dict)
    graded = True
    for path in score_paths:
        method, seed, items, is_graded = outcomes(path)
        graded &= is_graded
        by_method[method] |= {(seed, *k): v for k, v in items.items()}
    pairs = TABLE1_PAIRS if table.startswith("table1_") else VARIANT_PAIRS
    if table == "table2":
        pairs = TABLE1_PAIRS + VARIANT_PAIRS[1:]
    rows = []
    for base, other in pairs:
        if base in by_method and other in by_method:
            row = {"base": base, "other": other} | compare(by_method[base], by_method[other], graded)
            claim, paper_base = paper_claim(table, paper, base, other)
            row["paper_diff"] = claim
            row["resolvable"] = None if claim is None else abs(claim) >= row["detectable"]
            if claim:  # items per method that would resolve the claim, at the paper's base score if known
                p0 = min(max((row["base_score"] if paper_base is None else paper_base) / 100, 0.01), 0.99)
                p1 = min(max(p0 + claim / 100, 0.01), 0.99)
                row["n_needed"] = required_n(p0, p1) if p0 != p1 else None
            rows.append(row)
    return rows


def _f(x, digits: int = 1, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


def section(table: str, score_paths: list[str], paper: dict) -> list[str]:
    """Markdown lines: the table's paired tests, its detectable difference and which claims it can resolve."""
    rows = power_rows(table, score_paths, paper)
    if not rows:
        return []
    header = "| comparison | n (items × seeds) | Δ ours (95% CI) | test | p | detectable Δ | paper Δ | resolvable |"
    lines = ["", "#### Statistical power", "", header, "| " + " | ".join(["---"] * 8) + " |"]
    for r in rows:
        test = r["test"] + (f" (b={r['b']}, c={r['c']})" if "b" in r else "")
        if r["resolvable"] is None:
            verdict = "—"
        elif r["resolvable"]:
            verdict = "yes"
        else:
            verdict = f"no (needs ≈{r['n_needed']})" if r.get("n_needed") else "no"
        lines.append(
            f"| {r['other']} vs {r['base']} | {r['n_items']} | {_f(r['diff'], sign=True)} "
            f"({_f(r['ci_low'], sign=True)}, {_f(r['ci_high'], sign=True)}) | {test} | {r['p']:.3f} | "
            f"{_f(r['detectable'])} | {_f(r['paper_diff'], sign=True)} | {verdict} |"
        )
    lines += [
        "",
        "Δ in points of the suite's grader (QA/math: corrected rule, per question; instruction following: the "
        "judge's preference per question, both orders), paired by question and seed. Detectable Δ: the smallest "
        "difference this n detects at 80% power, α = 0.05 (two-sided, two-proportion formula at the base "
        "method's score, conservative for a paired test); a paper Δ below it cannot be resolved by this run, "
        "and ≈N is the number of items per method that would resolve it (at the paper's score of the base method).",
        "",
    ]
    return lines


def n_line(score_paths: list[str]) -> str:
    """Items scored per test set and seed, e.g. "ECQA 40, QASC 40" (every method the same n, else a range)."""
    ns: dict[str, set[int]] = defaultdict(set)
    for path in score_paths:
        s = json.loads(Path(path).read_text(encoding="utf-8"))
        ns[s["dataset"]].add(int(s["n"]) if "n" in s else int(s.get("judgments", 0)) // 2)
    cells = [f"{d} {min(v)}" if len(v) == 1 else f"{d} {min(v)}–{max(v)}" for d, v in ns.items()]
    return "n per cell (items per test set and seed): " + ", ".join(cells) + "."


def table_section(table: str, score_paths: list[str], paper_values: str, paper_key: str | None = None) -> str:
    """The power statement appended to a table's Markdown (its n per cell, paired tests, resolvable claims)."""
    import yaml

    paper = yaml.safe_load(Path(paper_values).read_text(encoding="utf-8"))
    if paper_key and paper_key in paper:
        paper[table] = paper[paper_key]
    return "\n".join(["", n_line(score_paths), *section(table, score_paths, paper)]) + "\n"
