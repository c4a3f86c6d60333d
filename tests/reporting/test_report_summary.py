"""The report answers first: its summary sets each claim of the paper beside ours, with the interval and the power
statement the tables and figures already hold, says what the run did not produce and why, and shows "Δ vs paper"
only at the paper's scale."""

import argparse
import csv
import json
from pathlib import Path

from bmc.analysis.common import describe
from bmc.cli import main
from bmc.io import write_jsonl
from bmc.reporting import summary
from bmc.reporting.cells import num, with_interval
from bmc.reporting.report import drop_column, to_html
from bmc.stages.report import run

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"
SETS = ["ECQA", "QASC", "OBQA", "ARC"]
LABEL = "SMOKE SCALE: test"


def table1_qa(tmp_path: Path, tables: Path) -> Path:
    """Table 1's QA block made by the `table` stage from 20 questions per set: SFT right on 6, DPO on 8 and
    DPO-BMC on 11 under the released rule (one more each under the corrected grader)."""
    paths = []
    for method, right in (("SFT", 6), ("DPO", 8), ("DPO-BMC", 11)):
        for dataset in SETS:
            path = tmp_path / "scores" / method / dataset / "scores.json"
            path.parent.mkdir(parents=True)
            record = {"method": method, "seed": 0, "task": "qa", "dataset": dataset, "n": 20, "parsed": 20}
            path.write_text(json.dumps(record | {"score": 5.0 * (right + 1), "score_released": 5.0 * right}))
            verdicts = [
                {"id": f"q{i}", "correct": i <= right, "correct_released": i < right} for i in range(20)
            ]
            write_jsonl(path.with_name("records.jsonl"), verdicts)
            paths.append(str(path))
    bridging = tmp_path / "scores" / "bridged.json"
    bridging.write_text(json.dumps({"status": {"edited": 30}}))
    md = tables / "table1_qa.md"
    tables.mkdir(parents=True)
    args = [
        "table",
        "--table",
        "table1_qa",
        "--paper-values",
        str(PAPER),
        "--label",
        LABEL,
        "--scores",
        *paths,
    ]
    args += ["--bridging", json.dumps({"qa:DPO-BMC": str(bridging)})]
    main([*args, "--out-csv", str(md.with_suffix(".csv")), "--out-md", str(md)])
    return md


def report(tmp_path: Path, config: dict) -> tuple[str, dict]:
    """The report of a run with Table 1's QA block only, and that table's DPO-BMC row as the CSV holds it."""
    results = tmp_path / "results" / config["scale"]
    md = table1_qa(tmp_path, results / "tables")
    (tmp_path / "bench").mkdir()
    out = results / "report" / "index.md"
    args = dict(
        tables=[str(md)], summaries=[], figures=[], generation=[], benchmarks_dir=str(tmp_path / "bench")
    )
    args |= dict(
        config_json=json.dumps(config), label=LABEL, out_md=str(out), out_html=str(out.with_suffix(".html"))
    )
    run(argparse.Namespace(**args))
    row = next(r for r in csv.DictReader(md.with_suffix(".csv").open()) if r["method"] == "DPO-BMC")
    return out.read_text(), row


def test_the_summary_comes_first_and_reads_the_claim_and_its_power_from_the_table(tmp_path):
    config = {"scale": "smoke", "seeds": [0], "tasks": ["qa"], "data": {"qa": {}}}
    md, row = report(tmp_path, config | {"analysis": {"names": ["sec53_reward"]}})
    assert md.index("## Summary") < md.index("## Contents") < md.index("### Table 1 (QA block)")
    # ours, its interval, the paper's difference and the power statement: the CSV's numbers, not computed again
    ours = with_interval(float(row["vs_diff"]), float(row["vs_ci_low"]), float(row["vs_ci_high"]), sign=True)
    verdict = f"detects ≥ {num(float(row['vs_detectable']))} (≈{int(row['vs_n_needed']):,} per method would)"
    claim = f"| [Table 1 (QA)](#table1_qa): DPO-BMC − DPO, QA average | {ours} | +3.8 | "
    assert ours == "+15.0 [+7.5, +22.5]" and row["vs_resolvable"] == "False"
    assert f'{claim}<span class="no">no</span>: {verdict} | 80 |' in md
    assert "this run can resolve 0 (of 1 with a per-question test)" in md
    # what the run did not produce, each with the setting that would make it
    gaps = md[md.index("### What this run did not produce") : md.index("## Contents")]
    for line in (
        "- Table 1 (math): the task `math` is not run: add it to `tasks` (with its `data.math` section).",
        "- Table 2: the task `if` is not run: add it to `tasks` (with its `data.if` section).",
        "- Table 3: no other bridging strategy is set: `table3_strategies`",
        "- Table 4: no second editor is set: `table4_editors`.",
        "- Table 5 (QA): no objective is trained both without and with BMC on qa",
        "- Figure 2: not among `analysis.names`.",
        "- §5.3: this run makes none of its inputs (it needs DPO and DPO-BMC trained on a QA or math task).",
        "- Δ vs paper: left out of the tables, as `smoke` is not the paper's scale",
        "- Intervals over seeds: one seed,",
    ):
        assert line in gaps, line
    # "Δ vs paper" stays in the table's own file, and leaves the report off the paper's scale
    assert "| Paper Avg | Seeds |" in md and "Δ vs paper |" not in md.split("## Tables")[1]
    assert (
        "| Paper Avg | Δ vs paper | Seeds |" in (tmp_path / "results/smoke/tables/table1_qa.md").read_text()
    )


def test_delta_vs_paper_stays_at_the_papers_scale(tmp_path):
    md, _ = report(tmp_path, {"scale": "paper", "seeds": [0, 1], "tasks": ["qa"], "data": {"qa": {}}})
    assert "| Paper Avg | Δ vs paper | Seeds |" in md and "- Δ vs paper" not in md
    assert "Intervals over seeds" not in md


def test_drop_column_takes_one_column_out_of_each_table_that_has_it():
    text = "a\n\n| x | Δ vs paper | y |\n| --- | --- | --- |\n| 1 | 2 | 3 \\| 4 |\n\n| x | z |\n| --- | --- |\n| 5 | 6 |"
    assert drop_column(text, "Δ vs paper") == (
        "a\n\n| x | y |\n| --- | --- |\n| 1 | 3 \\| 4 |\n\n| x | z |\n| --- | --- |\n| 5 | 6 |"
    )


def power_row(variant: str, resolvable, paper_diff=None, **extra) -> dict:
    """A Table 5 CSV row with its comparison, as `bmc.reporting.power.attach` writes it."""
    row = {"method": variant, "vs_base": variant, "vs_n_items": 400, "vs_diff": 4.0, "vs_ci_low": 1.0}
    row |= {"vs_ci_high": 7.0, "vs_p": 0.004, "vs_detectable": 3.1, "vs_paper_diff": paper_diff}
    return row | {"vs_resolvable": resolvable, "vs_n_needed": None, "paper_unverified": None} | extra


def test_table5_claims_read_each_variants_power_statement_and_list_those_without_a_paper_number():
    rows = [
        power_row("DPO", None),  # Table 1 holds DPO-BMC − DPO
        power_row("IPO", True, 3.5),
        power_row("ORPO", False, 1.2, vs_n_needed=2900, paper_unverified="a cell not checked"),
        power_row("SimPO", None),
    ]
    claims, unpaired = summary.table_claims("table5_qa", rows, covered={"qa"})
    assert [c.cells()[1:] for c in claims] == [
        ["+4.0 [+1.0, +7.0]", "+3.5", '<span class="yes">yes</span>: detects ≥ 3.1; p 0.004', "400"],
        [
            "+4.0 [+1.0, +7.0]",
            "+1.2†",
            '<span class="no">no</span>: detects ≥ 3.1 (≈2,900 per method would)',
            "400",
        ],
    ]
    assert claims[0].cells()[0] == "[Table 5 (QA)](#table5_qa): IPO-BMC − IPO, QA" and claims[0].resolved
    assert unpaired == ["SimPO-BMC − SimPO, QA"]


def test_an_lc_claim_has_no_per_question_test_and_its_interval_comes_from_seeds():
    base = {"method": "DPO", "AE_LC": 16.0, "paper_LC": 16.0, "AE_LC_ci95": None}
    bmc = {
        "method": "DPO-BMC",
        "AE_LC": 19.0,
        "paper_LC": 22.4,
        "AE_LC_ci95": None,
        "vs_alpaca_eval_n_items": 805,
    }
    bmc |= {"vs_alpaca_eval_detectable": 6.9, "vs_arena_hard_base": None}
    (lc,) = summary.table_claims("table2", [base, bmc], covered=set())[0]
    assert lc.cells()[1:3] == ["+3.0 (1 seed)", "+6.4"] and lc.resolved is None
    assert "LC has no per-question test; the raw win rate detects ≥ 6.9" in lc.verdict
    base["AE_LC_ci95"], bmc["AE_LC_ci95"] = 3.0, 4.0  # two seeds: the two intervals combined (3-4-5)
    (lc,) = summary.table_claims("table2", [base, bmc], covered=set())[0]
    assert lc.ours == "+3.0 [-2.0, +8.0]"


def test_the_analyses_directions_are_settled_by_their_intervals():
    apart = {"first": describe([9.0, 9.5, 10.0]), "following": describe([2.0, 2.5, 3.0]), "pairs": 3}
    close = {"first": describe([2.0, 3.0, 4.0]), "following": describe([2.5, 3.0, 3.5]), "pairs": 3}
    paper = {"task": "qa", "values": {"first": 13.79, "following": 1.81}}
    qa, math_ = summary.fig2_claims({"qa": apart, "math": close}, paper, "[Figure 2](#fig2)")[::-1]
    assert (qa.paper, qa.resolved, math_.paper, math_.resolved) == ("13.79 vs 1.81", True, "—", False)
    assert "as the paper's" in qa.verdict and "the intervals overlap" in math_.verdict
    # a difference is settled when its interval excludes 0, here against the paper's sign
    reward = {"pairs": 50, "accuracy_diff": {"diff": -6.0, "ci_low": -9.0, "ci_high": -2.0, "p": 0.01}}
    reward |= {"margin_diff": {"diff": 0.1, "ci_low": -0.05, "ci_high": 0.2, "p": 0.3}}
    values = {"DPO": {"accuracy": 72.19, "margin": 0.54}, "DPO-BMC": {"accuracy": 73.6, "margin": 0.74}}
    accuracy, margin = summary.sec53_claims({"qa": reward}, {"values": values}, "[§5.3](#sec53)")
    assert (accuracy.paper, accuracy.resolved, margin.paper, margin.resolved) == (
        "+1.4",
        True,
        "+0.20",
        False,
    )
    assert "opposite to the paper's" in accuracy.verdict and "the interval includes 0" in margin.verdict
    # a level is compared with the paper's only with its embedder, at its scale
    sim = {"pairs": 9, "edited": 9, "sim_yw_bridged": describe([0.8, 0.9, 0.85])}
    paper, papers = {"values": {"bridged": 0.88}}, {"papers_embedder": "all-mpnet-base-v2"}
    other = summary.sec31_claims({"embedder": "all-MiniLM-L6-v2", "qa": sim} | papers, paper, "", True)
    same = summary.sec31_claims({"embedder": "all-mpnet-base-v2", "qa": sim} | papers, paper, "", True)
    assert (
        "embedder all-MiniLM-L6-v2" in other[0].verdict
        and "the paper's value is inside ours" in same[0].verdict
    )


def test_html_has_a_viewport_scrolling_tables_and_numbers_on_one_line():
    html = to_html(
        "| claim | ours |\n| --- | --- |\n| DPO-BMC − DPO, a long claim text | +1.2 [-0.3, +2.5] |\n", "L", []
    )
    assert "name='viewport'" in html and '<div class="scroll"><table>' in html
    assert (
        '<td class="n">+1.2 [-0.3, +2.5]</td>' in html and "<td>DPO-BMC − DPO, a long claim text</td>" in html
    )


def test_the_report_names_each_analysis_as_its_title_does():
    import importlib

    from bmc.analysis import ANALYSES

    for name in ANALYSES:
        assert importlib.import_module(f"bmc.analysis.{name}").TITLE.startswith(
            summary.ANALYSIS_NAMES[name] + ":"
        )


def test_a_comparison_without_the_papers_number_is_listed_not_claimed():
    base = {"method": "DPO", "AE_LC": 16.0, "paper_LC": None, "AE_LC_ci95": None}
    bmc = {
        "method": "DPO-BMC",
        "AE_LC": 19.0,
        "paper_LC": None,
        "AE_LC_ci95": None,
        "vs_arena_hard_base": "DPO",
    }
    bmc |= {"vs_arena_hard_n_items": 500, "vs_arena_hard_diff": 1.0, "vs_arena_hard_ci_low": -2.0}
    bmc |= {"vs_arena_hard_ci_high": 4.0, "vs_arena_hard_detectable": 8.8, "vs_arena_hard_paper_diff": None}
    claims, unpaired = summary.table_claims("table2", [base, bmc], covered=set())  # Table 2's Mistral block
    assert claims == [] and unpaired == [
        "DPO-BMC − DPO, AlpacaEval 2 LC",
        "DPO-BMC − DPO, Arena-Hard win rate",
    ]
