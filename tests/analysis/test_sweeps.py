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


def _scores(folder, dataset, score, n):
    (folder / dataset).mkdir(parents=True)
    (folder / dataset / "scores.json").write_text(json.dumps({"dataset": dataset, "score": score, "n": n}))
    return str(folder / dataset / "scores.json")


def test_sweep_scores_from_files_and_folders(tmp_path):
    a = _scores(tmp_path / "a", "ECQA", 40.0, 10)
    _scores(tmp_path / "b", "ECQA", 60.0, 10)
    _scores(tmp_path / "b", "ARC", 80.0, 10)
    assert read_scores([a])["avg"] == 40.0
    both = read_scores([str(tmp_path / "b")])
    assert {k: both[k] for k in ("sets", "avg", "n")} == {
        "sets": {"ARC": {"score": 80.0, "n": 10}, "ECQA": {"score": 60.0, "n": 10}},
        "avg": 70.0,
        "n": 20,
    }
    assert (both["ci_low"], both["ci_high"]) == pytest.approx(average_interval(both["sets"]))
    rows, summary = sweep_curve(
        {"score:qa:delta:1": [a], "score:qa:delta:3": [str(tmp_path / "b")], "x:qa": []}, "delta"
    )
    assert {p: (c["score"], c["n"]) for p, c in summary["qa"].items()} == {"1": (40.0, 10), "3": (70.0, 20)}
    assert summary["qa"]["1"]["ci_low"] < 40.0 < summary["qa"]["1"]["ci_high"]


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
