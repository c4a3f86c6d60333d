"""Pairwise judging: verdict parsing, both orders, the cache, position bias, Arena-Hard's prompt and second
attempt, the scores of a test set, and the judge stage against the stand-in OpenAI endpoint."""

import json
import sys
from pathlib import Path

import pytest

from bmc.cli import main
from bmc.config import ConfigError, Judge, job_settings
from bmc.data.records import JUDGMENT
from bmc.evaluation.instruction_following import scores_of
from bmc.evaluation.judge import (
    arena_hard_prompt,
    check_unparsed_shares,
    judge,
    judge_keys,
    model_preference,
    parse_verdict,
)
from bmc.io import InputError, read_jsonl
from bmc.llm.cache import ResponseCache
from bmc.llm.clients import ChatClient
from bmc.reporting import power

IDENTITY = {"kind": "fake", "model": "judge"}


@pytest.mark.parametrize(
    "reply, verdict",
    [
        ("My final verdict is [[A>>B]].", "A>>B"),
        ("[[B>A]]", "B>A"),
        ("[[A=B]] ... so, again: [[A=B]]", "A=B"),  # one label, repeated
        ("first [[A>B]] then, on reflection, [[A=B]]", None),  # conflicting labels
        # free text is no verdict, however it reads
        ("Assistant B is worse than A", None),
        ("Assistant A and B are tied", None),
        ("A", None),
        ("Answer B.", None),
        ("Both are fine.", None),
        ("", None),
        # only the prompt's exact labels
        ("[A>>B]", None),
        ("[[B > A]]", None),
        ("[[AB]]", None),  # matches the pattern, off the scale
        ("[[A>>>B]]", None),
        # the prompt's label list echoed back
        ("[[A>>B]] (A is much better), [[A>B]] (A is better), [[A=B]] (tie), [[B>A]], [[B>>A]]", None),
    ],
)
def test_parse_verdict(reply, verdict):
    assert parse_verdict(reply) == verdict


class ScriptedJudge(ChatClient):
    """Answers every request with `rule(text of its last user turn)` (`rule(text, messages)` with
    `whole=True`); counts its calls."""

    def __init__(self, rule, whole=False):
        super().__init__()
        self.rule, self.whole, self.calls = rule, whole, 0

    def complete(self, requests):
        self.calls += 1
        self.usage["requests"] += len(requests)
        return [
            self.rule(m[-1]["content"], m) if self.whole else self.rule(m[-1]["content"]) for m in requests
        ]


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


def test_an_answer_equal_to_its_baseline_is_judged_in_both_orders(tmp_path):
    # both orders then show the same two texts: one request, asked once, read back for every judgment
    same = [{"id": "q0", "question": "Q", "response": "same words", "baseline": "same words"}, *ITEMS[:1]]
    rows, usage = judge(
        same, IDENTITY, lambda: ScriptedJudge(lambda text: "[[A=B]]"), ResponseCache(tmp_path)
    )
    assert [(r["id"], r["model_first"], r["verdict"]) for r in rows[:2]] == [
        ("q0", True, "A=B"),
        ("q0", False, "A=B"),
    ]
    assert len(rows) == 4 and usage["requests"] == 3


def test_a_judge_that_prefers_the_model_and_unparsed_replies(tmp_path):
    def rule(text):
        a = text.split("Answer A:")[1].split("Answer B:")[0]
        if "Question 5" in text:
            return "no idea"
        return "[[A>>B]]" if "model" in a else "[[B>A]]"

    rows, _ = judge(ITEMS, IDENTITY, lambda: ScriptedJudge(rule), ResponseCache(tmp_path))
    assert [model_preference(r) for r in rows] == [1.0] * 10 + [None, None]
    assert [r["verdict"] for r in rows[-2:]] == [None, None] and [r["parsed"] for r in rows].count(False) == 2
    scores = scores_of(ITEMS, rows, "alpaca_eval", "DPO", rounds=10, bound=0.1)
    assert scores["win_rate"] == 100.0  # the unparsed pair is left out, not counted as a tie
    assert scores["unparsed"] == 2 and scores["judgments"] == 12 and scores["unparsed_share"] == 0.1667
    assert scores["max_unparsed_share"] == 0.1
    assert scores["avg_length"] == pytest.approx(sum(len(it["response"]) for it in ITEMS) / 6, abs=0.1)
    assert scores["score"] == scores["lc_win_rate"]
    arena = scores_of(ITEMS, rows, "arena_hard", "DPO", rounds=10)
    assert (
        arena["score"] == arena["win_rate"] > 90 and arena["ci_low"] <= arena["win_rate"] <= arena["ci_high"]
    )


def arena_hard_folder(folder: Path) -> Path:
    """A folder laid out as the `arena_hard_judge` rule lays out Arena-Hard's files (a made-up prompt)."""
    folder.mkdir(parents=True, exist_ok=True)
    config = {
        "bench_name": "arena-hard-v0.1",
        "judge_model": "gpt-4-1106-preview",
        "temperature": 0,
        "max_tokens": 4096,
        "regex_pattern": r"\[\[([AB<>=]+)\]\]",
        "number_of_judgment_attempts": 2,
        "system_prompt": "Judge the two answers. End with one of [[A>>B]] [[A>B]] [[A=B]] [[B>A]] [[B>>A]].",
        "prompt_template": ["<|Q|>\n{question_1}\n<|A|>\n{answer_1}\n<|B|>\n{answer_2}"],
    }
    (folder / "judge_config.yaml").write_text(json.dumps(config))
    (folder / "gen_judgment.py").write_text(
        "def judgment(**args):\n"
        "    conv = [{'role': 'system', 'content': args['system']}]\n"
        "    conv.append({'role': 'user', 'content': 'please end with a verdict label'})\n"
    )
    return folder


def test_arena_hards_prompt_asks_again_when_a_reply_holds_no_label(tmp_path):
    prompt = arena_hard_prompt(arena_hard_folder(tmp_path / "ah"))
    assert prompt.attempts == 2 and prompt.follow_up == "please end with a verdict label"
    messages = prompt.messages("Q", "first", "second")
    assert (
        messages[0]["role"] == "system" and messages[1]["content"] == "<|Q|>\nQ\n<|A|>\nfirst\n<|B|>\nsecond"
    )

    def rule(text, messages):
        if text == prompt.follow_up:  # the second attempt
            return "[[B>A]]"
        question = text.split("\n")[1]
        return {"Question 0": "I need to think more.", "Question 1": "[[A>B]] no, [[B>A]]"}.get(
            question, "[[A=B]]"
        )

    cache = ResponseCache(tmp_path / "cache")
    rows, usage = judge(ITEMS[:3], IDENTITY, lambda: ScriptedJudge(rule, whole=True), cache, prompt)
    assert [r["attempts"] for r in rows] == [2, 2, 1, 1, 1, 1] and usage["requests"] == 8
    assert [r["verdict"] for r in rows] == ["B>A", "B>A", None, None, "A=B", "A=B"]
    assert (
        rows[0]["reply"] == "\nI need to think more.\n[[B>A]]"
    )  # both replies, joined as Arena-Hard joins them
    assert len(judge_keys(ITEMS[:3], IDENTITY, prompt, cache)) == 8
    again, usage = judge(ITEMS[:3], IDENTITY, lambda: pytest.fail("no request should be made"), cache, prompt)
    assert again == rows and usage["cache_hits"] == 8


def test_the_tables_refuse_a_file_above_its_bound(tmp_path):
    paths = []
    for name, unparsed in (("ok", 1), ("over", 3)):
        scores = {
            "dataset": "arena_hard",
            "judgments": 40,
            "unparsed": unparsed,
            "unparsed_share": unparsed / 40,
        }
        paths.append(tmp_path / name / "scores.json")
        paths[-1].parent.mkdir()
        paths[-1].write_text(json.dumps({**scores, "max_unparsed_share": 0.05}))
    graded = tmp_path / "graded.json"
    graded.write_text(json.dumps({"dataset": "ECQA", "score": 50.0}))
    check_unparsed_shares([str(paths[0]), str(graded)])
    with pytest.raises(
        InputError, match=r"over/scores.json: 3 of 40 judgments \(7\.5%\) have no verdict, above"
    ):
        check_unparsed_shares([str(p) for p in paths])


def judge_stage(tmp_path, method, params, dataset="arena_hard", judge_prompt=None):
    """Runs the judge stage on a small Arena-Hard-like set; returns its scores.json path."""
    item = {"dataset": dataset, "answer": ""}
    tests = [
        {"id": f"{dataset}-{i}", "question": f"Question {i}?", "baseline": "base " * (2 + i % 3), **item}
        for i in range(20)
    ]
    gens = [{"id": t["id"], "response": f"{method} " * (1 + i % 5), **item} for i, t in enumerate(tests)]
    for name, rows in (("tests", tests), (method, gens)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scores" / method / "scores.json"
    argv = [
        "judge",
        "--generations",
        str(tmp_path / f"{method}.jsonl"),
        "--tests",
        str(tmp_path / "tests.jsonl"),
    ]
    argv += ["--out", str(out), "--cache", str(tmp_path / "cache"), "--params", json.dumps(params)]
    argv += ["--method", method, "--seed", "0", "--dataset", dataset]
    main(argv + (["--judge-prompt", str(judge_prompt)] if judge_prompt else []))
    return out


STANDIN = f"{sys.executable} -m bmc.standin.openai_server"


@pytest.mark.parametrize("arena_hard", [False, True])
def test_the_judge_stage_against_the_stand_in_endpoint(tmp_path, monkeypatch, arena_hard):
    """A judge served by the job itself (the stand-in in place of `vllm serve`): labels from the suite's or
    Arena-Hard's prompt, some replies without a verdict, and judgments the tables' power code takes."""
    monkeypatch.setenv("STANDIN_KEY", "sk-standin")
    params = {
        "kind": "openai",
        "model": "standin-judge",
        "api_key_env": "STANDIN_KEY",
        "max_new_tokens": 64,
        "serve": {"command": f"{STANDIN} --unparsed-every 6", "startup_timeout_s": 60, "stop_grace_s": 5},
        "baselines": {"arena_hard": "reference"},
        "bootstrap_rounds": 10,
        "max_unparsed_share": 0.3,
    }
    folder = arena_hard_folder(tmp_path / "ah") if arena_hard else None
    paths = [str(judge_stage(tmp_path, m, params, judge_prompt=folder)) for m in ("DPO", "DPO-BMC")]
    scores = json.loads(Path(paths[0]).read_text())
    judgments = read_jsonl(Path(paths[0]).with_name("judgments.jsonl"), required=JUDGMENT)
    assert len(judgments) == scores["judgments"] == 40 and scores["judge"]["model"] == "standin-judge"
    assert scores["judge_prompt"]["name"] == ("arena-hard-v0.1" if arena_hard else "pairwise_v1")
    assert ("Arena-Hard v0.1" in scores["judge_prompt"]["source"]) == arena_hard
    labels = {j["verdict"] for j in judgments}
    assert None in labels and len(labels - {None}) >= 4  # every label drawn, some replies without one
    assert scores["unparsed"] == sum(j["verdict"] is None for j in judgments) > 0
    if arena_hard:  # a reply with no label is asked again, and the stand-in then gives one
        assert any(j["attempts"] == 2 and j["verdict"] is not None for j in judgments)
    assert scores["win_rate"] is not None and scores["ci_low"] <= scores["win_rate"] <= scores["ci_high"]
    check_unparsed_shares(paths)
    rows = power.power_rows("table5_if", paths, {})
    assert [(r["base"], r["other"]) for r in rows] == [("DPO", "DPO-BMC")] and rows[0]["n_items"] > 0


def test_a_local_judge_choosing_labels_gives_every_judgment_a_verdict_cached_apart(tmp_path, tiny_model_dir):
    """The same requests judged with written replies, then with chosen labels: none of the chosen labels
    comes from the written replies' cache, every one is parsed, and a rerun takes them all from the cache."""
    params = {"kind": "hf", "model": str(tiny_model_dir), "max_new_tokens": 4, "batch_size": 8}
    params |= {"baselines": {"arena_hard": "reference"}, "bootstrap_rounds": 10, "max_unparsed_share": 1.0}

    def run(**extra):
        path = judge_stage(tmp_path, "DPO", {**params, **extra})
        return json.loads(path.read_text()), read_jsonl(path.with_name("judgments.jsonl"), required=JUDGMENT)

    written, _ = run()
    assert (
        written["judge"]["verdict_from"] == "reply" and written["judge_usage"]["this_run"]["requests"] == 40
    )
    chosen, judgments = run(verdict_from="label_likelihood")
    assert chosen["judge"] == {"kind": "hf", "model": str(tiny_model_dir), "verdict_from": "label_likelihood"}
    assert chosen["judge_usage"]["cache_hits"] == 0 and chosen["judge_usage"]["this_run"]["requests"] == 40
    assert chosen["unparsed"] == 0 and len(judgments) == 40
    assert all(j["parsed"] and j["reply"] == f"[[{j['verdict']}]]" for j in judgments)
    assert chosen["win_rate"] is not None
    again, rows = run(verdict_from="label_likelihood")
    assert again["judge_usage"]["cache_hits"] == 40 and rows == judgments


def test_judge_settings_are_checked_before_any_work():
    def settings(**params):
        return job_settings(Judge, json.dumps({"kind": "hf", "model": "base", **params}), "judge")

    judge_settings = settings(baselines={"arena_hard": "SFT"}, batch_size=4)
    assert (judge_settings.template_version, judge_settings.bootstrap_rounds) == ("v1", 100)
    assert judge_settings.max_unparsed_share == 0.05 and judge_settings.arena_hard_prompt is None
    with pytest.raises(
        ConfigError, match=r"judge\.max_unparsed_share: Input should be less than or equal to 1"
    ):
        settings(baselines={}, max_unparsed_share=1.5)
    with pytest.raises(ConfigError, match=r"judge\.arena_hard_prompt\.commit: String should match pattern"):
        settings(baselines={}, arena_hard_prompt={"commit": "main"})
    assert judge_settings.verdict_from == "reply"
    assert settings(baselines={}, verdict_from="label_likelihood").verdict_from == "label_likelihood"
    for kind in ("openai", "vllm"):
        with pytest.raises(
            ConfigError, match=rf"judge\.verdict_from: label_likelihood .* \(kind hf\), not from kind {kind}"
        ):
            settings(baselines={}, kind=kind, verdict_from="label_likelihood")
