"""Table 2: instruction following, AlpacaEval (LC, WR, length) and Arena-Hard (WR, LC) per method, mean ± 95% CI
over seeds, each beside the paper's number of the same kind (LC with LC, WR with WR), with the setting they were
measured in and the share of each bridged row's pairs that were edited."""

from __future__ import annotations

from collections import defaultdict

from bmc.reporting import bridged
from bmc.reporting import paper as paper_values
from bmc.reporting.stats import fmt, mean_ci
from bmc.reporting.table_format import markdown, ordered, rounded

TABLE2_SETS = ("alpaca_eval", "arena_hard")
COLUMNS = [  # (key in the row, test set, field of scores.json)
    ("AE_LC", "alpaca_eval", "lc_win_rate"),
    ("AE_WR", "alpaca_eval", "win_rate"),
    ("AE_length", "alpaca_eval", "avg_length"),
    ("AH_WR", "arena_hard", "win_rate"),
    ("AH_LC", "arena_hard", "lc_win_rate"),
]
PAPER_FIELDS = ("LC", "WR", "AH")  # AlpacaEval LC and WR, Arena-Hard WR


def by_method(docs) -> dict[str, dict[str, dict[int, dict]]]:
    """method -> dataset -> seed -> the whole scores.json (Table 2 reads several numbers per file)."""
    records: dict = defaultdict(lambda: defaultdict(dict))
    for _, s in docs:
        records[s["method"]][s["dataset"]][int(s["seed"])] = s
    return records


def table2(docs, e: dict, shares: dict, pairs_source: str | None = None) -> tuple[list[dict], list[str]]:
    """Rows and Markdown lines of Table 2 (`e`: the paper's entry, `shares`: bridged rows' edited pairs)."""
    records = by_method(docs)
    rows, lines = [], []
    for method in ordered(records):
        by_set = records[method]
        missing = [d for d in TABLE2_SETS if d not in by_set]
        if missing:
            raise ValueError(f"no scores for method {method} on {missing}")
        seeds = sorted(set.intersection(*(set(by_set[d]) for d in TABLE2_SETS)))
        row: dict = {"method": method, "seeds": len(seeds)}
        cells = [method]
        for key, dataset, field in COLUMNS:
            cell = mean_ci([float(by_set[dataset][s][field]) for s in seeds])
            row |= rounded(key, cell)
            cells.append(fmt(*cell))
        if len(seeds) == 1:  # one seed: Arena-Hard's own bootstrap CI over battles
            ah = by_set["arena_hard"][seeds[0]]
            row |= {"AH_ci_low": ah.get("ci_low"), "AH_ci_high": ah.get("ci_high")}
            cells[4] += f" ({ah.get('ci_low')}–{ah.get('ci_high')})"
        for field in (*PAPER_FIELDS, "length"):
            row[f"paper_{field}"] = paper_values.value(e, method, field)
        row["paper_unverified"] = paper_values.doubt(e, method, *PAPER_FIELDS, "length")
        judged = sum(by_set[d][s]["judgments"] for d in TABLE2_SETS for s in seeds)
        row["unparsed_share"] = round(
            sum(by_set[d][s]["unparsed"] for d in TABLE2_SETS for s in seeds) / judged, 3
        )
        share = shares.get(("if", method))
        row |= bridged.fields(share)
        cells += [
            *(paper_values.cell(row[f"paper_{f}"], paper_values.doubt(e, method, f)) for f in PAPER_FIELDS),
            f"{100 * row['unparsed_share']:.0f}%",
            bridged.cell(share),
            str(len(seeds)),
        ]
        rows.append(row)
        lines.append(cells)
    header = ["Method", "AE LC", "AE WR", "AE length", "AH WR", "AH LC", "paper LC", "paper WR", "paper AH"]
    header += ["no verdict", "Pairs edited", "Seeds"]
    return rows, [*setting(records, pairs_source), *markdown(header, lines)]


# how the instruction-following pairs were made, by config `data.if.source`
PAIR_SOURCES = {
    "sharegpt": "a ShareGPT prompt, its ShareGPT reply as y_w and the SFT model's reply as y_l (the paper's"
    " QA/math construction; the paper's own pairs are UltraFeedback's)",
    "ultrafeedback": "UltraFeedback binarized, its chosen reply as y_w and its rejected reply as y_l (as the paper)",
}


def setting(records, pairs_source: str | None = None) -> list[str]:
    """What Table 2's numbers were measured against, read from the scores: pairs, each test set's judge and
    baseline, and which length control AE LC is (the library's, or our fit without instruction difficulty)."""
    judges, baselines = defaultdict(set), defaultdict(set)
    for by_set in records.values():
        for dataset, by_seed in by_set.items():
            for s in by_seed.values():
                judge = s.get("judge") or {}
                chosen = (
                    ", choosing the most likely label"
                    if judge.get("verdict_from") == "label_likelihood"
                    else ""
                )
                judges[dataset].add((str(judge.get("kind")), f"{judge.get('model')}{chosen}"))
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
