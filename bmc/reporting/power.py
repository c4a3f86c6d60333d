"""Statistical power of the tables' comparisons: paired tests per question and the smallest detectable difference.

Like with like: each of our differences is set beside a paper difference of the same kind.
- Graded answers (QA, math): the exact McNemar test on the questions where the two methods disagree
  (two-sided binomial test of the discordant counts b and c at 1/2), per question and seed, on the verdicts of
  the authors' released rule (`correct_released` of records.jsonl, what the paper's averages mean); the
  corrected grader's difference and p-value on the same answers stand beside it.
- Judged answers (instruction following): a paired bootstrap of the per-question preference (mean over
  both judging orders), giving the difference's 95% CI and a two-sided p-value, per test set. That preference
  is the raw win rate's, so it is compared with the paper's raw numbers (AlpacaEval WR, Arena-Hard WR); the
  paper's length-controlled differences are not, as LC's detectable difference needs each answer's length,
  which the judged scores do not keep.
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

from bmc.alignment.methods import table1_comparisons, table5_comparisons
from bmc.data.records import GRADED_GENERATION, JUDGMENT
from bmc.io import iter_jsonl
from bmc.reporting import paper as paper_values

ALPHA, POWER = 0.05, 0.8
# comparisons of Table 1 (each BMC ablation against DPO, each method against its declared baseline) and Table 5
# (each method against its -BMC variant), from the methods' modules (bmc/alignment/methods); Table 2 makes both
TABLE1_PAIRS = table1_comparisons()
VARIANT_PAIRS = table5_comparisons()
TABLE2_PAIRS = list(dict.fromkeys(TABLE1_PAIRS + VARIANT_PAIRS))


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


GRADED_FIELDS = {"released": "correct_released", "corrected": "correct"}  # records.jsonl verdict per rule
# each judged test set's paper number of the same kind as the per-question preference (a raw win rate)
RAW_PAPER_FIELDS = {"alpaca_eval": "WR", "arena_hard": "AH"}


def outcomes(score_path: str) -> tuple[str, int, dict[str, dict[tuple[str, str], float]], bool]:
    """(method, seed, {rule: {(dataset, id): outcome}}, graded) of one scores.json: for graded sets the 0/1
    verdicts of both rules (`released`, `corrected`) from records.jsonl; for judged sets (rule `judged`) the mean
    preference over both orders from judgments.jsonl (judgments without a verdict left out)."""
    scores = json.loads(Path(score_path).read_text(encoding="utf-8"))
    folder, dataset = Path(score_path).parent, scores["dataset"]
    if (folder / "records.jsonl").exists():
        required = GRADED_GENERATION | {"correct_released": bool}
        out: dict[str, dict] = {rule: {} for rule in GRADED_FIELDS}
        for r in iter_jsonl(folder / "records.jsonl", required=required):
            for rule, field in GRADED_FIELDS.items():
                out[rule][(dataset, r["id"])] = float(r[field])
        return scores["method"], int(scores["seed"]), out, True
    from bmc.evaluation.judge import model_preference

    prefs = defaultdict(list)
    for j in iter_jsonl(folder / "judgments.jsonl", required=JUDGMENT):
        preference = model_preference(j)
        if preference is not None:
            prefs[(dataset, j["id"])].append(preference)
    judged = {k: sum(v) / len(v) for k, v in prefs.items()}
    return scores["method"], int(scores["seed"]), {"judged": judged}, False


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


def paper_claim(
    table: str, paper: dict, base: str, other: str, dataset: str | None = None
) -> tuple[float | None, float | None, str | None]:
    """(the paper's claimed difference other - base, the paper's score of base, why the claim is unverified or
    None) of the same kind as our difference: Table 1 averages and Table 5 gains (released rule) for graded sets,
    the raw win rate of the judged `dataset` (Table 2's AlpacaEval WR or Arena-Hard WR); None where the paper
    gives no such number (Table 5's instruction-following column reports LC only)."""
    e = paper_values.entry(paper, table)
    if table.startswith("table5_"):
        if dataset is not None:  # judged: the paper's Table 5 gives LC, not a raw win rate
            return None, None, None
        claim, unsure = paper_values.claimed_gain(e, base)
        return claim, paper_values.value(e, base, "without"), unsure
    field = RAW_PAPER_FIELDS.get(dataset) if dataset else "Avg"
    if field is None:
        return None, None, None
    a, b = paper_values.value(e, base, field), paper_values.value(e, other, field)
    unsure = paper_values.doubt(e, base, field) or paper_values.doubt(e, other, field)
    return (None if a is None or b is None else round(b - a, 2)), a, unsure


def power_rows(table: str, score_paths: list[str], paper: dict) -> list[dict]:
    """One row per comparison of the table whose two methods were both scored: graded tables pool their test
    sets (the paper's claims are averages), judged ones compare each test set on its own."""
    by_method: dict[str, dict[str, dict]] = defaultdict(lambda: defaultdict(dict))
    graded = True
    for path in score_paths:
        method, seed, by_rule, is_graded = outcomes(path)
        graded &= is_graded
        for rule, items in by_rule.items():
            by_method[method][rule] |= {(seed, *k): v for k, v in items.items()}
    pairs = TABLE1_PAIRS if table.startswith("table1_") else VARIANT_PAIRS
    if table == "table2":
        pairs = TABLE2_PAIRS
    rows = []
    for base, other in pairs:
        if base not in by_method or other not in by_method:
            continue
        if graded:
            rows.append(_graded_row(table, paper, base, other, by_method))
            continue
        for dataset in sorted({k[1] for k in by_method[base]["judged"]}):
            items = [
                {k: v for k, v in by_method[m]["judged"].items() if k[1] == dataset} for m in (base, other)
            ]
            if set(items[0]) & set(items[1]):
                row = {"base": base, "other": other, "dataset": dataset} | compare(*items, graded=False)
                rows.append(_with_claim(row, *paper_claim(table, paper, base, other, dataset)))
    return rows


def _graded_row(table: str, paper: dict, base: str, other: str, by_method: dict) -> dict:
    """The released rule's paired test (the paper's) with the corrected grader's difference and p beside it."""
    row = {"base": base, "other": other} | compare(
        by_method[base]["released"], by_method[other]["released"], True
    )
    corrected = compare(by_method[base]["corrected"], by_method[other]["corrected"], True)
    row |= {f"{k}_corrected": corrected[k] for k in ("diff", "p", "b", "c")}
    return _with_claim(row, *paper_claim(table, paper, base, other))


def _with_claim(row: dict, claim: float | None, paper_base: float | None, unsure: str | None) -> dict:
    """The paper's claim beside our row: whether this run's detectable difference resolves it, and the items per
    method that would (at the paper's score of the base method if known)."""
    row |= {"paper_diff": claim, "paper_unverified": unsure}
    row["resolvable"] = None if claim is None else abs(claim) >= row["detectable"]
    if claim:
        p0 = min(max((row["base_score"] if paper_base is None else paper_base) / 100, 0.01), 0.99)
        p1 = min(max(p0 + claim / 100, 0.01), 0.99)
        row["n_needed"] = required_n(p0, p1) if p0 != p1 else None
    return row


def _f(x, digits: int = 1, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.{digits}f}" if sign else f"{x:.{digits}f}"


GRADED_NOTE = (
    "Δ in points of the authors' released rule (the paper's), per question, paired by question and seed; "
    "Δ corrected: the suite's grader on the same answers. "
)
JUDGED_NOTE = (
    "Δ in points of the judge's raw preference per question (both orders, ties half), paired by question and "
    "seed, per test set; the paper Δ beside it is the paper's raw number of that set (AlpacaEval WR, Arena-Hard "
    "WR), never its LC: LC's detectable difference needs each answer's length, which the judged scores do not "
    "keep, so the paper's LC differences are not judged here. "
)
COMMON_NOTE = (
    "Detectable Δ: the smallest difference this n detects at 80% power, α = 0.05 (two-sided, two-proportion "
    "formula at the base method's score, conservative for a paired test); a paper Δ below it cannot be resolved "
    "by this run, and ≈N is the number of items per method that would resolve it (at the paper's score of the "
    "base method)."
)


def section(table: str, score_paths: list[str], paper: dict, rows: list[dict] | None = None) -> list[str]:
    """Markdown lines: the table's paired tests, its detectable difference and which claims it can resolve."""
    rows = power_rows(table, score_paths, paper) if rows is None else rows
    if not rows:
        return []
    graded = "dataset" not in rows[0]
    header = ["comparison", *([] if graded else ["set"]), "n (items × seeds)", "Δ ours (95% CI)", "test", "p"]
    header += [*(["Δ corrected (p)"] if graded else []), "detectable Δ", "paper Δ", "resolvable"]
    lines = ["", "#### Statistical power", "", "| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for r in rows:
        test = r["test"] + (f" (b={r['b']}, c={r['c']})" if "b" in r else "")
        if r["resolvable"] is None:
            verdict = "—"
        elif r["resolvable"]:
            verdict = "yes"
        else:
            verdict = f"no (needs ≈{r['n_needed']})" if r.get("n_needed") else "no"
        claim = paper_values.cell(r["paper_diff"], r["paper_unverified"], sign=True)
        cells = [f"{r['other']} vs {r['base']}", *([] if graded else [r["dataset"]]), str(r["n_items"])]
        cells += [
            f"{_f(r['diff'], sign=True)} ({_f(r['ci_low'], sign=True)}, {_f(r['ci_high'], sign=True)})",
            test,
            f"{r['p']:.3f}",
        ]
        if graded:
            cells.append(f"{_f(r['diff_corrected'], sign=True)} ({r['p_corrected']:.3f})")
        cells += [_f(r["detectable"]), claim, verdict]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", (GRADED_NOTE if graded else JUDGED_NOTE) + COMMON_NOTE, ""]
    return lines


def n_line(score_paths: list[str]) -> str:
    """Items scored per test set and seed, e.g. "ECQA 40, QASC 40" (every method the same n, else a range)."""
    ns: dict[str, set[int]] = defaultdict(set)
    for path in score_paths:
        s = json.loads(Path(path).read_text(encoding="utf-8"))
        ns[s["dataset"]].add(int(s["n"]) if "n" in s else int(s.get("judgments", 0)) // 2)
    cells = [f"{d} {min(v)}" if len(v) == 1 else f"{d} {min(v)}–{max(v)}" for d, v in ns.items()]
    return "n per cell (items per test set and seed): " + ", ".join(cells) + "."


CSV_FIELDS = ("n_items", "diff", "ci_low", "ci_high", "test", "p", "diff_corrected", "p_corrected")
CSV_FIELDS += ("detectable", "paper_diff", "resolvable", "n_needed")


def attach(rows: list[dict], power: list[dict]) -> list[dict]:
    """The table's CSV rows with each comparison's numbers on the row of its compared method (`other`, or for
    Table 5 the variant's row, named by `base`): `vs_<field>`, `vs_<set>_<field>` for judged sets."""
    out = [dict(r) for r in rows]
    for p in power:
        target = next((r for r in out if r["method"] == p["other"]), None)
        target = target or next((r for r in out if r["method"] == p["base"]), None)
        if target is None:
            continue
        prefix = f"vs_{p['dataset']}_" if "dataset" in p else "vs_"
        target[f"{prefix}base"] = p["base"]
        target |= {f"{prefix}{k}": p.get(k) for k in CSV_FIELDS if k in p}
    return out


def statement(
    table: str, score_paths: list[str], paper_values_path: str, paper_key: str | None = None
) -> tuple[str, list[dict]]:
    """The power statement appended to a table's Markdown (its n per cell, paired tests, resolvable claims) and
    its comparisons as rows."""
    paper = paper_values.load(paper_values_path, table, paper_key)
    rows = power_rows(table, score_paths, paper)
    text = "\n".join(["", n_line(score_paths), *section(table, score_paths, paper, rows)]) + "\n"
    return text, rows
