import json
from pathlib import Path

import pytest

from bmc.reporting.stats import fmt, mean_ci
from bmc.reporting.tables import build

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"
SETS = ["ECQA", "QASC", "OBQA", "ARC"]


def write_scores(tmp_path, method, seed, values):
    paths = []
    for dataset, score in zip(SETS, values, strict=True):
        p = tmp_path / f"{method}-{seed}-{dataset}.json"
        # the released rule scores 10 points lower here; 8 of 10 answers had a final answer
        record = {"method": method, "seed": seed, "dataset": dataset, "score": score, "n": 10}
        p.write_text(json.dumps(record | {"score_released": score - 10, "parsed": 8}))
        paths.append(str(p))
    return paths


def test_mean_ci_by_hand():
    assert mean_ci([50.0]) == (50.0, None)
    mean, half = mean_ci([60.0, 62.0, 64.0])  # sd 2, t(0.975, 2) = 4.303
    assert mean == 62.0 and half == pytest.approx(4.303 * 2 / 3**0.5)
    assert fmt(62.0, None) == "62.0" and fmt(62.0, 4.97) == "62.0 ± 5.0"


def test_table1_with_seeds_and_paper_values(tmp_path):
    paths = write_scores(tmp_path, "SFT", 0, [50, 60, 70, 80])
    paths += write_scores(tmp_path, "DPO-BMC", 0, [60, 60, 60, 60]) + write_scores(
        tmp_path, "DPO-BMC", 1, [70, 70, 70, 70]
    )
    paths += write_scores(tmp_path, "DPO", 0, [55, 55, 55, 55])
    rows, md = build("table1_qa", paths, str(PAPER), "SMOKE SCALE: test")
    by = {r["method"]: r for r in rows}
    assert [r["method"] for r in rows] == ["SFT", "DPO", "DPO-BMC"]
    # per-set cells and Avg: the released rule (compared with the paper); beside it the corrected average
    assert by["SFT"]["Avg"] == 55.0 and by["SFT"]["Avg_ci95"] is None and by["SFT"]["ECQA"] == 40.0
    assert by["SFT"]["Avg_corrected"] == 65.0 and by["SFT"]["parsed_pct"] == 80.0
    assert by["SFT"]["paper_Avg"] == 59.0 and by["SFT"]["diff_Avg"] == -4.0
    assert by["DPO-BMC"]["Avg"] == 55.0 and by["DPO-BMC"]["seeds"] == 2
    assert by["DPO-BMC"]["Avg_ci95"] == pytest.approx(12.706 * (50**0.5) / 2**0.5, abs=0.01)
    assert md.startswith("**SMOKE SCALE: test**") and "| DPO-BMC | 55.0 ± 63.5" in md and "| 65.1 |" in md
    assert "| Avg | Avg (corrected) | Answers parsed % | Paper Avg |" in md
    assert "Per-set cells and Avg: the authors' released grading rule" in md


def test_missing_cell_is_an_error(tmp_path):
    paths = write_scores(tmp_path, "DPO", 0, [55, 55, 55, 55])[:3]
    with pytest.raises(ValueError, match=r"no scores for method DPO on \['ARC'\]"):
        build("table1_qa", paths, str(PAPER), "x")


def test_table5_gain(tmp_path):
    paths = write_scores(tmp_path, "IPO", 0, [60, 60, 60, 60]) + write_scores(
        tmp_path, "IPO-BMC", 0, [62, 64, 62, 64]
    )
    rows, md = build("table5_qa", paths, str(PAPER), "MINI SCALE")
    assert rows == [
        {
            "method": "IPO",
            "without": 60.0,
            "without_ci95": None,
            "with_bmc": 63.0,
            "with_bmc_ci95": None,
            "gain": 3.0,
            "paper_without": 60.6,
            "paper_with": 64.1,
            "paper_gain": 3.5,
        }
    ]
    with pytest.raises(ValueError, match="Table 5 needs"):
        build("table5_qa", write_scores(tmp_path, "DPO", 0, [1, 2, 3, 4]), str(PAPER), "x")


def test_table5_paper_gain_is_derived_when_only_both_ends_are_reported():
    from bmc.reporting.tables import paper_gain

    assert paper_gain({"without": 17.1, "with": 20.0}) == 2.9  # R-DPO on instruction following
    assert paper_gain({"gain": 3.9}) == 3.9 and paper_gain({"without": 48.3}) is None


def test_table3_one_row_per_strategy_across_tasks(tmp_path):
    paths = []
    for method, qa, math_ in (("DPO-BMC", 60, 30), ("DPO-BMC@inverse", 50, 20), ("DPO-BMC@free", 40, 10)):
        for dataset, score in [
            *((d, qa) for d in SETS),
            *((d, math_) for d in ("gsm8k", "math-oai", "mawps")),
            ("alpaca_eval", qa / 2),  # instruction following enters by AlpacaEval's LC (`score`)
        ]:
            p = tmp_path / f"{method}-{dataset}.json"
            p.write_text(json.dumps({"method": method, "seed": 0, "dataset": dataset, "score": score}))
            paths.append(str(p))
    rows, md = build("table3", paths, str(PAPER), "MINI SCALE")
    assert [(r["strategy"], r["qa"], r["math"], r["if"]) for r in rows] == [
        ("targeted", 60.0, 30.0, 30.0),
        ("inverse", 50.0, 20.0, 25.0),
        ("free", 40.0, 10.0, 20.0),
    ]
    assert rows[0]["paper_qa"] == 65.1 and rows[0]["paper_math"] == 49.6 and rows[1]["paper_qa"] == 64.6
    assert rows[0]["paper_if"] == 22.4
    header = "| Strategy | QA | paper QA | math | paper math | IF (AlpacaEval LC) | paper IF (AlpacaEval LC) | Seeds |"
    assert header in md
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


def test_table2_states_its_pairs_judge_baselines_and_length_control(tmp_path):
    paths = write_if_scores(tmp_path, "DPO", 0, 20.0, 21.0, 1000.0, 45.0)
    for path, baseline in zip(paths, ("reference outputs of ae.jsonl", "generations of SFT"), strict=True):
        s = json.loads(Path(path).read_text())
        Path(path).write_text(
            json.dumps(s | {"judge": {"kind": "hf", "model": "base"}, "baseline": baseline})
        )
    _, md = build("table2", paths, str(PAPER), "MINI SCALE: test", pairs_source="sharegpt")
    assert "- Pairs: a ShareGPT prompt, its ShareGPT reply as y_w and the SFT model's reply as y_l" in md
    assert "- alpaca_eval: judged by hf base (both orders), against reference outputs of ae.jsonl." in md
    assert "- arena_hard: judged by hf base (both orders), against generations of SFT." in md
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


def test_table4_one_row_per_editor_with_paper_values(tmp_path):
    paths = []
    for method, qa in (("DPO-BMC", 60), ("DPO-BMC@targeted+Llama-3-70B-Instruct", 58)):
        for dataset in [*SETS, "alpaca_eval"]:
            p = tmp_path / f"{method}-{dataset}.json"
            p.write_text(json.dumps({"method": method, "seed": 0, "dataset": dataset, "score": qa}))
            paths.append(str(p))
    editors = {
        "gpt-4-0125-preview": "DPO-BMC",
        "Llama-3-70B-Instruct": "DPO-BMC@targeted+Llama-3-70B-Instruct",
    }
    rows, md = build("table4", paths, str(PAPER), "PAPER SCALE", editors=editors)
    assert [(r["editor"], r["qa"], r["if"]) for r in rows] == [
        ("gpt-4-0125-preview", 60.0, 60.0),
        ("Llama-3-70B-Instruct", 58.0, 58.0),
    ]
    assert rows[0]["paper_qa"] == 65.1 and rows[1]["paper_qa"] == 64.6 and rows[1]["paper_if"] == 21.8
    assert "| Editor | QA | paper QA | IF (AlpacaEval LC) | paper IF (AlpacaEval LC) | Seeds |" in md
    with pytest.raises(ValueError, match="no scores for"):
        build("table4", paths[:5], str(PAPER), "x", editors=editors)
    with pytest.raises(ValueError, match="at least two editors"):
        build("table4", paths, str(PAPER), "x", editors={"gpt4": "DPO-BMC"})
