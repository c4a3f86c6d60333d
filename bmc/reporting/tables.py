"""The paper's tables from per-(method, seed, dataset) scores, with the paper's values beside ours (rules
`table1`-`table5`, `bmc.stages.table`).

Cells are mean ± 95% CI over seeds (a dataset average is taken per seed first). The Markdown starts with the
scale's label, so smoke and mini numbers are never mistaken for the paper's.
"""

from __future__ import annotations

import json
from collections import defaultdict

import yaml

from bmc.alignment.methods import bmc_variant
from bmc.plan import strategy_method
from bmc.reporting.stats import fmt, mean_ci

QA_SETS = ["ECQA", "QASC", "OBQA", "ARC"]
# the math sets of every scale; the paper's average adds TabMWP (paper scale, from the full release)
MATH_SETS = ["gsm8k", "math-oai", "mawps"]
# each task's columns when none are given; instruction following enters Tables 3 and 5 by AlpacaEval's LC
DEFAULT_SETS = {"qa": QA_SETS, "math": MATH_SETS, "if": ["alpaca_eval"]}
# each task's test sets in the paper's column order, and their column titles
COLUMNS = {
    "qa": {d: d for d in QA_SETS},
    "math": {
        "gsm8k": "GSM8K",
        "math-oai": "MATH",
        "mawps": "MAWPS",
        "tabmwp": "TabMWP",
        "svamp": "SVAMP",
        "asdiv": "ASDiv",
    },
    "if": {"alpaca_eval": "AlpacaEval LC"},
}
ROW_ORDER = [
    "SFT",
    "FIGA",
    "TDPO",
    "IPO",
    "ORPO",
    "R-DPO",
    "SimPO",
    "DPO",
    "DPO-MC",
    "DPO-BC",
    "DPO-BMC",
    "IPO-BMC",
    "ORPO-BMC",
    "R-DPO-BMC",
    "SimPO-BMC",
]
VARIANTS = ["DPO", "IPO", "ORPO", "R-DPO", "SimPO"]


def load_scores(paths: list[str], key: str = "score") -> dict[str, dict[str, dict[int, float]]]:
    """method -> dataset -> seed -> `key` of scores.json (`score`: the corrected grader's; `score_released`:
    the authors' rule; `parsed_pct`: the share of answers with a final answer the grader found)."""
    scores: dict = defaultdict(lambda: defaultdict(dict))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
        if key == "parsed_pct":
            value = 100.0 * s["parsed"] / s["n"]
        elif key not in s:
            raise ValueError(f"{path} has no {key!r}: score it again with the current `evaluate` stage")
        else:
            value = s[key]
        scores[s["method"]][s["dataset"]][int(s["seed"])] = float(value)
    return scores


def method_row(by_dataset: dict[str, dict[int, float]], datasets: list[str], method: str) -> dict:
    missing = [d for d in datasets if d not in by_dataset]
    if missing:
        raise ValueError(f"no scores for method {method} on {missing}")
    seeds = sorted(set.intersection(*(set(by_dataset[d]) for d in datasets)))
    cells = {d: mean_ci([by_dataset[d][s] for s in seeds]) for d in datasets}
    cells["Avg"] = mean_ci([sum(by_dataset[d][s] for d in datasets) / len(datasets) for s in seeds])
    return {"cells": cells, "seeds": len(seeds)}


def ordered(methods) -> list[str]:
    return sorted(methods, key=lambda m: (ROW_ORDER.index(m) if m in ROW_ORDER else len(ROW_ORDER), m))


def datasets_of(task: str, datasets: list[str] | None) -> list[str]:
    """The table's test sets in the paper's column order (default: the task's standard sets)."""
    chosen = datasets or DEFAULT_SETS[task]
    unknown = sorted(set(chosen) - set(COLUMNS[task]))
    if unknown:
        raise ValueError(f"unknown {task} test sets {unknown}; expected some of {list(COLUMNS[task])}")
    return [d for d in COLUMNS[task] if d in chosen]


def table1(task: str, scores, paper: dict, sets: list[str], released=None, parsed=None):
    """Table 1's block for `task`: every method's score per test set and their average, under the authors'
    released rule (`released`, what the paper's numbers mean) beside the corrected grader's average
    (`scores`), and the share of answers with a final answer (`parsed`). Without `released`, the corrected
    scores fill the per-set cells."""
    reported = paper[f"table1_{task}"]["values"]
    shown = released if released is not None else scores
    rows = []
    for method in ordered(scores):
        r = method_row(shown[method], sets, method)
        row = {"method": method, "seeds": r["seeds"]}
        for col, (mean, half) in r["cells"].items():
            row[col], row[f"{col}_ci95"] = round(mean, 2), None if half is None else round(half, 2)
        for name, source in (("Avg_corrected", scores), ("parsed_pct", parsed)):
            if source is not None:
                mean, half = method_row(source[method], sets, method)["cells"]["Avg"]
                row[name], row[f"{name}_ci95"] = round(mean, 2), None if half is None else round(half, 2)
        paper_avg = reported.get(method, {}).get("Avg")
        row["paper_Avg"] = paper_avg
        row["diff_Avg"] = None if paper_avg is None else round(row["Avg"] - paper_avg, 2)
        rows.append(row)
    extra = [c for c in ("Avg_corrected", "parsed_pct") if c in rows[0]] if rows else []
    titles = {"Avg_corrected": "Avg (corrected)", "parsed_pct": "Answers parsed %"}
    header = ["Method", *(COLUMNS[task][d] for d in sets), "Avg", *(titles[c] for c in extra)]
    header += ["Paper Avg", "Δ vs paper", "Seeds"]
    lines = [
        [
            r["method"],
            *(fmt(r[c], r[f"{c}_ci95"]) for c in [*sets, "Avg", *extra]),
            _num(r["paper_Avg"]),
            _num(r["diff_Avg"], sign=True),
            str(r["seeds"]),
        ]
        for r in rows
    ]
    if released is not None:
        lines = _markdown(header, lines) + [
            "",
            "Per-set cells and Avg: the authors' released grading rule, what the paper's numbers mean (QA: the "
            "prediction lower-cased, the gold answer as written, so a capitalised or period-ended gold never "
            "matches). Avg (corrected): the suite's grader, one normalisation on both sides; it also builds the "
            "pairs and validates bridged edits. Answers parsed: the share of answers with a final answer.",
        ]
        return rows, lines
    return rows, _markdown(header, lines)


def table5(task: str, scores, paper: dict, sets: list[str]) -> tuple[list[dict], list[str]]:
    """Table 5's column for `task`: each variant's average without and with BMC, and the gain."""
    reported = paper[f"table5_{task}"]["values"]
    rows, lines = [], []
    for base in VARIANTS:
        if base not in scores or bmc_variant(base) not in scores:
            continue
        without = method_row(scores[base], sets, base)["cells"]["Avg"]
        with_bmc = method_row(scores[bmc_variant(base)], sets, bmc_variant(base))["cells"]["Avg"]
        paper_row = reported.get(base, {})
        row = {
            "method": base,
            "without": round(without[0], 2),
            "without_ci95": None if without[1] is None else round(without[1], 2),
            "with_bmc": round(with_bmc[0], 2),
            "with_bmc_ci95": None if with_bmc[1] is None else round(with_bmc[1], 2),
            "gain": round(with_bmc[0] - without[0], 2),
            "paper_without": paper_row.get("without"),
            "paper_with": paper_row.get("with"),
            "paper_gain": paper_gain(paper_row),
        }
        rows.append(row)
        lines.append(
            [
                base,
                fmt(*without),
                fmt(*with_bmc),
                _num(row["gain"], sign=True),
                _num(row["paper_without"]),
                _num(row["paper_with"]),
                _num(row["paper_gain"], sign=True),
            ]
        )
    if not rows:
        raise ValueError(
            "Table 5 needs at least one variant trained both without and with BMC (e.g. IPO and IPO-BMC)"
        )
    header = ["Variant", "without BMC", "with BMC", "gain", "paper without", "paper with", "paper gain"]
    return rows, _markdown(header, lines)


def paper_gain(paper_row: dict) -> float | None:
    """The paper's gain from BMC: as reported, else with - without when both are given."""
    if paper_row.get("gain") is not None:
        return paper_row["gain"]
    if paper_row.get("without") is not None and paper_row.get("with") is not None:
        return round(paper_row["with"] - paper_row["without"], 2)
    return None


TABLE2_SETS = ("alpaca_eval", "arena_hard")


def load_records(paths: list[str]) -> dict[str, dict[str, dict[int, dict]]]:
    """method -> dataset -> seed -> the whole scores.json (Table 2 reads several numbers per file)."""
    records: dict = defaultdict(lambda: defaultdict(dict))
    for path in paths:
        with open(path, encoding="utf-8") as f:
            s = json.load(f)
        records[s["method"]][s["dataset"]][int(s["seed"])] = s
    return records


def table2(records, paper: dict) -> tuple[list[dict], list[str]]:
    """Table 2: AlpacaEval LC / WR / length and Arena-Hard WR (and its LC variant) per method, mean ± 95% CI
    over seeds, with the paper's values."""
    reported = paper["table2"]["values"]
    columns = [  # (key in the row, test set, field of scores.json)
        ("AE_LC", "alpaca_eval", "lc_win_rate"),
        ("AE_WR", "alpaca_eval", "win_rate"),
        ("AE_length", "alpaca_eval", "avg_length"),
        ("AH_WR", "arena_hard", "win_rate"),
        ("AH_LC", "arena_hard", "lc_win_rate"),
    ]
    rows, lines = [], []
    for method in ordered(records):
        by_set = records[method]
        missing = [d for d in TABLE2_SETS if d not in by_set]
        if missing:
            raise ValueError(f"no scores for method {method} on {missing}")
        seeds = sorted(set.intersection(*(set(by_set[d]) for d in TABLE2_SETS)))
        row: dict = {"method": method, "seeds": len(seeds)}
        cells = [method]
        for key, dataset, field in columns:
            mean, half = mean_ci([float(by_set[dataset][s][field]) for s in seeds])
            row[key], row[f"{key}_ci95"] = round(mean, 2), None if half is None else round(half, 2)
            cells.append(fmt(mean, half))
        if len(seeds) == 1:  # one seed: Arena-Hard's own bootstrap CI over battles
            ah = by_set["arena_hard"][seeds[0]]
            row |= {"AH_ci_low": ah.get("ci_low"), "AH_ci_high": ah.get("ci_high")}
            cells[4] += f" ({ah.get('ci_low')}–{ah.get('ci_high')})"
        p = reported.get(method, {})
        row |= {
            "paper_LC": p.get("LC"),
            "paper_WR": p.get("WR"),
            "paper_AH": p.get("AH"),
            "paper_length": p.get("length"),
        }
        judged = sum(by_set[d][s]["judgments"] for d in TABLE2_SETS for s in seeds)
        row["unparsed_share"] = round(
            sum(by_set[d][s]["unparsed"] for d in TABLE2_SETS for s in seeds) / judged, 3
        )
        cells += [
            _num(p.get("LC")),
            _num(p.get("WR")),
            _num(p.get("AH")),
            f"{100 * row['unparsed_share']:.0f}%",
            str(len(seeds)),
        ]
        rows.append(row)
        lines.append(cells)
    header = [
        "Method",
        "AE LC",
        "AE WR",
        "AE length",
        "AH WR",
        "AH LC",
        "paper LC",
        "paper WR",
        "paper AH",
        "no verdict",
        "Seeds",
    ]
    return rows, _markdown(header, lines)


# how the instruction-following pairs were made, by config `data.if.source`
PAIR_SOURCES = {
    "sharegpt": "a ShareGPT prompt, its ShareGPT reply as y_w and the SFT model's reply as y_l (the paper's"
    " QA/math construction; the paper's own pairs are UltraFeedback's)",
    "ultrafeedback": "UltraFeedback binarized, its chosen reply as y_w and its rejected reply as y_l (as the paper)",
}


def table2_setting(records, pairs_source: str | None = None) -> list[str]:
    """What Table 2's numbers were measured against, read from the scores: pairs, each test set's judge and
    baseline, and which length control AE LC is (the library's, or our fit without instruction difficulty)."""
    judges, baselines = defaultdict(set), defaultdict(set)
    for by_set in records.values():
        for dataset, by_seed in by_set.items():
            for s in by_seed.values():
                judge = s.get("judge") or {}
                judges[dataset].add((str(judge.get("kind")), str(judge.get("model"))))
                baselines[dataset].add(s.get("baseline", "?"))

    def by_library(dataset: str) -> bool:  # scored by the alpaca_eval library (paper scale)
        return bool(judges[dataset]) and all(kind == "alpaca_eval" for kind, _ in judges[dataset])

    lines = [f"- Pairs: {PAIR_SOURCES.get(pairs_source, pairs_source)}."] if pairs_source else []
    for dataset in (d for d in TABLE2_SETS if d in judges):
        how = "its own protocol" if by_library(dataset) else "both orders"
        lines.append(
            f"- {dataset}: judged by {'; '.join(f'{k} {m}' for k, m in sorted(judges[dataset]))} ({how}),"
            f" against {'; '.join(sorted(baselines[dataset]))}."
        )
    if by_library("alpaca_eval"):
        lines.append(
            "- AE LC: the alpaca_eval library's length-controlled win rate (its GLM with instruction difficulty)."
        )
    else:
        lines.append(
            "- AE LC: AlpacaEval 2's length-controlled GLM fitted without the instruction-difficulty term"
            " (that term needs the hub's instruction_difficulty.csv); AH LC: the same fit on Arena-Hard's judgments."
        )
    return ["Setting:", "", *lines, ""]


STRATEGY_TITLES = {  # Table 3's rows, in the paper's order (the authors' own pairs beside ours)
    "targeted": "y_l → ỹ_w, y_w as reference (BMC)",
    "released": "y_l → ỹ_w, y_w as reference: the authors' released GPT-4 pairs",
    "targeted_no_ref": "y_l → ỹ_w, without y_w",
    "inverse": "y_w → ỹ_l",
    "free": "ỹ_w generated freely",
}
PAPER_TASK_KEYS = {"qa": "QA", "math": "math", "if": "IF_LC"}
TASK_TITLES = {"qa": "QA", "math": "math", "if": "IF (AlpacaEval LC)"}


def task_average_rows(entries, scores, sets: dict[str, list[str]], reported: dict):
    """Rows of DPO-BMC variants, one per (key, title, method) entry with scores: each task's average and
    the paper's value (`reported[key]`); returns (rows, markdown cells)."""
    rows, lines = [], []
    for key, title, method in entries:
        if method not in scores:
            continue
        row: dict = {"key": key, "method": method}
        cells = [title]
        for task, task_sets in sets.items():
            result = method_row(scores[method], task_sets, method)
            mean, half = result["cells"]["Avg"]
            paper_value = reported.get(key, {}).get(PAPER_TASK_KEYS[task])
            row |= {task: round(mean, 2), f"{task}_ci95": None if half is None else round(half, 2)}
            row |= {f"paper_{task}": paper_value, "seeds": result["seeds"]}
            cells += [fmt(mean, half), _num(paper_value)]
        rows.append(row)
        lines.append([*cells, str(row["seeds"])])
    return rows, lines


def _task_header(first: str, sets: dict[str, list[str]]) -> list[str]:
    return [first] + [f"{c}{TASK_TITLES[t]}" for t in sets for c in ("", "paper ")] + ["Seeds"]


def table3(scores, paper: dict, sets: dict[str, list[str]], default_strategy: str, editors=None):
    """Table 3: DPO-BMC per bridging strategy (`DPO-BMC` on the config's strategy, `DPO-BMC@<s>` on the
    others), each task's average, with the paper's values."""
    entries = [
        (strategy, title, strategy_method(strategy, default_strategy))
        for strategy, title in STRATEGY_TITLES.items()
    ]
    # the released pairs are the ones the authors' DPO-BMC (their targeted row) was trained on
    reported = {**paper["table3"]["values"]}
    reported.setdefault("released", reported.get("targeted", {}))
    rows, lines = task_average_rows(entries, scores, sets, reported)
    if len(rows) < 2:
        raise ValueError("Table 3 needs DPO-BMC on at least two bridging strategies (e.g. DPO-BMC@inverse)")
    for row in rows:
        row["strategy"] = row.pop("key")
    return rows, _markdown(_task_header("Strategy", sets), lines)


def table4(scores, paper: dict, sets: dict[str, list[str]], default_strategy: str, editors=None):
    """Table 4: DPO-BMC per editor of the bridging phase (`editors`: name -> the method trained on its
    pairs), each task's average, with the paper's values (keyed by editor name)."""
    if not editors or len(editors) < 2:
        raise ValueError(
            "Table 4 needs at least two editors (name=method), e.g. from the config's table4_editors"
        )
    entries = [(name, name, method) for name, method in editors.items()]
    rows, lines = task_average_rows(entries, scores, sets, paper["table4"]["values"])
    missing = [m for m in editors.values() if m not in scores]
    if missing:
        raise ValueError(f"Table 4: no scores for {missing}")
    for row in rows:
        row["editor"] = row.pop("key")
    return rows, _markdown(_task_header("Editor", sets), lines)


def sets_by_task(datasets: list[str] | None) -> dict[str, list[str]]:
    """The given test sets grouped by task, in each task's column order (default: every task's standard sets)."""
    if datasets is None:
        return DEFAULT_SETS
    unknown = sorted(set(datasets) - {d for columns in COLUMNS.values() for d in columns})
    if unknown:
        raise ValueError(f"unknown test sets {unknown}")
    grouped = {task: [d for d in columns if d in datasets] for task, columns in COLUMNS.items()}
    return {task: found for task, found in grouped.items() if found}


# table name -> (title, task, builder); a task of None spans the tasks
TABLES = {
    "table1_qa": ("Table 1 (QA block): exact match (%) on ECQA, QASC, OpenBookQA, ARC", "qa", table1),
    "table1_math": (
        "Table 1 (math block): accuracy (%); the paper's Avg covers GSM8K, MATH, MAWPS and TabMWP",
        "math",
        table1,
    ),
    "table5_qa": ("Table 5 (QA): each variant without and with BMC, QA average (%)", "qa", table5),
    "table5_math": ("Table 5 (math): each variant without and with BMC, math average (%)", "math", table5),
    "table5_if": (
        "Table 5 (instruction following): each variant without and with BMC, AlpacaEval LC (%)",
        "if",
        table5,
    ),
    "table3": ("Table 3: how the pseudo-winning response is made (DPO-BMC, task averages, %)", None, table3),
    "table4": (
        "Table 4: which editor makes the pseudo-winning responses (DPO-BMC, task averages, %)",
        None,
        table4,
    ),
    "table2": (
        "Table 2: instruction following, AlpacaEval (LC / WR %, length in characters) and Arena-Hard (WR %, LC %)",
        "if",
        table2,
    ),
}


def _num(x, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def _markdown(header: list[str], lines: list[list[str]]) -> list[str]:
    out = ["| " + " | ".join(header) + " |", "| " + " | ".join("---" for _ in header) + " |"]
    return out + ["| " + " | ".join(cells) + " |" for cells in lines]


def build(
    table: str,
    score_paths: list[str],
    paper_values: str,
    label: str,
    datasets: list[str] | None = None,
    default_strategy: str = "targeted",
    editors: dict[str, str] | None = None,
    paper_key: str | None = None,
    pairs_source: str | None = None,
) -> tuple[list[dict], str]:
    with open(paper_values, encoding="utf-8") as f:
        paper = yaml.safe_load(f)
    if paper_key:  # e.g. Table 2's Mistral block, compared with its own paper values
        if paper_key not in paper:
            raise ValueError(f"{paper_values} has no entry {paper_key!r}")
        paper[table] = paper[paper_key]
    title, task, builder = TABLES[table]
    if table == "table2":
        records = load_records(score_paths)
        rows, lines = builder(records, paper)
        lines = [*table2_setting(records, pairs_source), *lines]
        return rows, _document(label, title, lines, paper.get(table, {}).get("source", ""))
    scores = load_scores(score_paths)
    if table.startswith("table1_"):
        released, parsed = load_scores(score_paths, "score_released"), load_scores(score_paths, "parsed_pct")
        rows, lines = builder(task, scores, paper, datasets_of(task, datasets), released, parsed)
        return rows, _document(label, title, lines, paper.get(table, {}).get("source", ""))
    if task is None:
        sets = sets_by_task(datasets)
        if datasets is None:  # every task whose standard sets were scored
            scored = {d for by_dataset in scores.values() for d in by_dataset}
            sets = {t: found for t, found in sets.items() if set(found) <= scored}
        rows, lines = builder(scores, paper, sets, default_strategy, editors)
    else:
        rows, lines = builder(task, scores, paper, datasets_of(task, datasets))
    return rows, _document(label, title, lines, paper.get(table, {}).get("source", ""))


def _document(label: str, title: str, lines: list[str], source: str) -> str:
    return "\n".join(
        [
            f"**{label}**",
            "",
            f"### {title}",
            "",
            *lines,
            "",
            f"Paper values: {source}. Cells: mean ± 95% CI over seeds.",
            "",
        ]
    )
