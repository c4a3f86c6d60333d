"""Fault drills: each fault kind of the test server drives the bridging stage (bmc.stages.bridge) through the
OpenAI-compatible client; the stage never crashes on one item, every good reply is cached once, the ledger
counts what the server served, and the key is found nowhere."""

import json
from collections import Counter

import pytest

from bmc.bridging.bridge import edit_key
from bmc.bridging.prompts import load_template
from bmc.evaluation.judge import judge
from bmc.llm import endpoint
from bmc.llm.cache import ResponseCache
from bmc.llm.clients import client_identity, legacy_identity, make_client
from bmc.stages.bridge import run

from .conftest import EDIT, cached_keys, editor, files_holding, make_pairs, outputs, stage_args
from .fault_server import FAULTS, FINAL, FaultServer


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_fault_is_retried_or_recorded_and_never_stops_the_stage(fault, key, server, tmp_path, caplog):
    pairs = make_pairs(4)
    server.plan["item-1"] = [fault] * 2  # transient: two faults, then a good reply
    server.plan["item-2"] = [fault] * 5  # persistent: more faults than the retry budget (2 retries)
    args = stage_args(tmp_path, pairs, editor(server.url))
    with caplog.at_level("DEBUG"):
        run(args)
    rows, summary = outputs(tmp_path)
    assert [r["id"] for r in rows] == [p["id"] for p in pairs]
    status = {r["id"]: (r["bridge"]["status"], r["bridge"]["reason"]) for r in rows}
    failed = ("fallback", f"editor request failed: {FAULTS[fault]}")
    assert status["pair-0"] == status["pair-3"] == ("edited", None)
    if fault in FINAL:  # retrying cannot help: recorded at once
        assert status["pair-1"] == status["pair-2"] == failed
        assert server.received == {"item-0": 1, "item-1": 1, "item-2": 1, "item-3": 1}
    else:
        assert status["pair-1"] == ("edited", None) and status["pair-2"] == failed
        assert server.received == {"item-0": 1, "item-1": 3, "item-2": 3, "item-3": 1}
    edited = {r["id"] for r in rows if r["bridge"]["status"] == "edited"}
    assert len(cached_keys(tmp_path)) == len(edited)  # failures are not cached
    assert all(r["chosen"] == EDIT for r in rows if r["id"] in edited)
    usage = summary["editor_usage"]
    assert usage["requests"] == server.total and usage["failed"] == server.total - len(edited)
    assert summary["fallback_reasons"] == {failed[1]: 4 - len(edited)}
    assert not files_holding(tmp_path, key) and key not in caplog.text
    # a rerun asks only the failed items again, never a finished one
    before = Counter(server.received)
    run(args)
    asked = set(server.received - before)
    assert asked == {f"item-{r['id'].split('-')[1]}" for r in rows if r["id"] not in edited}
    assert outputs(tmp_path)[1]["editor_usage"]["requests"] == server.total
    assert not files_holding(tmp_path, key)


def test_a_reply_quoting_the_key_is_stored_without_it(key, server, tmp_path, caplog):
    server.plan["item-0"] = ["key_in_reply"]
    with caplog.at_level("DEBUG"):
        run(stage_args(tmp_path, make_pairs(2), editor(server.url)))
    rows, _ = outputs(tmp_path)
    assert rows[0]["bridge"]["status"] == "edited" and rows[0]["chosen"].startswith("(debug: Bearer ***)")
    assert not files_holding(tmp_path, key) and key not in caplog.text


def test_retry_after_is_honoured(key, server, tmp_path):
    server.retry_after = "1"
    server.plan["item-0"] = ["429"]
    run(stage_args(tmp_path, make_pairs(1), editor(server.url)))
    first, second = server.times["item-0"]
    assert second - first >= 0.95  # the backoff alone would wait about a millisecond
    assert outputs(tmp_path)[0][0]["bridge"]["status"] == "edited"


def test_a_refused_key_stops_the_stage_and_a_rerun_counts_both_runs(key, server, tmp_path, caplog):
    pairs = make_pairs(6)
    server.plan["item-3"] = ["401"]
    args = stage_args(tmp_path, pairs, editor(server.url, max_concurrency=1))
    with caplog.at_level("DEBUG"), pytest.raises(RuntimeError, match="refused the key: HTTP 401") as err:
        run(args)
    assert key not in str(err.value) and key not in caplog.text
    assert len(cached_keys(tmp_path)) == 3  # items 0-2 were answered before the refusal, and kept
    first_run = server.total
    run(args)
    rows, summary = outputs(tmp_path)
    assert all(r["bridge"]["status"] == "edited" for r in rows)
    assert set(server.received) == {f"item-{i}" for i in range(6)} and server.received["item-3"] == 2
    assert server.total - first_run == 3  # items 3-5 only
    usage = summary["editor_usage"]
    assert (
        usage["requests"] == server.total == 7 and usage["runs"] == 2 and usage["this_run"]["requests"] == 3
    )
    assert not files_holding(tmp_path, key)


def test_an_endpoint_that_fails_everything_stops_the_stage(key, server, tmp_path, monkeypatch):
    monkeypatch.setattr(endpoint, "FAILURES_IN_A_ROW", 3)
    for i in range(6):
        server.plan[f"item-{i}"] = ["500"] * 5
    args = stage_args(tmp_path, make_pairs(6), editor(server.url, max_retries=0, max_concurrency=1))
    with pytest.raises(RuntimeError, match="3 requests in a row failed after their retries"):
        run(args)
    assert server.total == 3 and not (tmp_path / "out" / "pairs.jsonl").exists()


def test_moving_the_server_to_another_port_keeps_every_cached_edit(key, server, tmp_path):
    pairs = make_pairs(3)
    run(stage_args(tmp_path, pairs, editor(server.url)))
    first = outputs(tmp_path)[0]
    with FaultServer(lambda prompt: "never asked") as moved:
        assert moved.url != server.url
        run(stage_args(tmp_path, pairs, editor(moved.url)))
        assert moved.total == 0
    assert outputs(tmp_path)[0] == first


def test_cache_entries_keyed_with_the_url_stay_readable(key, server, tmp_path):
    pairs, config = make_pairs(2), editor(server.url)
    template, cache = load_template("targeted"), ResponseCache(tmp_path / "cache")
    old_key = edit_key(template, legacy_identity(config), template.render(pairs[0]))
    cache.put(old_key, EDIT, template.name, {"kind": "openai", "model": "editor"})
    run(stage_args(tmp_path, pairs, config))
    rows, _ = outputs(tmp_path)
    assert dict(server.received) == {"item-1": 1} and rows[0]["bridge"]["status"] == "edited"
    assert rows[0]["bridge"]["cache_key"] == edit_key(
        template, client_identity(config, None), template.render(pairs[0])
    )


def test_bridging_says_what_changed_since_the_last_run(key, server, tmp_path, caplog):
    pairs = make_pairs(2)
    run(stage_args(tmp_path, pairs, editor(server.url)))
    with caplog.at_level("INFO"):
        run(stage_args(tmp_path, pairs, editor(server.url)))
    assert "same inputs as the last run" in caplog.text and server.total == 2
    caplog.clear()
    with caplog.at_level("INFO"):
        run(stage_args(tmp_path, pairs, editor(server.url, max_new_tokens=64)))
    assert "inputs changed since the last run (editor.params.0.1: 1024 -> 64)" in caplog.text
    assert server.total == 4  # a new decoding setting: asked again


def test_the_judge_records_a_failed_request_as_unparsed(key, server, tmp_path):
    server.reply = lambda prompt: "[[A>B]]"
    items = [{"id": f"q{i}", "question": f"Q item-{i}", "response": "r", "baseline": "b"} for i in range(2)]
    server.plan["item-1"] = ["500"] * 6  # both orders of item 1 fail after their retries
    config = editor(server.url)
    rows, usage = judge(items, client_identity(config, None), lambda: make_client(config, None, "judge"),
                        ResponseCache(tmp_path))  # fmt: skip
    assert [r.get("error") for r in rows] == [None, None, "HTTP 500", "HTTP 500"]
    assert [r["parsed"] for r in rows] == [True, True, False, False] and rows[2]["verdict"] is None
    assert usage["requests"] == server.total == 8 and len(list(tmp_path.glob("??/*.json"))) == 2
    ledger = [json.loads(line) for line in (tmp_path / "ledger.jsonl").read_text().splitlines()]
    assert sum(r["event"] == "sent" for r in ledger) == 8 and not files_holding(tmp_path, key)
