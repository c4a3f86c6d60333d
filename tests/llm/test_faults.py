"""Fault drills: each fault kind of the test server drives the bridging stage (bmc.stages.bridge) through the
OpenAI-compatible client. A failed request is never final: the stage finishes and caches everything else, then
fails naming it, and a plain rerun asks only it (unless `bridge.max_failed_share` allows it). A reply that
arrived is cached, whatever stops the stage, and no reply is received twice; the key is found nowhere."""

import errno
import json
import re
from collections import Counter

import pytest

from bmc.bridging.bridge import edit_key
from bmc.bridging.prompts import load_template
from bmc.evaluation.judge import judge
from bmc.llm import endpoint
from bmc.llm.cache import RequestsFailed, ResponseCache
from bmc.llm.clients import client_identity, legacy_identity
from bmc.llm.factory import make_client
from bmc.llm.ledger import Ledger
from bmc.reporting import bridged
from bmc.stages.bridge import run

from .conftest import (
    EDIT,
    cached_keys,
    editor,
    files_holding,
    make_pairs,
    outputs,
    paid_twice,
    received,
    stage_args,
)
from .fault_server import FATAL, FAULTS, FINAL, REFUSED, FaultServer


def failed_message(n: int, of: int, reasons: str) -> str:
    return rf"{n} of {of} requests failed after their retries \({re.escape(reasons)}\), more than"


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_a_failed_request_fails_the_stage_and_a_plain_rerun_asks_only_it(
    fault, key, server, tmp_path, caplog
):
    pairs, retried = make_pairs(4), fault not in FINAL
    server.plan["item-1"] = [fault] * 2 if retried else []  # transient: two faults, then a good reply
    server.plan["item-2"] = [fault] * (3 if retried else 1)  # spends the first run's attempts (2 retries)
    args = stage_args(tmp_path, pairs, editor(server.url))
    with (
        caplog.at_level("DEBUG"),
        pytest.raises(RequestsFailed, match=failed_message(1, 4, f"{FAULTS[fault]}: 1")),
    ):
        run(args)
    assert not (tmp_path / "out").exists()  # no output keeps the failed pair as a silent fallback
    assert server.received == {
        "item-0": 1,
        "item-1": 3 if retried else 1,
        "item-2": 3 if retried else 1,
        "item-3": 1,
    }
    assert len(cached_keys(tmp_path)) == received(tmp_path).total() == 3  # every other reply is cached
    before = Counter(server.received)
    run(args)  # a plain rerun asks only the failed item, once
    assert server.received - before == {"item-2": 1}
    rows, summary = outputs(tmp_path)
    assert [r["id"] for r in rows] == [p["id"] for p in pairs]
    assert all(r["bridge"]["status"] == "edited" and r["chosen"] == EDIT for r in rows)
    assert summary["failed_requests"] == {"count": 0, "share": 0.0, "max_failed_share": 0.0, "reasons": {}}
    assert summary["editor_usage"]["requests"] == server.total and paid_twice(tmp_path) == 0
    assert not files_holding(tmp_path, key) and key not in caplog.text


def test_a_share_of_failed_requests_may_be_allowed_and_is_counted(key, server, tmp_path):
    server.plan["item-2"] = ["500"] * 6  # fails in both runs below
    with pytest.raises(RequestsFailed, match=r"more than bridge\.max_failed_share = 0\.2 allows"):
        run(_args(tmp_path, server, 0.2))
    run(_args(tmp_path, server, 0.25))
    rows, summary = outputs(tmp_path)
    assert summary["failed_requests"] == {
        "count": 1, "share": 0.25, "max_failed_share": 0.25, "reasons": {"HTTP 500": 1}
    }  # fmt: skip
    assert summary["status"] == {"edited": 3, "fallback": 1}
    assert summary["fallback_reasons"] == {"editor request failed: HTTP 500": 1}
    assert rows[2]["chosen"] == rows[2]["chosen_original"]
    # the tables read the bridged share from the summary's status
    shares = bridged.read({"qa:DPO-BMC": str(tmp_path / "out" / "summary.json")})
    assert shares == {("qa", "DPO-BMC"): {"edited": 3, "given": 0, "pairs": 4}}
    assert bridged.cell(shares[("qa", "DPO-BMC")]) == "3/4 (75%)" and paid_twice(tmp_path) == 0


def _args(tmp_path, server, max_failed_share: float):
    args = stage_args(tmp_path, make_pairs(4), editor(server.url))
    args.params = json.dumps({**json.loads(args.params), "max_failed_share": max_failed_share})
    return args


@pytest.mark.parametrize("fault", sorted(REFUSED))
def test_a_cut_filtered_or_overlong_reply_is_cached_and_refused_as_an_edit(fault, key, server, tmp_path):
    pairs = make_pairs(3)
    server.plan["item-1"] = [fault]
    args = stage_args(tmp_path, pairs, editor(server.url, max_new_tokens=64))
    run(args)
    rows, summary = outputs(tmp_path)
    assert [(r["bridge"]["status"], r["bridge"]["reason"]) for r in rows] == [
        ("edited", None), ("fallback", REFUSED[fault]), ("edited", None)
    ]  # fmt: skip
    assert rows[1]["chosen"] == rows[1]["chosen_original"] and summary["fallback_reasons"] == {
        REFUSED[fault]: 1
    }
    assert summary["failed_requests"]["count"] == 0 and len(cached_keys(tmp_path)) == 3  # paid for: cached
    run(args)  # nothing is asked again: the same request would get the same reply
    assert server.total == 3 and outputs(tmp_path)[0] == rows and paid_twice(tmp_path) == 0


@pytest.mark.parametrize("fault", sorted(FATAL))
def test_a_fatal_reply_stops_the_stage_once_the_replies_in_flight_are_cached(fault, key, server, tmp_path):
    server.slow_s = 0.3  # items 0-2 answer after 0.3 s, item 3 is refused at once
    for i in range(3):
        server.plan[f"item-{i}"] = ["slow"]
    server.plan["item-3"] = [fault]
    args = stage_args(tmp_path, make_pairs(6), editor(server.url, max_concurrency=4, timeout_s=5))
    with pytest.raises(RuntimeError, match=FATAL[fault]) as err:
        run(args)
    assert key not in str(err.value)
    assert received(tmp_path).total() == len(cached_keys(tmp_path)) == 3  # the replies in flight are kept
    first = Counter(server.received)
    run(args)
    assert set(server.received - first) == {"item-3", "item-4", "item-5"}  # none of items 0-2 again
    assert all(r["bridge"]["status"] == "edited" for r in outputs(tmp_path)[0]) and paid_twice(tmp_path) == 0


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


def test_a_full_disk_stops_the_stage_and_every_reply_that_arrived_is_stored(
    key, server, tmp_path, monkeypatch
):
    put, calls = ResponseCache.put, Counter()

    def put_on_a_full_disk(self, k, *rest, **kw):
        calls["put"] += 1
        if calls["put"] == 2:  # the disk is full once, then space is freed
            raise OSError(errno.ENOSPC, "No space left on device")
        return put(self, k, *rest, **kw)

    monkeypatch.setattr(ResponseCache, "put", put_on_a_full_disk)
    args = stage_args(tmp_path, make_pairs(8), editor(server.url, max_concurrency=3))
    with pytest.raises(OSError, match="No space left on device"):
        run(args)
    assert received(tmp_path).total() == len(cached_keys(tmp_path)) >= 2  # the failed write was tried again
    assert server.total < 8  # the stage stopped asking
    run(args)
    assert all(r["bridge"]["status"] == "edited" for r in outputs(tmp_path)[0])
    assert server.total == 8 and paid_twice(tmp_path) == 0


def test_a_ledger_that_cannot_be_written_stops_the_stage_without_losing_the_reply(
    key, server, tmp_path, monkeypatch
):
    done, calls = Ledger.done, Counter()

    def done_on_a_full_disk(self, *args, **kw):
        calls["done"] += 1
        if calls["done"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return done(self, *args, **kw)

    monkeypatch.setattr(Ledger, "done", done_on_a_full_disk)
    args = stage_args(tmp_path, make_pairs(8), editor(server.url, max_concurrency=1))
    with pytest.raises(OSError, match="No space left on device"):
        run(args)
    assert len(cached_keys(tmp_path)) == server.answered.total() == 2  # the reply not in the ledger is cached
    first = Counter(server.answered)
    run(args)
    assert not set(server.answered - first) & set(first) and server.answered.total() == 8


def test_a_cut_cache_entry_is_moved_aside_and_its_request_asked_again(key, server, tmp_path, caplog):
    args = stage_args(tmp_path, make_pairs(3), editor(server.url))
    run(args)
    entry = next((tmp_path / "cache").glob("??/*.json"))
    entry.write_bytes(entry.read_bytes()[:30])  # cut off, as by a copy that stopped
    with caplog.at_level("WARNING"):
        run(args)
    assert f"{entry}:" in caplog.text and "moved to" in caplog.text and "asked again" in caplog.text
    assert entry.with_name(entry.name + ".corrupt").read_bytes() and json.loads(entry.read_text())["output"]
    assert server.total == 4 and all(r["bridge"]["status"] == "edited" for r in outputs(tmp_path)[0])


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


def test_a_huge_retry_after_is_capped_and_said(key, server, tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(endpoint, "MAX_WAIT_S", 0.5)
    server.retry_after = "86400"  # a daily quota spent: "come back tomorrow"
    server.plan["item-0"] = ["429"]
    with caplog.at_level("INFO"):
        run(stage_args(tmp_path, make_pairs(1), editor(server.url)))
    first, second = server.times["item-0"]
    assert 0.45 <= second - first < 5
    assert (
        "HTTP 429 asks to wait 86400 s (Retry-After); waiting 0.5 s, the cap, before attempt 2 of 3"
        in caplog.text
    )


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
