"""The paper-scale AlpacaEval path runs the real `alpaca_eval` library (0.6.6) through the judge stage, against
the stand-in OpenAI endpoint (its weighted annotator's log-probs) and a stand-in `df_gamed.csv` in an offline hub
cache (its length-controlled GLM): what the judgments carry, and that the tables' checks and power code take them."""

import json
import os
import subprocess
import sys

import pytest

from bmc.data.records import JUDGMENT
from bmc.evaluation.alpaca_eval_library import check_order
from bmc.evaluation.judge import check_unparsed_shares
from bmc.io import InputError, read_jsonl
from bmc.reporting import power
from bmc.standin import alpaca_eval_hub
from bmc.standin.openai_server import running

pytest.importorskip("alpaca_eval", reason="the dev extra installs alpaca_eval==0.6.6")
ANNOTATOR = "weighted_alpaca_eval_gpt4_turbo"
N = 16


def write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return str(path)


def write_test_set(tmp_path):
    tests = [
        {
            "id": f"alpaca_eval-{i}",
            "dataset": "alpaca_eval",
            "question": f"Instruction {i}: explain topic {i} to a beginner.",
            "answer": "",
            "baseline": "The reference explains it. " * (2 + i % 5),
            "source": {"file": "if/alpaca_eval.json", "index": i},
        }
        for i in range(N)
    ]
    return write_jsonl(tmp_path / "alpaca_eval.jsonl", tests)


def generations(tmp_path, method, words):
    rows = [
        {
            "id": f"alpaca_eval-{i}",
            "dataset": "alpaca_eval",
            "answer": "",
            "response": f"{method} says " * words(i),
        }
        for i in range(N)
    ]
    return write_jsonl(tmp_path / f"{method}.jsonl", rows)


@pytest.fixture
def offline_hub(tmp_path):
    """The environment of a judge job that reads the hub offline and has an API key."""
    hub = tmp_path / "hub"
    alpaca_eval_hub.lay_out(hub, 805)
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_HUB_CACHE": str(hub), "STANDIN_KEY": "sk-standin"}


def run_judge(tmp_path, env, base_url, method, gens, bound=0.05):
    params = {
        "kind": "openai",
        "model": "gpt-4-1106-preview",
        "base_url": base_url,
        "api_key_env": "STANDIN_KEY",
        "alpaca_eval_annotator": ANNOTATOR,
        "max_unparsed_share": bound,
        "baselines": {"alpaca_eval": "reference"},
    }
    out = tmp_path / "scores" / method / "scores.json"
    cmd = [
        sys.executable,
        "-m",
        "bmc.cli",
        "judge",
        "--generations",
        gens,
        "--tests",
        str(tmp_path / "alpaca_eval.jsonl"),
    ]
    cmd += ["--out", str(out), "--cache", str(tmp_path / "cache"), "--params", json.dumps(params)]
    cmd += ["--method", method, "--seed", "0", "--dataset", "alpaca_eval"]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return out


def test_the_library_judges_through_the_stage_and_its_judgments_feed_the_tables(tmp_path, offline_hub):
    write_test_set(tmp_path)
    env = {**offline_hub, "VLLM_API_KEY": "sk-standin"}  # the stand-in wants the key the judge sends
    with running(tmp_path / "standin", "--unparsed-every", "5", env=env) as url:
        dpo = run_judge(tmp_path, offline_hub, url, "DPO", generations(tmp_path, "DPO", lambda i: 3 + i % 4))
        bmc = run_judge(
            tmp_path, offline_hub, url, "DPO-BMC", generations(tmp_path, "DPO-BMC", lambda i: 4 + i % 6)
        )
    scores = json.loads(dpo.read_text())
    assert scores["judge"] == {"kind": "alpaca_eval", "model": ANNOTATOR} and scores["n"] == N
    assert scores["score"] == scores["lc_win_rate"] and 0 < scores["lc_win_rate"] < 100
    judgments = read_jsonl(dpo.with_name("judgments.jsonl"), required=JUDGMENT)
    assert len(judgments) == scores["judgments"] == N
    unparsed = [j for j in judgments if j["verdict"] is None]
    assert 0 < len(unparsed) == scores["unparsed"] < N  # the stand-in's answers without "m" or "M"
    assert scores["unparsed_share"] == round(len(unparsed) / N, 4) and scores["max_unparsed_share"] == 0.05
    parsed = [j for j in judgments if j["verdict"] is not None]
    assert all(j["p_model"] == pytest.approx(j["preference"] - 1) for j in parsed)
    # the library's win rate is the mean weighted preference of the judgments with a verdict
    assert scores["win_rate"] == pytest.approx(
        100 * sum(j["p_model"] for j in parsed) / len(parsed), abs=0.01
    )
    # model_first is the order the annotator saw: its chosen token "m" names the output shown first
    annotations = json.loads((dpo.parent / "alpaca_eval" / ANNOTATOR / "annotations.json").read_text())
    for a, j in zip(annotations, judgments, strict=True):
        if j["verdict"] is not None:
            first_chosen = a["preference_raw_completion"]["logprobs"]["content"][0]["token"] == "m"
            assert (first_chosen == (j["p_model"] > 0.5)) == j["model_first"]
            assert j["verdict"] == ("A>B" if first_chosen else "B>A")
    assert {j["model_first"] for j in judgments} == {True, False}
    # the table stage: its check holds each file to its bound, and the power code leaves unparsed ones out
    with pytest.raises(
        InputError, match=r"judgments \(\d+\.\d%\) have no verdict, above judge\.max_unparsed_share 5\.0%"
    ):
        check_unparsed_shares([str(dpo), str(bmc)])
    rows = power.power_rows("table2", [str(dpo), str(bmc)], {})
    (row,) = [r for r in rows if (r["base"], r["other"]) == ("DPO", "DPO-BMC")]
    both = {j["id"] for j in parsed} & {
        j["id"] for j in read_jsonl(bmc.with_name("judgments.jsonl")) if j["verdict"] is not None
    }
    assert row["n_items"] == len(both) and row["test"] == "paired bootstrap"


def test_a_bound_the_share_stays_under_passes(tmp_path, offline_hub):
    write_test_set(tmp_path)
    with running(tmp_path / "standin", "--unparsed-every", "0") as url:
        out = run_judge(tmp_path, offline_hub, url, "DPO", generations(tmp_path, "DPO", lambda i: 2 + i))
    scores = json.loads(out.read_text())
    assert scores["unparsed"] == 0 and scores["unparsed_share"] == 0.0
    check_unparsed_shares([str(out)])
    assert (out.parent / "alpaca_eval" / "glm_weights").is_dir()  # the GLM's weights stay beside the scores


def test_the_library_needs_alpaca_evals_own_order():
    items = [{"id": f"q{i}", "index": i} for i in (0, 1, 2)]
    check_order(items)
    check_order([{"id": "q"}])  # a test set that does not say where its questions come from
    with pytest.raises(InputError, match="must be AlpacaEval's first 2 instructions in order"):
        check_order([{"id": "a", "index": 0}, {"id": "b", "index": 5}])
