import json

import pytest

from bmc.analysis.bridging_cost import cost, row_of
from bmc.analysis.common import Analysis, bootstrap_ci, describe, parse_inputs, save
from bmc.analysis.diff_algorithm import agreement
from bmc.analysis.fig2_span_surprise import span_split
from bmc.analysis.sec53_reward import held_out_pairs, reward_stats
from bmc.analysis.token_dynamics import endpoints
from bmc.config import Price


def test_span_split_on_a_known_mask():
    nll = [0.1, 9.0, 1.0, 2.0, 0.2, 7.0, 0.3, 8.0, 3.0]
    mask = [0, 1, 1, 1, 0, 1, 0, 1, 1]
    first, following = span_split(nll, mask)
    assert first == [9.0, 7.0, 8.0]
    assert following == [1.0, 2.0, 3.0]
    assert span_split([5.0, 6.0], [1, 1]) == ([5.0], [6.0])  # a span at position 0
    assert span_split([1.0], [0]) == ([], [])
    with pytest.raises(ValueError):
        span_split([1.0], [1, 0])


def test_reward_accuracy_and_margin_on_known_log_probs():
    # (log π(y_w), log π(y_l)) and the reference's; β = 0.5
    policy = [(-10.0, -12.0), (-5.0, -4.0), (-8.0, -8.0)]
    ref = [(-11.0, -11.0), (-5.0, -5.0), (-8.0, -9.0)]
    out = reward_stats(policy, ref, beta=0.5)
    # margins: 0.5·((1) − (−1)) = 1, 0.5·(0 − 1) = −0.5, 0.5·(0 − 1) = −0.5
    assert out["margins"] == pytest.approx([1.0, -0.5, -0.5])
    assert out["accuracy"] == pytest.approx(100 / 3)
    assert out["margin"] == pytest.approx(0.0)


def test_held_out_pairs_take_the_sft_models_wrong_answers(tmp_path):
    def jsonl(name, rows):
        path = tmp_path / name
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return str(path)

    tests = jsonl("t.jsonl", [{"id": i, "question": f"q{i}", "solution": f"s{i}"} for i in ("a", "b", "c")])
    gens = jsonl("g.jsonl", [{"id": i, "response": f"r{i}"} for i in ("a", "b", "c")])
    records = jsonl(
        "r.jsonl",
        [{"id": "a", "correct": False}, {"id": "b", "correct": True}, {"id": "c", "correct": False}],
    )
    pairs = held_out_pairs([tests], [gens], [records])
    assert [(p["id"], p["chosen"], p["rejected"]) for p in pairs] == [("a", "sa", "ra"), ("c", "sc", "rc")]


def test_mask_agreement():
    assert agreement([1, 0, 1, 0], [1, 1, 0, 0]) == {"agreement": 0.5, "jaccard": 1 / 3}
    assert agreement([0, 0], [0, 0]) == {"agreement": 1.0, "jaccard": 1.0}


def test_token_dynamics_endpoints_skip_missing_steps():
    rows = [{"x": None}, {"x": -3.0}, {"x": -2.0}, {"x": -1.5}]
    assert endpoints(rows, "x") == {"first": -3.0, "last": -1.5, "change": 1.5}
    assert endpoints([{}], "x")["change"] is None


def test_bridging_cost_row(tmp_path):
    summary = tmp_path / "bridged" / "qa" / "targeted+gpt" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(
        json.dumps(
            {
                "pairs": 4,
                "strategy": "targeted",
                "editor": {"model": "m"},
                "status": {"edited": 3},
                "editor_usage": {
                    "requests": 4,
                    "prompt_tokens": 2000,
                    "completion_tokens": 1000,
                    "cache_hits": 0,
                },
                "wall_s": 8.0,
            }
        )
    )
    row = row_of(str(summary), {"gpt": Price(input=10.0, output=30.0)})
    assert (row["task"], row["strategy"], row["editor"], row["calls"]) == ("qa", "targeted", "gpt", 4)
    assert row["cost"] == pytest.approx(0.05) and row["wall_s_per_pair"] == 2.0
    assert cost(1, 1, None) is None


def test_bootstrap_ci_brackets_the_mean():
    values = [float(v) for v in range(20)]
    low, high = bootstrap_ci(values)
    assert low < 9.5 < high
    assert describe([1.0])["ci_low"] is None and describe([1.0, 3.0])["mean"] == 2.0


def test_parse_inputs_groups_repeated_keys():
    assert parse_inputs(["a=x", "b=y", "a=z"]) == {"a": ["x", "z"], "b": ["y"]}
    with pytest.raises(ValueError):
        parse_inputs(["novalue"])


def test_save_writes_the_four_outputs_with_the_papers_values(tmp_path):
    def draw(ax):
        ax.plot([0, 1], [0, 1])

    prefix = tmp_path / "figures" / "demo"
    save(
        str(prefix),
        Analysis([{"x": 1}], {"mean": 2.0}, draw),
        "demo",
        "Demo",
        "SMOKE SCALE",
        {"values": {"m": 1}},
    )
    for ext in ("png", "pdf", "csv"):
        assert (tmp_path / "figures" / f"demo.{ext}").stat().st_size > 0
    summary = json.loads((tmp_path / "figures" / "demo.json").read_text())
    assert summary["ours"] == {"mean": 2.0} and summary["paper"] == {"values": {"m": 1}}
    assert summary["label"] == "SMOKE SCALE"


def test_analysis_masks_equal_the_trainers():
    from bmc.alignment.trainer import response_masks as trainer_masks
    from bmc.analysis.scoring import response_masks

    prompt, chosen, rejected = [7, 8, 9], [1, 2, 3, 4, 5], [1, 9, 3, 5, 6, 6]
    for algorithm in ("difflib", "levenshtein"):
        ours = response_masks(prompt, chosen, rejected, {3}, algorithm)
        assert ours == trainer_masks(prompt, chosen, rejected, {3}, algorithm)
        assert len(ours[0]) == len(chosen) and len(ours[1]) == len(rejected)
