import json

import pytest

from bmc.analysis.fig3_bridged_proportion import sweep_curve
from bmc.analysis.fig5_edit_distance import first_grad_norm
from bmc.analysis.sweeps import edit_distance_bins, mix_pairs, read_scores
from bmc.reporting.intervals import average_interval


def _pairs(tag):
    return [{"id": f"p{i}", "chosen": f"{tag}{i}", "rejected": "r"} for i in range(10)]


def test_mix_pairs_takes_the_bridged_share():
    original, bridged = _pairs("w"), _pairs("b")
    assert mix_pairs(original, bridged, 0.0) == original
    assert mix_pairs(original, bridged, 1.0) == bridged
    half = mix_pairs(original, bridged, 0.5, seed=3)
    assert [p["id"] for p in half] == [p["id"] for p in original]
    assert sum(p["chosen"].startswith("b") for p in half) == 5
    assert half == mix_pairs(original, bridged, 0.5, seed=3)  # seeded
    with pytest.raises(ValueError):
        mix_pairs(original, bridged[:5], 0.5)
    with pytest.raises(ValueError):
        mix_pairs(original, bridged, 1.5)


def test_edit_distance_bins_split_by_rank():
    assert edit_distance_bins([5, 1, 9, 3], 2) == [1, 0, 1, 0]
    assert edit_distance_bins([2, 2, 2], 3) == [0, 1, 2]  # ties by position
    assert edit_distance_bins([4, 1], 1) == [0, 0]


def _scores(folder, dataset, score, n, released=None, rule="authors_code"):
    """A scores.json of one set: `score` the corrected rule's, `released` the released rule's (score - 10 unless
    given)."""
    (folder / dataset).mkdir(parents=True)
    record = {"dataset": dataset, "score": score, "n": n, "released_rule": rule}
    record["score_released"] = score - 10 if released is None else released
    (folder / dataset / "scores.json").write_text(json.dumps(record))
    return str(folder / dataset / "scores.json")


def test_sweep_scores_read_the_released_rule_with_the_corrected_beside(tmp_path):
    a = _scores(tmp_path / "a", "ECQA", 40.0, 10)
    _scores(tmp_path / "b", "ECQA", 60.0, 10)
    _scores(tmp_path / "b", "ARC", 80.0, 10, released=50.0)
    assert read_scores([a])["released"]["score"] == 30.0 and read_scores([a])["corrected"]["score"] == 40.0
    both = read_scores([str(tmp_path / "b")])
    assert both["sets"] == {
        "ARC": {"n": 10, "released": 50.0, "corrected": 80.0},
        "ECQA": {"n": 10, "released": 50.0, "corrected": 60.0},
    }
    assert (both["n"], both["released_rule"]) == (20, "authors_code")
    assert (both["released"]["score"], both["corrected"]["score"]) == (50.0, 70.0)
    for rule, scores in (("released", (50.0, 50.0)), ("corrected", (80.0, 60.0))):
        sets = {d: {"score": x, "n": 10} for d, x in zip(("ARC", "ECQA"), scores, strict=True)}
        assert (both[rule]["ci_low"], both[rule]["ci_high"]) == pytest.approx(average_interval(sets))
    rows, summary = sweep_curve(
        {"score:qa:delta:1": [a], "score:qa:delta:3": [str(tmp_path / "b")], "x:qa": []}, "delta"
    )
    cells = {p: (c["n"], c["released"]["score"], c["corrected"]["score"]) for p, c in summary["qa"].items()}
    assert cells == {"1": (10, 30.0, 40.0), "3": (20, 50.0, 70.0)}
    low, high = summary["qa"]["1"]["released"]["ci_low"], summary["qa"]["1"]["released"]["ci_high"]
    assert low < 30.0 < high
    assert rows[0] == {"task": "qa", "point": "1", "n": 10, "released_rule": "authors_code"} | {
        f"{k}_{rule}": summary["qa"]["1"][rule][k]
        for rule in ("released", "corrected")
        for k in ("score", "ci_low", "ci_high")
    }


def test_a_sweep_score_without_the_released_rule_fails_naming_its_file(tmp_path):
    path = tmp_path / "ECQA" / "scores.json"
    path.parent.mkdir()
    path.write_text(json.dumps({"dataset": "ECQA", "score": 40.0, "n": 10}))
    with pytest.raises(ValueError, match=r"ECQA/scores.json has no \['score_released'\]"):
        read_scores([str(tmp_path)])


def test_released_rule_names_each_grader_of_a_points_sets(tmp_path):
    _scores(tmp_path, "ECQA", 40.0, 10)
    _scores(tmp_path, "ARC", 40.0, 10, rule="reimplementation")
    assert read_scores([str(tmp_path)])["released_rule"] == "authors_code+reimplementation"
    _scores(tmp_path / "old", "ARC", 40.0, 10, rule=None)
    assert read_scores([str(tmp_path / "old")])["released_rule"] is None


def test_first_grad_norm_reads_the_first_logged_step(tmp_path):
    (tmp_path / "token_dynamics.jsonl").write_text(
        "\n".join(
            json.dumps(r)
            for r in [
                {"step": 1, "grad_norm": None},
                {"step": 2, "grad_norm": 4.5},
                {"step": 3, "grad_norm": 2.0},
            ]
        )
    )
    assert first_grad_norm(str(tmp_path)) == 4.5
