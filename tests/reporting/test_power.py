import json

import pytest

from bmc.data.tasks import grade_generations
from bmc.io import InputError, write_jsonl
from bmc.reporting.intervals import average_interval, wilson_interval
from bmc.reporting.power import (
    detectable_difference,
    exact_mcnemar,
    outcomes,
    paired_bootstrap,
    power_rows,
    required_n,
    section,
)


def test_exact_mcnemar_on_a_known_table():
    # b = 10, c = 2: P(X <= 2 | n = 12, 1/2) = (1 + 12 + 66) / 4096, two-sided twice that
    assert exact_mcnemar(10, 2) == pytest.approx(2 * 79 / 4096)
    assert exact_mcnemar(2, 10) == exact_mcnemar(10, 2)
    assert exact_mcnemar(3, 3) == 1.0 and exact_mcnemar(0, 0) == 1.0
    assert exact_mcnemar(0, 6) == pytest.approx(2 / 64)


def test_required_n_matches_the_textbook_value():
    # 50% vs 60%, α = 0.05 two-sided, 80% power: 388 per group (Fleiss, no continuity correction)
    assert required_n(0.5, 0.6) == 388
    assert required_n(0.6, 0.5) == 388


def test_detectable_difference_inverts_required_n():
    d = detectable_difference(388, 0.5)
    assert d == pytest.approx(0.1, abs=0.002)
    assert detectable_difference(40, 0.5) > detectable_difference(400, 0.5)
    assert detectable_difference(1, 0.5) == pytest.approx(0.5)  # nothing resolvable from one item


def test_paired_bootstrap_of_a_constant_difference():
    x, y = [0.0, 0.5, 1.0, 0.0], [1.0, 1.5, 2.0, 1.0]
    out = paired_bootstrap(x, y, rounds=200)
    assert out["diff"] == out["ci_low"] == out["ci_high"] == 1.0 and out["p"] == 0.0
    with pytest.raises(ValueError):
        paired_bootstrap([1.0], [])


def _scores(tmp_path, method, correct, released=None):
    """scores.json with records.jsonl beside it: the corrected verdicts `correct`, the released rule's `released`
    (default the same)."""
    folder = tmp_path / method / "ECQA"
    folder.mkdir(parents=True)
    (folder / "scores.json").write_text(json.dumps({"method": method, "seed": 0, "dataset": "ECQA"}))
    released = correct if released is None else released
    (folder / "records.jsonl").write_text(
        "".join(
            json.dumps({"id": f"q{i}", "correct": bool(c), "correct_released": bool(r)}) + "\n"
            for i, (c, r) in enumerate(zip(correct, released, strict=True))
        )
    )
    return str(folder / "scores.json")


def test_outcomes_read_both_rules_verdicts_and_name_a_bad_line(tmp_path):
    path = _scores(tmp_path, "DPO", [])
    # a capitalised gold answer: the released rule compares it as written with the lower-cased prediction
    generations = [{"id": "q0", "response": "The answer is blue", "answer": "Blue"}]
    generations.append({"id": "q1", "response": "The answer is red", "answer": "Blue"})
    write_jsonl(tmp_path / "DPO" / "ECQA" / "records.jsonl", grade_generations(generations))
    method, seed, by_rule, graded = outcomes(path)
    assert (method, seed, graded) == ("DPO", 0, True)
    assert by_rule == {
        "released": {("ECQA", "q0"): 0.0, ("ECQA", "q1"): 0.0},
        "corrected": {("ECQA", "q0"): 1.0, ("ECQA", "q1"): 0.0},
    }
    (tmp_path / "DPO" / "ECQA" / "records.jsonl").write_text(
        '{"id": "q0", "correct": true, "correct_released": true}\n{"id": "q1", "correct": false}\n'
    )
    with pytest.raises(InputError, match=r"records.jsonl:2: missing field 'correct_released'"):
        outcomes(path)


def test_power_rows_test_the_released_verdicts_beside_the_corrected_ones(tmp_path):
    # the corrected grader finds 3 more right answers for DPO-BMC; the released rule (the paper's) only 1
    dpo = _scores(tmp_path, "DPO", [1, 0, 0, 0, 1, 0, 0, 0])
    bmc = _scores(tmp_path, "DPO-BMC", [1, 1, 1, 0, 1, 1, 0, 0], released=[1, 1, 0, 0, 1, 0, 0, 0])
    paper = {"table1_qa": {"values": {"DPO": {"Avg": 61.3}, "DPO-BMC": {"Avg": 65.1}}}}
    (row,) = power_rows("table1_qa", [dpo, bmc], paper)
    assert (row["b"], row["c"], row["n_items"]) == (0, 1, 8)
    assert row["diff"] == pytest.approx(12.5) and row["p"] == pytest.approx(1.0)
    assert row["diff_corrected"] == pytest.approx(37.5) and row["p_corrected"] == pytest.approx(0.25)
    assert (row["b_corrected"], row["c_corrected"]) == (0, 3)
    assert row["paper_diff"] == pytest.approx(3.8) and row["resolvable"] is False
    assert row["n_needed"] > 1000 and row["paper_unverified"] is None
    text = "\n".join(section("table1_qa", [dpo, bmc], paper))
    assert "DPO-BMC vs DPO" in text and "exact McNemar (b=0, c=1)" in text and "no (needs" in text
    assert "| +37.5 (0.250) |" in text and "authors' released rule" in text


def test_a_claim_from_an_unverified_paper_value_is_marked(tmp_path):
    ipo = _scores(tmp_path, "IPO", [1, 0, 0, 0])
    bmc = _scores(tmp_path, "IPO-BMC", [1, 1, 0, 0])
    paper = {"table5_math": {"values": {"IPO": {"without": 48.3, "with": 48.6}}}}
    paper["table5_math"]["unverified"] = {"IPO.without": "same as DPO's"}
    (row,) = power_rows("table5_math", [ipo, bmc], paper)
    assert row["paper_diff"] == pytest.approx(0.3) and row["paper_unverified"] == "same as DPO's"
    assert "| +0.3† |" in "\n".join(section("table5_math", [ipo, bmc], paper))


SWAP = {"A>B": "B>A", "B>A": "A>B", "A=B": "A=B"}  # the same judgment with the answers' order swapped


def _judged(tmp_path, method, verdicts):
    folder = tmp_path / method / "alpaca_eval"
    folder.mkdir(parents=True)
    (folder / "scores.json").write_text(
        json.dumps({"method": method, "seed": 0, "dataset": "alpaca_eval", "judgments": 2 * len(verdicts)})
    )
    lines = [
        json.dumps({"id": f"q{i}", "model_first": first, "verdict": v if first else SWAP[v]})
        for i, v in enumerate(verdicts)
        for first in (True, False)
    ]
    (folder / "judgments.jsonl").write_text("\n".join(lines) + "\n")
    return str(folder / "scores.json")


def test_judged_sets_get_a_paired_bootstrap_per_set_against_the_papers_raw_win_rate(tmp_path):
    # the model wins q0 in both orders under DPO-BMC and loses it under DPO; q1 a tie for both
    dpo = _judged(tmp_path, "DPO", ["B>A", "A=B"])
    bmc = _judged(tmp_path, "DPO-BMC", ["A>B", "A=B"])
    values = {"DPO": {"LC": 16.0, "WR": 10.0}, "DPO-BMC": {"LC": 22.4, "WR": 16.8}}
    (row,) = power_rows("table2", [dpo, bmc], {"table2": {"values": values}})
    assert row["test"] == "paired bootstrap" and row["n_items"] == 2 and row["dataset"] == "alpaca_eval"
    assert (row["base_score"], row["other_score"], row["diff"]) == pytest.approx((25.0, 75.0, 50.0))
    assert row["paper_diff"] == pytest.approx(6.8)  # WR with WR, not the LC difference 6.4
    # without the paper's raw win rate of both methods there is no claim of the same kind to judge
    del values["DPO"]["WR"]
    (row,) = power_rows("table2", [dpo, bmc], {"table2": {"values": values}})
    assert row["paper_diff"] is None and row["resolvable"] is None
    text = "\n".join(section("table2", [dpo, bmc], {"table2": {"values": values}}))
    assert "| DPO-BMC vs DPO | alpaca_eval | 2 |" in text and "never its LC" in text
    # Table 5's instruction-following column reports LC only: no raw claim
    table5 = {"table5_if": {"values": {"DPO": {"without": 17.1, "with": 20.0}}}}
    (row,) = power_rows("table5_if", [dpo, bmc], table5)
    assert row["paper_diff"] is None


@pytest.mark.parametrize(
    ("k", "n", "low", "high"),
    [(0, 10, 0.0, 0.2775), (5, 10, 0.2366, 0.7634), (10, 10, 0.7225, 1.0), (81, 263, 0.2553, 0.3662)],
)
def test_wilson_interval_matches_textbook_values(k, n, low, high):
    assert wilson_interval(k, n) == pytest.approx((low, high), abs=5e-5)


def test_wilson_interval_agrees_with_scipy():
    stats = pytest.importorskip("scipy.stats")
    for k, n in [(0, 40), (3, 40), (17, 90), (160, 160)]:
        ci = stats.binomtest(k, n).proportion_ci(confidence_level=0.95, method="wilson")
        assert wilson_interval(k, n) == pytest.approx((ci.low, ci.high), abs=1e-9)


def test_average_interval_of_sets_shrinks_with_more_sets_and_keeps_a_width_at_zero():
    one = average_interval({"a": {"score": 50.0, "n": 10}})
    assert one == pytest.approx((23.66, 76.34), abs=5e-3)  # the Wilson half-width around the score
    two = average_interval({"a": {"score": 50.0, "n": 10}, "b": {"score": 50.0, "n": 10}})
    assert (50 - two[0]) == pytest.approx((50 - one[0]) / 2**0.5)
    zero = average_interval({"a": {"score": 0.0, "n": 40}})
    assert zero[0] == 0.0 and zero[1] > 0.0
