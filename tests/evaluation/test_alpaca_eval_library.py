"""The paper-scale AlpacaEval path hands the outputs to the `alpaca_eval` library (faked here: the real one
calls GPT-4 Turbo) and reads its leaderboard row: what goes in and what comes out."""

import json
import sys
import types

import pandas as pd

from bmc.cli import main
from bmc.io import read_jsonl


def fake_library(monkeypatch, calls):
    def evaluate(**kwargs):
        calls.append(kwargs)
        board = pd.DataFrame(
            {
                "win_rate": [40.0],
                "standard_error": [1.5],
                "length_controlled_winrate": [45.25],
                "n_total": [2],
            },
            index=[kwargs["name"]],
        )
        annotations = [
            {"instruction": "Q0", "preference": 2.0},
            {"instruction": "Q1", "preference": float("nan")},
        ]
        return board, annotations

    main_module = types.ModuleType("alpaca_eval.main")
    main_module.evaluate = evaluate
    package = types.ModuleType("alpaca_eval")
    package.main = main_module
    monkeypatch.setitem(sys.modules, "alpaca_eval", package)
    monkeypatch.setitem(sys.modules, "alpaca_eval.main", main_module)


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def test_alpaca_eval_scores_come_from_the_library(tmp_path, monkeypatch):
    calls = []
    fake_library(monkeypatch, calls)
    item = {"dataset": "alpaca_eval", "answer": ""}  # the fields every test item and generation carries
    tests = [
        {"id": f"alpaca_eval-{i}", "question": f"Q{i}", "baseline": f"turbo {i}", **item} for i in range(2)
    ]
    generations = [{"id": f"alpaca_eval-{i}", "response": "x" * (10 + i), **item} for i in range(2)]
    params = {
        "kind": "openai",
        "model": "gpt-4-1106-preview",
        "alpaca_eval_annotator": "weighted_alpaca_eval_gpt4_turbo",
        "baselines": {"alpaca_eval": "reference"},
    }
    out = tmp_path / "scores" / "scores.json"
    main(
        [
            "judge",
            "--generations",
            write_jsonl(tmp_path / "gen.jsonl", generations),
            "--tests",
            write_jsonl(tmp_path / "test.jsonl", tests),
            "--out",
            str(out),
            "--cache",
            str(tmp_path / "cache"),
            "--params",
            json.dumps(params),
            "--method",
            "DPO-BMC",
            "--seed",
            "0",
            "--dataset",
            "alpaca_eval",
        ]
    )
    (call,) = calls
    assert call["annotators_config"] == "weighted_alpaca_eval_gpt4_turbo" and call["name"] == "DPO-BMC"
    assert call["model_outputs"] == [
        {"instruction": "Q0", "output": "x" * 10, "generator": "DPO-BMC"},
        {"instruction": "Q1", "output": "x" * 11, "generator": "DPO-BMC"},
    ]
    assert [r["output"] for r in call["reference_outputs"]] == ["turbo 0", "turbo 1"]
    assert call["precomputed_leaderboard"] is None and call["caching_path"].endswith("annotations_cache.json")
    scores = json.loads(out.read_text())
    assert scores["score"] == scores["lc_win_rate"] == 45.25 and scores["win_rate"] == 40.0
    assert scores["judge"] == {"kind": "alpaca_eval", "model": "weighted_alpaca_eval_gpt4_turbo"}
    assert scores["avg_length"] == 10.5 and scores["unparsed"] == 1 and scores["judgments"] == 2
    judgments = read_jsonl(out.with_name("judgments.jsonl"))
    assert [(j["id"], j["preference"]) for j in judgments] == [
        ("alpaca_eval-0", 2.0),
        ("alpaca_eval-1", None),
    ]
