"""Kill -9 drill: the bridging stage (a subprocess) is killed while the fault server holds its requests, then
rerun; the server counts every request per item."""

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from .conftest import cached_keys, editor, files_holding, make_pairs, outputs, stage_argv

REPO = Path(__file__).resolve().parents[2]


def wait_for(condition, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "the drill's condition was not reached in time"
        time.sleep(0.02)


def test_kill_9_mid_bridging_then_rerun_asks_no_finished_item_twice(key, server, tmp_path):
    n, hold_after = 12, 5
    pairs = make_pairs(n)
    server.hold_after = hold_after  # after 5 good replies, requests hang until the kill
    server.plan["item-8"] = ["500"]  # retried in the rerun
    server.plan["item-10"] = ["null_content"] * 3  # spends the retry budget in the rerun: a fallback
    server.plan["item-11"] = ["echo_key"]  # a 400 quoting the Authorization header: a fallback, key nowhere
    argv = [sys.executable, "-m", "bmc.cli", "bridge", *stage_argv(tmp_path, pairs, editor(server.url))]
    env = {**os.environ, "BMC_DRILL_KEY": key}
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

    with open(tmp_path / "run2.log", "wb") as log:
        subprocess.run(argv, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO, check=True, timeout=120)
    asked_again = set(server.received - first)
    assert not finished & asked_again  # no finished item asked twice
    assert all(count == 1 for count in server.answered.values())  # every item answered once at most
    rows, summary = outputs(tmp_path)
    assert [r["id"] for r in rows] == [p["id"] for p in pairs]  # none lost, none duplicated
    status = {r["id"]: (r["bridge"]["status"], r["bridge"]["reason"]) for r in rows}
    assert status.pop("pair-10") == ("fallback", "editor request failed: null content")
    assert status.pop("pair-11") == ("fallback", "editor request failed: HTTP 400")
    assert set(status.values()) == {("edited", None)}
    usage = summary["editor_usage"]
    assert usage["requests"] == server.total and usage["runs"] == 2  # the killed run is counted too
    assert usage["unanswered"] == 2 and usage["ok"] == n - 2
    assert not files_holding(tmp_path, key)  # not in the cache, the ledger, the outputs nor the logs
