"""The paper's tables from per-(method, seed, dataset) scores, with the paper's values beside ours (rules
`table1`-`table5`, `bmc.stages.table`).

Like with like: every cell beside a paper value is scored by the paper's rule, the authors' released grading rule
(`score_released`) for QA and math and the judge's score (`score`: AlpacaEval's LC win rate) for instruction
following; the suite's corrected grader (`score`) stands beside it, labelled. Every row trained on bridged pairs
shows how many of its pairs were actually edited (`bmc.reporting.bridged`). Cells are mean ± 95% CI over seeds (a
dataset average is taken per seed first). The Markdown starts with the scale's label, so smoke and mini numbers are
never mistaken for the paper's.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from bmc.alignment.methods import bmc_variant, table5_comparisons
from bmc.io import read_json
from bmc.plan.runs import strategy_method
from bmc.reporting import bridged, table2
from bmc.reporting import paper as paper_values
from bmc.reporting.stats import fmt, mean_ci
from bmc.reporting.table_format import markdown, ordered, rounded

GRADED_TASKS = ("qa", "math")
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
# Table 5's rows: every method whose module declares a -BMC variant (bmc/alignment/methods), in name order
VARIANTS = [base for base, _ in table5_comparisons()]
# what `released_rule` of scores.json says graded the released rule (bmc.stages.evaluate)
RELEASED_RULES = {"authors_code": "authors' code", "reimplementation": "re-implementation"}


def read_scores(paths: list[str]) -> list[tuple[str, dict]]:
    """(path, scores.json) of each file."""
    return [(path, read_json(path)) for path in paths]


def value_of(s: dict, key: str, path: str) -> float:
    """One number of a scores.json: `paper` (the paper's rule: the released rule's `score_released` for a graded
    task, `score` for a judged one), `corrected` (the suite's grader, `score`), `parsed_pct` (the share of answers
    with a final answer the grader found) or any field."""
    if key == "parsed_pct":
        return 100.0 * s["parsed"] / s["n"]
    if key in ("paper", "corrected"):
        if "task" not in s:
            raise ValueError(
                f"{path} has no 'task': score it again with the current `evaluate` or `judge` stage"
            )
        key = "score_released" if key == "paper" and s["task"] in GRADED_TASKS else "score"
    if key not in s:
        raise ValueError(f"{path} has no {key!r}: score it again with the current `evaluate` stage")
    return float(s[key])


def load_scores(docs: list[tuple[str, dict]], key: str = "paper") -> dict[str, dict[str, dict[int, float]]]:
    """method -> dataset -> seed -> `value_of(key)`."""
    scores: dict = defaultdict(lambda: defaultdict(dict))
    for path, s in docs:
        scores[s["method"]][s["dataset"]][int(s["seed"])] = value_of(s, key, path)
    return scores


def released_rule_line(docs: list[tuple[str, dict]]) -> list[str]:
    """The footer line naming what graded the released rule (`released_rule` of the graded scores.json)."""
    graded = [s for _, s in docs if s.get("task") in GRADED_TASKS]
    if not graded:
        return []
    named = Counter(
        RELEASED_RULES.get(s["released_rule"], str(s["released_rule"]))
        if s.get("released_rule")
        else "not recorded (scores.json without `released_rule`)"
        for s in graded
    )
    if len(named) == 1:
        return [f"Released rule: {next(iter(named))}."]
    return [
        "Released rule: " + "; ".join(f"{name} ({n} score files)" for name, n in sorted(named.items())) + "."
    ]


def method_row(by_dataset: dict[str, dict[int, float]], datasets: list[str], method: str) -> dict:
    missing = [d for d in datasets if d not in by_dataset]
    if missing:
        raise ValueError(f"no scores for method {method} on {missing}")
    seeds = sorted(set.intersection(*(set(by_dataset[d]) for d in datasets)))
    cells = {d: mean_ci([by_dataset[d][s] for s in seeds]) for d in datasets}
    cells["Avg"] = mean_ci([sum(by_dataset[d][s] for d in datasets) / len(datasets) for s in seeds])
    return {"cells": cells, "seeds": len(seeds)}


def datasets_of(task: str, datasets: list[str] | None) -> list[str]:
    """The table's test sets in the paper's column order (default: the task's standard sets)."""
    chosen = datasets or DEFAULT_SETS[task]
    unknown = sorted(set(chosen) - set(COLUMNS[task]))
    if unknown:
        raise ValueError(f"unknown {task} test sets {unknown}; expected some of {list(COLUMNS[task])}")
    return [d for d in COLUMNS[task] if d in chosen]


class Inputs:
    """What a table is built from: the scores under the paper's rule (`paper`), the corrected grader's
    (`corrected`, graded tasks), the share of answers parsed, each bridged row's share of edited pairs, and the
    paper's entry for the table."""

    def __init__(self, docs, paper_entry: dict, shares: dict[tuple[str, str], dict]):
        self.paper = load_scores(docs)
        graded = [(p, s) for p, s in docs if s.get("task") in GRADED_TASKS]
        self.corrected = load_scores(graded, "corrected")
        self.parsed = load_scores([(p, s) for p, s in graded if "parsed" in s and "n" in s], "parsed_pct")
        self.entry = paper_entry
        self.shares = shares

    def share(self, task: str, method: str) -> dict | None:
        return self.shares.get((task, method))


def table1(task: str, ins: Inputs, sets: list[str]):
    """Table 1's block for `task`: every method's score per test set and their average under the authors'
    released rule (what the paper's numbers mean), beside the corrected grader's average, the share of answers
    with a final answer, and the share of each bridged row's pairs that were edited."""
    e = ins.entry
    rows, lines = [], []
    for method in ordered(ins.paper):
        r = method_row(ins.paper[method], sets, method)
        row = {"method": method, "seeds": r["seeds"]}
        for col, cell in r["cells"].items():
            row |= rounded(col, cell)
        for name, source in (("Avg_corrected", ins.corrected), ("parsed_pct", ins.parsed)):
            if method in source:
                row |= rounded(name, method_row(source[method], sets, method)["cells"]["Avg"])
        share = ins.share(task, method)
        row |= bridged.fields(share)
        paper_avg, unsure = paper_values.value(e, method, "Avg"), paper_values.doubt(e, method, "Avg")
        row |= {"paper_Avg": paper_avg, "paper_unverified": unsure}
        row["diff_Avg"] = None if paper_avg is None else round(row["Avg"] - paper_avg, 2)
        rows.append(row)
        extra = [c for c in ("Avg_corrected", "parsed_pct") if c in row]
        lines.append(
            [
                method,
                *(fmt(row[c], row[f"{c}_ci95"]) if c in row else "—" for c in [*sets, "Avg", *extra]),
                bridged.cell(share),
                paper_values.cell(paper_avg, unsure),
                paper_values.cell(row["diff_Avg"], unsure, sign=True),
                str(row["seeds"]),
            ]
        )
    extra = [c for c in ("Avg_corrected", "parsed_pct") if any(c in r for r in rows)]
    titles = {"Avg_corrected": "Avg (corrected)", "parsed_pct": "Answers parsed %"}
    header = ["Method", *(COLUMNS[task][d] for d in sets), "Avg", *(titles[c] for c in extra)]
    header += ["Pairs edited", "Paper Avg", "Δ vs paper", "Seeds"]
    note = (
        "Per-set cells, Avg and Δ vs paper: the authors' released grading rule, what the paper's numbers mean (QA: "
        "the prediction lower-cased, the gold answer as written, so a capitalised or period-ended gold never "
        "matches). Avg (corrected): the suite's grader, one normalisation on both sides; it also builds the pairs "
        "and validates bridged edits. Answers parsed: the share of answers with a final answer."
    )
    return rows, [*markdown(header, lines), "", note]


def table5(task: str, ins: Inputs, sets: list[str]) -> tuple[list[dict], list[str]]:
    """Table 5's column for `task`: each variant's average without and with BMC and the gain, under the paper's
    rule, with the corrected grader's gain beside it on graded tasks."""
    e, graded = ins.entry, task in GRADED_TASKS
    rows, lines = [], []
    for base in VARIANTS:
        with_name = bmc_variant(base)
        if base not in ins.paper or with_name not in ins.paper:
            continue
        without = method_row(ins.paper[base], sets, base)["cells"]["Avg"]
        with_bmc = method_row(ins.paper[with_name], sets, with_name)["cells"]["Avg"]
        share = ins.share(task, with_name)
        row = {"method": base, **rounded("without", without), **rounded("with_bmc", with_bmc)}
        row["gain"] = round(with_bmc[0] - without[0], 2)
        if graded:
            corrected = [method_row(ins.corrected[m], sets, m)["cells"]["Avg"][0] for m in (base, with_name)]
            row["gain_corrected"] = round(corrected[1] - corrected[0], 2)
        row |= bridged.fields(share)
        paper_gain, gain_doubt = paper_values.claimed_gain(e, base)
        row |= {
            "paper_without": paper_values.value(e, base, "without"),
            "paper_with": paper_values.value(e, base, "with"),
            "paper_gain": paper_gain,
            "paper_unverified": gain_doubt,
        }
        rows.append(row)
        lines.append(
            [
                base,
                fmt(*without),
                fmt(*with_bmc),
                _num(row["gain"], sign=True),
                *([_num(row["gain_corrected"], sign=True)] if graded else []),
                bridged.cell(share),
                paper_values.cell(row["paper_without"], paper_values.doubt(e, base, "without")),
                paper_values.cell(row["paper_with"], paper_values.doubt(e, base, "with")),
                paper_values.cell(paper_gain, gain_doubt, sign=True),
            ]
        )
    if not rows:
        raise ValueError(
            "Table 5 needs at least one variant trained both without and with BMC (e.g. IPO and IPO-BMC)"
        )
    header = ["Variant", "without BMC", "with BMC", "gain", *(["gain (corrected)"] if graded else [])]
    header += ["Pairs edited (with BMC)", "paper without", "paper with", "paper gain"]
    note = (
        "without, with and gain: the authors' released grading rule (the paper's); gain (corrected): the suite's"
        " grader on the same answers."
        if graded
        else "without, with and gain: AlpacaEval's LC win rate, as the paper's."
    )
    return rows, [*markdown(header, lines), "", note]


STRATEGY_TITLES = {  # Table 3's rows, in the paper's order (the authors' own pairs beside ours)
    "targeted": "y_l → ỹ_w, y_w as reference (BMC)",
    "released": "y_l → ỹ_w, y_w as reference: the authors' released GPT-4 pairs",
    "targeted_no_ref": "y_l → ỹ_w, without y_w",
    "inverse": "y_w → ỹ_l",
    "free": "ỹ_w generated freely",
}
PAPER_TASK_KEYS = {"qa": "QA", "math": "math", "if": "IF_LC"}
TASK_TITLES = {"qa": "QA", "math": "math", "if": "IF (AlpacaEval LC)"}


def task_average_rows(entries, ins: Inputs, sets: dict[str, list[str]]):
    """Rows of DPO-BMC variants, one per (key, title, method) entry with scores: each task's average under the
    paper's rule (and the corrected grader's on graded tasks), the paper's value (`values[key]`) and the share
    of the row's pairs that were edited; returns (rows, markdown cells)."""
    e = ins.entry
    rows, lines = [], []
    for key, title, method in entries:
        if method not in ins.paper:
            continue
        row: dict = {"key": key, "method": method}
        cells = [title]
        for task, task_sets in sets.items():
            result = method_row(ins.paper[method], task_sets, method)
            paper_value = paper_values.value(e, key, PAPER_TASK_KEYS[task])
            unsure = paper_values.doubt(e, key, PAPER_TASK_KEYS[task])
            share = ins.share(task, method)
            row |= rounded(task, result["cells"]["Avg"]) | {"seeds": result["seeds"]}
            cells.append(fmt(*result["cells"]["Avg"]))
            if task in GRADED_TASKS:
                corrected = method_row(ins.corrected[method], task_sets, method)["cells"]["Avg"]
                row |= rounded(f"{task}_corrected", corrected)
                cells.append(fmt(*corrected))
            row |= {f"paper_{task}": paper_value, f"paper_{task}_unverified": unsure}
            row |= bridged.fields(share, f"{task}_")
            cells += [paper_values.cell(paper_value, unsure), bridged.cell(share)]
        rows.append(row)
        lines.append([*cells, str(row["seeds"])])
    return rows, lines


def _task_header(first: str, sets: dict[str, list[str]]) -> list[str]:
    header = [first]
    for task in sets:
        title = TASK_TITLES[task]
        header += [title, *([f"{title} (corrected)"] if task in GRADED_TASKS else [])]
        header += [f"paper {title}", f"{title} pairs edited"]
    return [*header, "Seeds"]


def _task_note(sets: dict[str, list[str]]) -> list[str]:
    graded = [TASK_TITLES[t] for t in sets if t in GRADED_TASKS]
    if not graded:
        return []
    return [
        "",
        f"{', '.join(graded)}: the authors' released grading rule (the paper's) beside the paper's value; "
        "(corrected): the suite's grader on the same answers.",
    ]


def table3(ins: Inputs, sets: dict[str, list[str]], default_strategy: str, editors=None):
    """Table 3: DPO-BMC per bridging strategy (`DPO-BMC` on the config's strategy, `DPO-BMC@<s>` on the
    others), each task's average, with the paper's values."""
    entries = [
        (strategy, title, strategy_method(strategy, default_strategy))
        for strategy, title in STRATEGY_TITLES.items()
    ]
    rows, lines = task_average_rows(entries, ins, sets)
    if len(rows) < 2:
        raise ValueError("Table 3 needs DPO-BMC on at least two bridging strategies (e.g. DPO-BMC@inverse)")
    for row in rows:
        row["strategy"] = row.pop("key")
    notes = _task_note(sets)
    if any(r["strategy"] == "released" for r in rows):
        notes += [
            "",
            "The released pairs' row has no paper value of its own: the paper reports DPO-BMC on its GPT-4 pairs"
            " once, in the first row; the release holds those pairs, not a separate result.",
        ]
    return rows, [*markdown(_task_header("Strategy", sets), lines), *notes]


def table4(ins: Inputs, sets: dict[str, list[str]], default_strategy: str, editors=None):
    """Table 4: DPO-BMC per editor of the bridging phase (`editors`: name -> the method trained on its
    pairs), each task's average, with the paper's values (keyed by editor name)."""
    if not editors or len(editors) < 2:
        raise ValueError(
            "Table 4 needs at least two editors (name=method), e.g. from the config's table4_editors"
        )
    missing = [m for m in editors.values() if m not in ins.paper]
    if missing:
        raise ValueError(f"Table 4: no scores for {missing}")
    entries = [(name, name, method) for name, method in editors.items()]
    rows, lines = task_average_rows(entries, ins, sets)
    for row in rows:
        row["editor"] = row.pop("key")
    return rows, [*markdown(_task_header("Editor", sets), lines), *_task_note(sets)]


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
        None,  # bmc.reporting.table2
    ),
}


def _num(x, sign: bool = False) -> str:
    if x is None:
        return "—"
    return f"{x:+.1f}" if sign else f"{x:.1f}"


def build(
    table: str,
    score_paths: list[str],
    paper_values_path: str,
    label: str,
    datasets: list[str] | None = None,
    default_strategy: str = "targeted",
    editors: dict[str, str] | None = None,
    paper_key: str | None = None,
    pairs_source: str | None = None,
    bridging: dict[str, str] | None = None,
) -> tuple[list[dict], str]:
    """A table's rows (for its CSV) and Markdown. `bridging`: "<task>:<method>" -> the bridging summary of the
    pairs that row trained on, required for every row trained on bridged pairs when given."""
    paper = paper_values.load(paper_values_path, table, paper_key)
    e = paper_values.entry(paper, table)
    shares = bridged.read(bridging or {})
    title, task, builder = TABLES[table]
    docs = read_scores(score_paths)
    if table == "table2":
        rows, lines = table2.table2(docs, e, shares, pairs_source)
    else:
        ins = Inputs(docs, e, shares)
        if task is None:
            sets = sets_by_task(datasets)
            if datasets is None:  # every task whose standard sets were scored
                scored = {d for by_dataset in ins.paper.values() for d in by_dataset}
                sets = {t: found for t, found in sets.items() if set(found) <= scored}
            rows, lines = builder(ins, sets, default_strategy, editors)
        else:
            rows, lines = builder(task, ins, datasets_of(task, datasets))
    if bridging is not None:  # the scores are read and checked: each has its task
        bridged.require({(s["task"], s["method"]) for _, s in docs}, shares)
    footer = [*released_rule_line(docs), *bridged.unbridged_note(shares), *paper_values.footnotes(e)]
    return rows, _document(label, title, lines, footer, e["source"])


def _document(label: str, title: str, lines: list[str], footer: list[str], source: str) -> str:
    return "\n".join(
        [
            f"**{label}**",
            "",
            f"### {title}",
            "",
            *lines,
            "",
            f"Paper values: {source}. Cells: mean ± 95% CI over seeds.",
            *(line for f in footer for line in ("", f)),
            "",
        ]
    )
