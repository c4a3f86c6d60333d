import json
from pathlib import Path

import pytest

from bmc.reporting.stats import fmt, mean_ci
from bmc.reporting.tables import build

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"
SETS = ["ECQA", "QASC", "OBQA", "ARC"]


def write_scores(tmp_path, method, seed, values, task="qa", sets=SETS, released_offset=-10):
    """scores.json per set as `evaluate` writes them: `values` by the corrected grader, the released rule
    `released_offset` points off (10 lower by default); 8 of 10 answers had a final answer."""
    paths = []
    for dataset, score in zip(sets, values, strict=True):
        p = tmp_path / f"{method}-{seed}-{dataset}.json"
        record = {"method": method, "seed": seed, "task": task, "dataset": dataset, "score": score, "n": 10}
        p.write_text(json.dumps(record | {"score_released": score + released_offset, "parsed": 8}))
        paths.append(str(p))
    return paths


def write_summary(tmp_path, name, **status):
    """A bridging summary.json with these `status` counts."""
    path = tmp_path / f"{name}-summary.json"
    path.write_text(json.dumps({"pairs": sum(status.values()), "status": status}))
    return str(path)


def test_mean_ci_by_hand():
    assert mean_ci([50.0]) == (50.0, None)
    mean, half = mean_ci([60.0, 62.0, 64.0])  # sd 2, t(0.975, 2) = 4.303
    assert mean == 62.0 and half == pytest.approx(4.303 * 2 / 3**0.5)
    assert fmt(62.0, None) == "62.0" and fmt(62.0, 4.97) == "62.0 ± 5.0"


def test_table1_sets_the_released_rule_beside_the_paper_and_the_edited_pairs_beside_bridged_rows(tmp_path):
    paths = write_scores(tmp_path, "SFT", 0, [50, 60, 70, 80])
    paths += write_scores(tmp_path, "DPO-BMC", 0, [60, 60, 60, 60]) + write_scores(
        tmp_path, "DPO-BMC", 1, [70, 70, 70, 70]
    )
    paths += write_scores(tmp_path, "DPO", 0, [55, 55, 55, 55])
    bridging = {"qa:DPO-BMC": write_summary(tmp_path, "targeted", edited=31, fallback=60, kept=3)}
    rows, md = build("table1_qa", paths, str(PAPER), "SMOKE SCALE: test", bridging=bridging)
    by = {r["method"]: r for r in rows}
    assert [r["method"] for r in rows] == ["SFT", "DPO", "DPO-BMC"]
    # per-set cells, Avg and Δ vs paper: the released rule (the paper's); beside it the corrected average
    assert by["SFT"]["Avg"] == 55.0 and by["SFT"]["Avg_ci95"] is None and by["SFT"]["ECQA"] == 40.0
    assert by["SFT"]["Avg_corrected"] == 65.0 and by["SFT"]["parsed_pct"] == 80.0
    assert by["SFT"]["paper_Avg"] == 59.0 and by["SFT"]["diff_Avg"] == -4.0
    assert by["DPO-BMC"]["Avg"] == 55.0 and by["DPO-BMC"]["seeds"] == 2
    assert by["DPO-BMC"]["Avg_ci95"] == pytest.approx(12.706 * (50**0.5) / 2**0.5, abs=0.01)
    assert (by["DPO-BMC"]["pairs_edited"], by["DPO-BMC"]["pairs"]) == (31, 94)
    assert by["DPO"]["pairs_edited"] is None
    assert md.startswith("**SMOKE SCALE: test**") and "| DPO-BMC | 55.0 ± 63.5" in md
    assert (
        "| 31/94 (33%) | 65.1 | -10.1 | 2 |" in md and "| DPO | 45.0 | 45.0 | 45.0 | 45.0 | 45.0 | 55.0" in md
    )
    assert "| Avg | Avg (corrected) | Answers parsed % | Pairs edited | Paper Avg | Δ vs paper |" in md
    assert "Per-set cells, Avg and Δ vs paper: the authors' released grading rule" in md
    assert "Released rule: not recorded (scores.json without `released_rule`)." in md


def test_the_footer_names_what_graded_the_released_rule(tmp_path):
    paths = write_scores(tmp_path, "DPO", 0, [55, 55, 55, 55])
    for path, rule in zip(
        paths, ["authors_code", "authors_code", "authors_code", "reimplementation"], strict=True
    ):
        Path(path).write_text(json.dumps(json.loads(Path(path).read_text()) | {"released_rule": rule}))
    _, md = build("table1_qa", paths, str(PAPER), "x")
    assert "Released rule: authors' code (3 score files); re-implementation (1 score files)." in md
    for path in paths[3:]:
        Path(path).write_text(
            json.dumps(json.loads(Path(path).read_text()) | {"released_rule": "authors_code"})
        )
    assert "Released rule: authors' code.\n" in build("table1_qa", paths, str(PAPER), "x")[1]


def test_a_bridged_row_with_no_edit_is_flagged(tmp_path):
    paths = write_scores(tmp_path, "DPO-BC", 0, [55, 55, 55, 55])
    bridging = {"qa:DPO-BC": write_summary(tmp_path, "targeted", fallback=24)}
    rows, md = build("table1_qa", paths, str(PAPER), "x", bridging=bridging)
    assert rows[0]["pairs_edited"] == 0 and "| 0/24 (0%) |" in md
    assert "**DPO-BC (qa) trained on no edited pair** (0 of 24 edits validated)" in md
    with pytest.raises(ValueError, match="has no `status` counts"):
        build("table1_qa", paths, str(PAPER), "x", bridging={"qa:DPO-BC": write_summary(tmp_path, "empty")})
    with pytest.raises(ValueError, match="is not <task>:<method>"):
        build("table1_qa", paths, str(PAPER), "x", bridging={"DPO-BC": bridging["qa:DPO-BC"]})


def test_missing_cell_is_an_error(tmp_path):
    paths = write_scores(tmp_path, "DPO", 0, [55, 55, 55, 55])[:3]
    with pytest.raises(ValueError, match=r"no scores for method DPO on \['ARC'\]"):
        build("table1_qa", paths, str(PAPER), "x")
    old = tmp_path / "old.json"  # scored before the released rule was kept
    old.write_text(json.dumps({"method": "DPO", "seed": 0, "task": "qa", "dataset": "ARC", "score": 1.0}))
    with pytest.raises(ValueError, match=r"old.json has no 'score_released'"):
        build("table1_qa", [*paths, str(old)], str(PAPER), "x")


def test_table5_gain_under_the_released_rule_with_the_corrected_gain_beside(tmp_path):
    paths = write_scores(tmp_path, "IPO", 0, [60, 60, 60, 60]) + write_scores(
        tmp_path, "IPO-BMC", 0, [62, 64, 62, 64], released_offset=-12
    )
    bridging = {"qa:IPO-BMC": write_summary(tmp_path, "targeted", edited=10, fallback=30)}
    rows, md = build("table5_qa", paths, str(PAPER), "MINI SCALE", bridging=bridging)
    assert rows == [
        {
            "method": "IPO",
            "without": 50.0,
            "without_ci95": None,
            "with_bmc": 51.0,
            "with_bmc_ci95": None,
            "gain": 1.0,
            "gain_corrected": 3.0,
            "pairs_edited": 10,
            "pairs": 40,
            "paper_without": 60.6,
            "paper_with": 64.1,
            "paper_gain": 3.5,
            "paper_unverified": None,
        }
    ]
    assert "| IPO | 50.0 | 51.0 | +1.0 | +3.0 | 10/40 (25%) | 60.6 | 64.1 | +3.5 |" in md
    with pytest.raises(ValueError, match="Table 5 needs"):
        build("table5_qa", write_scores(tmp_path, "DPO", 0, [1, 2, 3, 4]), str(PAPER), "x")


def test_table5_marks_an_unverified_paper_value_and_what_derives_from_it(tmp_path):
    sets = ["gsm8k", "math-oai", "mawps"]
    paths = write_scores(tmp_path, "IPO", 0, [30, 30, 30], "math", sets) + write_scores(
        tmp_path, "IPO-BMC", 0, [31, 31, 31], "math", sets
    )
    rows, md = build("table5_math", paths, str(PAPER), "MINI SCALE")
    # math IPO "without BMC" equals DPO's Table 1 math average: kept, marked, with its reason
    assert rows[0]["paper_without"] == 48.3 and "DPO's math average" in rows[0]["paper_unverified"]
    assert "| 48.3† | 48.6 | +0.3† |" in md
    assert "† Paper value IPO.without is unverified: 48.3 is also DPO's math average in Table 1" in md


def test_table5_paper_gain_is_derived_when_only_both_ends_are_reported():
    from bmc.reporting.paper import claimed_gain

    def entry(row, unverified=None):
        return {"values": {"R-DPO": row}, "unverified": unverified or {}}

    assert claimed_gain(entry({"without": 17.1, "with": 20.0}), "R-DPO") == (2.9, None)
    assert claimed_gain(entry({"gain": 3.9}), "R-DPO") == (3.9, None)
    assert claimed_gain(entry({"without": 48.3}), "R-DPO") == (None, None)
    assert claimed_gain(entry({"without": 1.0, "with": 2.0}, {"R-DPO.with": "why"}), "R-DPO") == (1.0, "why")


def write_task_scores(tmp_path, method, qa, math_, lc):
    """One method's scores on QA (released rule 5 points under the corrected grader), math (if given) and
    AlpacaEval."""
    paths = write_scores(tmp_path, method, 0, [qa] * 4, released_offset=-5)
    if math_ is not None:
        paths += write_scores(tmp_path, method, 0, [math_] * 3, "math", ["gsm8k", "math-oai", "mawps"], 0)
    p = tmp_path / f"{method}-alpaca_eval.json"  # instruction following enters by AlpacaEval's LC (`score`)
    p.write_text(
        json.dumps({"method": method, "seed": 0, "task": "if", "dataset": "alpaca_eval", "score": lc})
    )
    return [*paths, str(p)]


def test_table3_one_row_per_strategy_across_tasks(tmp_path):
    paths = []
    for method, qa, math_ in (("DPO-BMC", 60, 30), ("DPO-BMC@inverse", 50, 20), ("DPO-BMC@free", 40, 10)):
        paths += write_task_scores(tmp_path, method, qa, math_, qa / 2)
    half = write_summary(tmp_path, "half", edited=1, fallback=1)
    bridging = {
        f"{t}:{m}": half for t in ("qa", "math", "if") for m in ("DPO-BMC", "DPO-BMC@inverse", "DPO-BMC@free")
    }
    bridging["qa:DPO-BMC"] = write_summary(tmp_path, "qa", edited=3, fallback=1)
    bridging["math:DPO-BMC@inverse"] = write_summary(tmp_path, "math", edited=0, fallback=4)
    rows, md = build("table3", paths, str(PAPER), "MINI SCALE", bridging=bridging)
    assert [(r["strategy"], r["qa"], r["qa_corrected"], r["math"], r["if"]) for r in rows] == [
        ("targeted", 55.0, 60.0, 30.0, 30.0),
        ("inverse", 45.0, 50.0, 20.0, 25.0),
        ("free", 35.0, 40.0, 10.0, 20.0),
    ]
    assert "if_corrected" not in rows[0]
    assert rows[0]["paper_qa"] == 65.1 and rows[0]["paper_math"] == 49.6 and rows[1]["paper_qa"] == 64.6
    assert rows[0]["paper_if"] == 22.4
    assert (rows[0]["qa_pairs_edited"], rows[0]["qa_pairs"], rows[1]["math_pairs_edited"]) == (3, 4, 0)
    header = (
        "| Strategy | QA | QA (corrected) | paper QA | QA pairs edited | math | math (corrected) | paper math |"
        " math pairs edited | IF (AlpacaEval LC) | paper IF (AlpacaEval LC) | IF (AlpacaEval LC) pairs edited |"
        " Seeds |"
    )
    assert header in md
    assert (
        "| y_l → ỹ_w, y_w as reference (BMC) | 55.0 | 60.0 | 65.1 | 3/4 (75%) | 30.0 | 30.0 | 49.6 | 1/2 (50%) |"
        in md
    )
    assert "QA, math: the authors' released grading rule (the paper's) beside the paper's value" in md
    assert "**DPO-BMC@inverse (math) trained on no edited pair**" in md
    rows, _ = build("table3", paths, str(PAPER), "x", datasets=[*SETS, "gsm8k", "math-oai", "mawps"])
    assert "if" not in rows[0]
    # plain DPO-BMC stands for whichever strategy the config bridged with
    rows, _ = build("table3", paths, str(PAPER), "x", default_strategy="free")
    assert [r["method"] for r in rows] == ["DPO-BMC@inverse", "DPO-BMC"]
    with pytest.raises(ValueError, match="at least two bridging strategies"):
        build("table3", paths[:8], str(PAPER), "x")


def write_if_scores(tmp_path, method, seed, lc, wr, length, ah):
    paths = []
    common = {"method": method, "seed": seed, "task": "if", "judgments": 20, "unparsed": 2}
    for dataset, fields in (
        ("alpaca_eval", {"lc_win_rate": lc, "win_rate": wr, "avg_length": length, "score": lc}),
        (
            "arena_hard",
            {"lc_win_rate": ah - 1, "win_rate": ah, "score": ah, "ci_low": ah - 5, "ci_high": ah + 5},
        ),
    ):
        p = tmp_path / f"{method}-{seed}-{dataset}.json"
        p.write_text(json.dumps({**common, "dataset": dataset, **fields}))
        paths.append(str(p))
    return paths


def test_table2_reads_every_number_with_paper_values(tmp_path):
    paths = write_if_scores(tmp_path, "DPO-BMC", 0, 30.0, 25.0, 900.0, 40.0)
    paths += write_if_scores(tmp_path, "SFT", 0, 10.0, 12.0, 700.0, 50.0)
    paths += write_if_scores(tmp_path, "DPO", 0, 20.0, 21.0, 1000.0, 45.0)
    paths += write_if_scores(tmp_path, "DPO", 1, 24.0, 23.0, 1100.0, 47.0)
    rows, md = build("table2", paths, str(PAPER), "MINI SCALE: test")
    by = {r["method"]: r for r in rows}
    assert [r["method"] for r in rows] == ["SFT", "DPO", "DPO-BMC"]
    assert (by["DPO-BMC"]["AE_LC"], by["DPO-BMC"]["AE_WR"], by["DPO-BMC"]["AE_length"]) == (30.0, 25.0, 900.0)
    assert by["DPO-BMC"]["AH_WR"] == 40.0 and by["DPO-BMC"]["AH_LC"] == 39.0
    assert (by["DPO-BMC"]["AH_ci_low"], by["DPO-BMC"]["AH_ci_high"]) == (35.0, 45.0)
    assert by["DPO"]["AE_LC"] == 22.0 and by["DPO"]["seeds"] == 2 and by["DPO"]["AE_LC_ci95"] is not None
    assert (
        by["DPO-BMC"]["paper_LC"] == 22.4 and by["DPO"]["paper_AH"] == 17.6 and by["SFT"]["paper_LC"] is None
    )
    assert by["SFT"]["unparsed_share"] == 0.1
    assert (
        md.startswith("**MINI SCALE: test**")
        and "| DPO-BMC | 30.0 | 25.0 | 900.0 | 40.0 (35.0–45.0) | 39.0 | 22.4 |" in md
    )
    assert "| paper LC | paper WR | paper AH | no verdict | Pairs edited | Seeds |" in md


def test_table2_states_its_pairs_judge_baselines_and_length_control(tmp_path):
    paths = write_if_scores(tmp_path, "DPO", 0, 20.0, 21.0, 1000.0, 45.0)
    judges = (
        {"kind": "hf", "model": "base"},
        {"kind": "hf", "model": "base", "verdict_from": "label_likelihood"},
    )
    for path, baseline, judge in zip(
        paths, ("reference outputs of ae.jsonl", "generations of SFT"), judges, strict=True
    ):
        s = json.loads(Path(path).read_text())
        Path(path).write_text(json.dumps(s | {"judge": judge, "baseline": baseline}))
    _, md = build("table2", paths, str(PAPER), "MINI SCALE: test", pairs_source="sharegpt")
    assert "- Pairs: a ShareGPT prompt, its ShareGPT reply as y_w and the SFT model's reply as y_l" in md
    assert "- alpaca_eval: judged by hf base (both orders), against reference outputs of ae.jsonl." in md
    assert (
        "- arena_hard: judged by hf base, choosing the most likely label (both orders), against generations of SFT."
        in md
    )
    assert "fitted without the instruction-difficulty term" in md
    # the alpaca_eval library's own LC (paper scale) is named as such
    s = json.loads(Path(paths[0]).read_text())
    Path(paths[0]).write_text(json.dumps(s | {"judge": {"kind": "alpaca_eval", "model": "gpt4"}}))
    _, md = build("table2", paths, str(PAPER), "x", pairs_source="ultrafeedback")
    assert "its chosen reply as y_w" in md and "its GLM with instruction difficulty" in md
    assert "- alpaca_eval: judged by alpaca_eval gpt4 (its own protocol)" in md
    assert md.index("Setting:") < md.index("| Method |")


def test_table2_compares_a_block_with_its_own_paper_values(tmp_path):
    paths = write_if_scores(tmp_path, "DPO-BMC", 0, 30.0, 25.0, 900.0, 40.0)
    rows, md = build("table2", paths, str(PAPER), "PAPER SCALE: test", paper_key="table2_mistral")
    assert rows[0]["paper_LC"] is None and "Mistral-7B block" in md
    with pytest.raises(ValueError, match="no entry 'table2_gemma'"):
        build("table2", paths, str(PAPER), "PAPER SCALE: test", paper_key="table2_gemma")


def test_table2_shows_the_edited_pairs_of_its_bridged_rows(tmp_path):
    paths = write_if_scores(tmp_path, "DPO-BMC", 0, 30.0, 25.0, 900.0, 40.0)
    paths += write_if_scores(tmp_path, "DPO", 0, 20.0, 21.0, 1000.0, 45.0)
    bridging = {"if:DPO-BMC": write_summary(tmp_path, "if", edited=12)}
    rows, md = build("table2", paths, str(PAPER), "x", bridging=bridging)
    assert [(r["method"], r["pairs_edited"]) for r in rows] == [("DPO", None), ("DPO-BMC", 12)]
    assert "| 10% | 12/12 (100%) | 1 |" in md and "| 10% | — | 1 |" in md


def test_table4_one_row_per_editor_with_paper_values(tmp_path):
    paths = []
    for method, qa in (("DPO-BMC", 60), ("DPO-BMC@targeted+Llama-3-70B-Instruct", 58)):
        paths += write_task_scores(tmp_path, method, qa, None, qa)
    editors = {
        "gpt-4-0125-preview": "DPO-BMC",
        "Llama-3-70B-Instruct": "DPO-BMC@targeted+Llama-3-70B-Instruct",
    }
    gpt4 = write_summary(tmp_path, "gpt4", edited=9, kept=1)
    bridging = {f"{t}:{m}": gpt4 for t in ("qa", "if") for m in editors.values()}
    bridging["qa:DPO-BMC@targeted+Llama-3-70B-Instruct"] = write_summary(tmp_path, "llama", edited=5, kept=5)
    rows, md = build("table4", paths, str(PAPER), "PAPER SCALE", editors=editors, bridging=bridging)
    assert [(r["editor"], r["qa"], r["qa_corrected"], r["if"]) for r in rows] == [
        ("gpt-4-0125-preview", 55.0, 60.0, 60.0),
        ("Llama-3-70B-Instruct", 53.0, 58.0, 58.0),
    ]
    assert rows[0]["paper_qa"] == 65.1 and rows[1]["paper_qa"] == 64.6 and rows[1]["paper_if"] == 21.8
    assert rows[1]["qa_pairs_edited"] == 5 and rows[0]["qa_pairs_edited"] == 9
    assert "| Editor | QA | QA (corrected) | paper QA | QA pairs edited | IF (AlpacaEval LC) |" in md
    assert "| Llama-3-70B-Instruct | 53.0 | 58.0 | 64.6 | 5/10 (50%) | 58.0 | 21.8 | 9/10 (90%) | 1 |" in md
    with pytest.raises(ValueError, match="no scores for"):
        build("table4", paths[:5], str(PAPER), "x", editors=editors)
    with pytest.raises(ValueError, match="at least two editors"):
        build("table4", paths, str(PAPER), "x", editors={"gpt4": "DPO-BMC"})


def test_a_bridged_row_without_its_bridging_summary_is_refused_when_summaries_are_given(tmp_path):
    paths = write_scores(tmp_path, "SFT", 0, [50] * 4) + write_scores(tmp_path, "DPO-BMC", 0, [55] * 4)
    with pytest.raises(
        ValueError, match=r"no bridging summary for the rows trained on bridged pairs: \['qa:DPO-BMC'\]"
    ):
        build("table1_qa", paths, str(PAPER), "x", bridging={})
