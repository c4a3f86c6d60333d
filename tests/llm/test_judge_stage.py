"""Fault drills of the judge stage (bmc.stages.judge) through the OpenAI-compatible client: a judge request that
fails after its retries is never final unless `judge.max_failed_share` allows it."""

import json
from collections import Counter

import pytest

from bmc.cli import main
from bmc.llm.cache import RequestsFailed

from .conftest import cached_keys, editor, paid_twice, received


def judge_stage(tmp_path, url: str, **settings) -> dict:
    """Runs the judge stage on four Arena-Hard-like items; returns its scores."""
    item = {"dataset": "arena_hard", "answer": ""}
    tests = [
        {"id": f"ah-{i}", "question": f"Question item-{i}?", "baseline": "base", **item} for i in range(4)
    ]
    gens = [{"id": t["id"], "response": "model answer", **item} for t in tests]
    for name, rows in (("tests", tests), ("gens", gens)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {**editor(url), "baselines": {"arena_hard": "reference"}, "bootstrap_rounds": 10, **settings}
    out = tmp_path / "scores" / "scores.json"
    main(["judge", "--generations", str(tmp_path / "gens.jsonl"), "--tests", str(tmp_path / "tests.jsonl"),
          "--out", str(out), "--cache", str(tmp_path / "cache"), "--params", json.dumps(params),
          "--method", "DPO", "--seed", "0", "--dataset", "arena_hard"])  # fmt: skip
    return json.loads(out.read_text())


def test_failed_judge_requests_fail_the_stage_and_a_plain_rerun_asks_only_them(key, server, tmp_path):
    server.reply = lambda prompt: "My final verdict is: [[A>B]]"
    server.plan["item-2"] = ["500"] * 6  # both orders of item 2 spend the first run's retries
    with pytest.raises(
        RequestsFailed, match=r"judging .*: 2 of 8 requests failed after their retries \(HTTP 500: 2\)"
    ):
        judge_stage(tmp_path, server.url)
    assert not (tmp_path / "scores" / "scores.json").exists()
    assert len(cached_keys(tmp_path)) == received(tmp_path).total() == 6
    before = Counter(server.received)
    scores = judge_stage(tmp_path, server.url)
    assert server.received - before == {"item-2": 2}
    assert scores["failed"] == scores["unparsed"] == 0 and scores["judgments"] == 8
    assert scores["max_failed_share"] == 0.0 and paid_twice(tmp_path) == 0


def test_a_share_of_failed_judge_requests_may_be_allowed(key, server, tmp_path):
    server.reply = lambda prompt: "My final verdict is: [[A>B]]"
    server.plan["item-2"] = ["500"] * 6
    scores = judge_stage(tmp_path, server.url, max_failed_share=0.25, max_unparsed_share=0.25)
    assert scores["failed"] == scores["unparsed"] == 2 and scores["max_failed_share"] == 0.25


def test_a_cut_judge_reply_is_cached_and_read_as_arena_hard_reads_it(key, server, tmp_path):
    server.reply = lambda prompt: "[[A>B]] because it is longer"
    server.plan["item-1"] = ["length", "length"]  # both orders of item 1 cut after 10 characters
    scores = judge_stage(tmp_path, server.url)
    assert scores["failed"] == scores["unparsed"] == 0 and len(cached_keys(tmp_path)) == 8
    judgments = [
        json.loads(line) for line in (tmp_path / "scores" / "judgments.jsonl").read_text().splitlines()
    ]
    assert [j["reply"] for j in judgments if j["id"] == "ah-1"] == ["[[A>B]] be"] * 2
    judge_stage(tmp_path, server.url)
    assert server.total == 8 and paid_twice(tmp_path) == 0  # the rerun asks nothing
