"""Kill drills: the bridging stage (a subprocess) is killed (SIGKILL) or stopped (SIGTERM) while the fault server
holds its requests, then rerun; the server counts every request per item and the ledger every reply received."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .conftest import (
    cached_keys,
    editor,
    files_holding,
    make_pairs,
    outputs,
    paid_twice,
    received,
    stage_argv,
)

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the drill's condition was not reached in time"
        time.sleep(0.02)


def stage(tmp_path: Path, pairs: list[dict], server, key: str, **settings) -> tuple[list[str], dict]:
    config = editor(server.url, **settings)
    argv = [sys.executable, "-m", "bmc.cli", "bridge", *stage_argv(tmp_path, pairs, config)]
    return argv, {**os.environ, "BMC_DRILL_KEY": key}


def rerun(tmp_path: Path, name: str, argv: list[str], env: dict) -> subprocess.CompletedProcess:
    with open(tmp_path / f"{name}.log", "wb") as log:
        return subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, timeout=120)


def test_kill_9_mid_bridging_then_rerun_asks_no_finished_item_twice(key, server, tmp_path):
    n, hold_after = 12, 5
    pairs = make_pairs(n)
    server.hold_after = hold_after  # after 5 good replies, requests hang until the kill
    server.plan["item-8"] = ["500"]  # retried in the rerun
    server.plan["item-10"] = ["null_content"] * 3  # spends the rerun's retry budget: the rerun fails on it
    server.plan["item-11"] = ["echo_key"]  # a 400 quoting the Authorization header: failed, key nowhere
    argv, env = stage(tmp_path, pairs, server, key)
    with open(tmp_path / "run1.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        try:  # killed once every answered item is cached and both workers wait on the server
            wait_for(lambda: server.held == 2 and len(cached_keys(tmp_path)) == server.answered.total(), 60)
        finally:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    finished = set(server.answered)
    assert len(finished) >= hold_after and not (tmp_path / "out" / "pairs.jsonl").exists()
    first = Counter(server.received)
    server.hold_after = None
    server.release.set()  # the held requests' client is dead: they are dropped unanswered

    second = rerun(tmp_path, "run2", argv, env)  # finishes the rest, fails on the two failed requests
    log2 = (tmp_path / "run2.log").read_text()
    assert second.returncode == 1 and "2 of 12 requests failed after their retries" in log2
    assert "null content: 1" in log2 and "HTTP 400: 1" in log2 and not (tmp_path / "out").exists()
    asked_again = set(server.received - first)
    assert not finished & asked_again  # no finished item asked twice
    before_third = Counter(server.received)
    assert rerun(tmp_path, "run3", argv, env).returncode == 0
    assert set(server.received - before_third) == {"item-10", "item-11"}  # only the failed ones
    assert all(count == 1 for count in server.answered.values())  # every item answered once at most
    rows, summary = outputs(tmp_path)
    assert [r["id"] for r in rows] == [p["id"] for p in pairs]  # none lost, none duplicated
    assert {(r["bridge"]["status"], r["bridge"]["reason"]) for r in rows} == {("edited", None)}
    usage = summary["editor_usage"]
    assert usage["requests"] == server.total and usage["runs"] == 3  # the killed run is counted too
    assert usage["unanswered"] == 2 and usage["ok"] == n and paid_twice(tmp_path) == 0
    assert not files_holding(tmp_path, key)  # not in the cache, the ledger, the outputs nor the logs


def test_sigterm_mid_bridging_caches_the_replies_in_flight_then_rerun_pays_for_none_twice(
    key, server, tmp_path
):
    n, hold_after = 10, 4
    pairs = make_pairs(n)
    server.hold_after, server.hold_answers = hold_after, True  # held requests are answered once released
    argv, env = stage(tmp_path, pairs, server, key, timeout_s=20)
    with open(tmp_path / "run1.log", "wb") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        try:  # stopped as Snakemake or a cluster's time limit stops a job, with two requests in flight
            wait_for(lambda: server.held == 2 and len(cached_keys(tmp_path)) == server.answered.total(), 60)
            finished = server.answered.total()  # at least `hold_after`
            os.kill(proc.pid, signal.SIGTERM)
            time.sleep(0.5)
            assert proc.poll() is None  # waiting for the replies it has paid for
            server.hold_after = None
            server.release.set()  # the two replies arrive after the signal
            proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGKILL)
    log1 = (tmp_path / "run1.log").read_text()
    assert proc.returncode == 128 + signal.SIGTERM and "stopped by SIGTERM" in log1, log1[-2000:]
    assert server.paid.total() == received(tmp_path).total() == len(cached_keys(tmp_path)) == finished + 2
    first = Counter(server.received)
    assert rerun(tmp_path, "run2", argv, env).returncode == 0
    assert not set(server.received - first) & set(first)  # nothing asked in the stopped run is asked again
    assert all(count == 1 for count in server.paid.values()) and paid_twice(tmp_path) == 0
    rows, _ = outputs(tmp_path)
    assert [r["id"] for r in rows] == [p["id"] for p in pairs]
    assert all(r["bridge"]["status"] == "edited" for r in rows) and not files_holding(tmp_path, key)
