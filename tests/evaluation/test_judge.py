"""Pairwise judging: verdict parsing, both orders, the cache, position bias, and the scores of a test set."""

import json

import pytest

from bmc.config import ConfigError, Judge, job_settings
from bmc.evaluation.instruction_following import scores_of
from bmc.evaluation.judge import judge, model_preference, parse_verdict
from bmc.llm.cache import ResponseCache
from bmc.llm.clients import ChatClient

IDENTITY = {"kind": "fake", "model": "judge"}


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("My final verdict is [[A>>B]].", "A>>B"),
        ("[[B > A]]", "B>A"),
        ("first [[A>B]] then, on reflection, [[A=B]]", "A=B"),  # the last label counts
        ("A", "A>B"),
        ("(b) is better", "B>A"),
        ("Answer B.", "B>A"),
        ("Both are fine.", None),
        ("", None),
        # small judges' forms: single brackets, a letter on its own line or before punctuation
        ("[A>>B] (A is much better)", "A>>B"),
        ("A\n\nThe answer to this question", "A>B"),
        ("```\nA\n```", "A>B"),
        ("A:\n\nThe code is designed", "A>B"),
        ("B) Some famous actors", "B>A"),
        ("A is better than B", "A>B"),
        # a sentence that begins with the article "A" is no verdict
        ("A boy and girl can indeed be best friends", None),
        ("A good idea for a quiz", None),
        # the prompt's label list echoed back is no verdict either
        ("[[A>>B]] (A is much better), [[A>B]] (A is better), [[A=B]] (tie), [[B>A]], [[B>>A]]", None),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


class ScriptedJudge(ChatClient):
    """Answers every request with `rule(messages)`; counts its calls."""

    def __init__(self, rule):
        super().__init__()
        self.rule, self.calls = rule, 0

    def complete(self, requests):
        self.calls += 1
        self.usage["requests"] += len(requests)
        return [self.rule(m[0]["content"]) for m in requests]


ITEMS = [
    {"id": f"q{i}", "question": f"Question {i}", "response": "model " * (i + 1), "baseline": "base " * 3}
    for i in range(6)
]


def test_every_item_is_judged_in_both_orders_and_cached(tmp_path):
    made = []

    def factory():
        made.append(ScriptedJudge(lambda text: "[[A>B]]"))
        return made[-1]

    rows, usage = judge(ITEMS, IDENTITY, factory, ResponseCache(tmp_path), chunk=4)
    assert [(r["id"], r["model_first"]) for r in rows[:2]] == [("q0", True), ("q0", False)]
    assert len(rows) == 12 and usage["requests"] == 12 and usage["cache_hits"] == 0
    # a judge that always prefers the first answer: position bias cancels to 50%
    assert sum(model_preference(r) for r in rows) / len(rows) == 0.5
    rows_again, usage_again = judge(ITEMS, IDENTITY, factory, ResponseCache(tmp_path))
    assert len(made) == 1 and usage_again == {
        "requests": 0,
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "cache_hits": 12,
    }
    assert rows_again == rows


def test_a_judge_that_prefers_the_model_and_unparsed_replies(tmp_path):
    def rule(text):
        a = text.split("Answer A:")[1].split("Answer B:")[0]
        if "Question 5" in text:
            return "no idea"
        return "[[A>>B]]" if "model" in a else "[[B>A]]"

    rows, _ = judge(ITEMS, IDENTITY, lambda: ScriptedJudge(rule), ResponseCache(tmp_path))
    assert [model_preference(r) for r in rows] == [1.0] * 10 + [0.5, 0.5]
    assert [r["parsed"] for r in rows].count(False) == 2
    scores = scores_of(ITEMS, rows, "alpaca_eval", "DPO", rounds=10)
    assert scores["win_rate"] == pytest.approx(100 * 11 / 12, abs=0.01)
    assert scores["unparsed"] == 2 and scores["judgments"] == 12
    assert scores["avg_length"] == pytest.approx(sum(len(it["response"]) for it in ITEMS) / 6, abs=0.1)
    assert scores["score"] == scores["lc_win_rate"]
    arena = scores_of(ITEMS, rows, "arena_hard", "DPO", rounds=10)
    assert (
        arena["score"] == arena["win_rate"] > 90 and arena["ci_low"] <= arena["win_rate"] <= arena["ci_high"]
    )


def test_judge_settings_are_checked_before_any_work():
    def settings(**params):
        return job_settings(Judge, json.dumps({"kind": "hf", "model": "base", **params}), "judge")

    judge_settings = settings(baselines={"arena_hard": "SFT"}, batch_size=4)
    assert (judge_settings.template_version, judge_settings.bootstrap_rounds) == ("v1", 100)
    with pytest.raises(ConfigError, match=r"judge\.temprature: unknown key"):
        settings(baselines={}, temprature=0.0)
    with pytest.raises(ConfigError, match=r"judge\.kind: Input should be 'hf', 'vllm' or 'openai'"):
        settings(baselines={}, kind="gpt")
    with pytest.raises(ConfigError, match=r"judge\.baselines: Field required"):
        settings()
