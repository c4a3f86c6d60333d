"""A served editor or judge (`serve`): the stage starts its server, waits for it, uses it and stops it, also when
the stage fails or is sent SIGTERM; a server that cannot start fails the stage with the end of its log."""

from __future__ import annotations

import argparse
import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bmc.llm.factory import ClientFactory
from bmc.stages import bridge as bridge_stage
from bmc.stages import judge as judge_stage

from .conftest import EDIT, make_pairs, outputs, stage_argv

FAKE = Path(__file__).with_name("fake_vllm_server.py")
REPO = Path(__file__).resolve().parents[2]
KEY_ENV = "BMC_SERVED_TEST_KEY"  # unset: the job makes a key of its own


def served(tmp_path: Path, *faults: str, reply: str = EDIT, **serve) -> dict:
    """A served editor whose server is the fake one, answering `reply` and writing its pid to tmp_path/server.pid."""
    extra = ["--pid-file", str(tmp_path / "server.pid"), "--reply", reply, *faults]
    settings = {"command": shlex.join([sys.executable, str(FAKE)]), "model": "some/model-folder"}
    settings |= {"tensor_parallel_size": 2, "startup_timeout_s": 20, "stop_grace_s": 5, "extra_args": extra}
    client = {"kind": "openai", "model": "editor", "api_key_env": KEY_ENV, "max_retries": 0, "timeout_s": 5}
    return client | {"serve": settings | serve}


def server_pid(tmp_path: Path) -> int:
    return int((tmp_path / "server.pid").read_text())


def gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


@pytest.fixture(autouse=True)
def no_key(monkeypatch):
    monkeypatch.delenv(KEY_ENV, raising=False)


@pytest.fixture
def cleanup(tmp_path):
    """Kills the fake server if a test left it running (the test fails on that before)."""
    yield
    pid_file = tmp_path / "server.pid"
    if pid_file.exists() and not gone(server_pid(tmp_path)):
        os.kill(server_pid(tmp_path), signal.SIGKILL)


def bridge_args(tmp_path: Path, editor: dict) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    bridge_stage.add_arguments(parser)
    argv = stage_argv(tmp_path, make_pairs(3), editor)
    return parser.parse_args([*argv, "--server-log", str(tmp_path / "logs" / "bridge.server.log")])


def test_the_bridge_stage_serves_its_editor_and_stops_the_server(tmp_path, cleanup):
    server_log = tmp_path / "logs" / "bridge.server.log"
    bridge_stage.run(bridge_args(tmp_path, served(tmp_path)))
    rows, summary = outputs(tmp_path)
    assert [r["bridge"]["status"] for r in rows] == ["edited"] * 3 and rows[0]["chosen"] == EDIT
    assert summary["editor_usage"]["this_run"]["requests"] == 3
    assert gone(server_pid(tmp_path))
    log = server_log.read_text()
    started = json.loads(log.split("fake vllm serve ", 1)[1].splitlines()[0])
    assert started["model"] == "some/model-folder" and started["served_model_name"] == "editor"
    assert started["tensor_parallel_size"] == 2 and started["host"] == "127.0.0.1"
    assert log.count("chat request") == 3
    assert KEY_ENV not in os.environ  # the job's own key lived only as long as the server


def test_nothing_is_served_when_every_edit_is_cached(tmp_path, cleanup):
    bridge_stage.run(bridge_args(tmp_path, served(tmp_path)))
    (tmp_path / "server.pid").unlink()
    (tmp_path / "out" / "pairs.jsonl").unlink()
    bridge_stage.run(bridge_args(tmp_path, served(tmp_path)))
    assert not (tmp_path / "server.pid").exists()


def test_the_server_stops_when_the_stage_fails(tmp_path, cleanup):
    with pytest.raises(KeyError, match="the stage failed"):
        with ClientFactory(served(tmp_path), None, "judge", tmp_path / "server.log") as factory:
            client = factory()
            assert client.complete([[{"role": "user", "content": "hi"}]]) == [EDIT]
            assert not gone(server_pid(tmp_path))
            raise KeyError("the stage failed")
    assert gone(server_pid(tmp_path))


def test_a_server_deaf_to_sigterm_is_killed_after_the_grace(tmp_path, cleanup):
    editor = served(tmp_path, "--ignore-sigterm", stop_grace_s=0.5)
    with ClientFactory(editor, None, "bridge.editor", tmp_path / "server.log") as factory:
        factory()
    assert gone(server_pid(tmp_path))


@pytest.mark.parametrize(
    "fault, timeout, expected",
    [
        ("--die-at-start", 20, r"exited with code 3 before answering(.|\n)*no CUDA GPUs are available"),
        ("--never-listen", 1, r"did not answer at http://127\.0\.0\.1:\d+/v1 within 1 s"),
    ],
)
def test_a_server_that_does_not_come_up_fails_with_its_log(tmp_path, cleanup, fault, timeout, expected):
    editor = served(tmp_path, fault, startup_timeout_s=timeout)
    with pytest.raises(RuntimeError, match=expected) as failed:
        with ClientFactory(editor, None, "bridge.editor", tmp_path / "server.log") as factory:
            factory()
    assert str(failed.value).startswith("bridge.editor: ") and "fake_vllm_server.py" in str(failed.value)
    assert gone(server_pid(tmp_path))


def test_sigterm_to_the_stage_stops_the_server(tmp_path, cleanup):
    """A stage cancelled mid-request (scancel, Snakemake stopping) stops its server before it exits; the server
    here ignores SIGTERM, so it is gone only if the stage itself killed it."""
    editor = served(tmp_path, "--ignore-sigterm", "--delay-s", "30", stop_grace_s=0.5)
    server_log = tmp_path / "server.log"
    argv = [*stage_argv(tmp_path, make_pairs(2), editor), "--server-log", str(server_log)]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    stage = subprocess.Popen([sys.executable, "-m", "bmc.cli", "bridge", *argv], cwd=REPO, env=env)
    try:
        deadline = time.monotonic() + 60
        while "chat request" not in (server_log.read_text() if server_log.exists() else ""):
            assert stage.poll() is None and time.monotonic() < deadline, "the stage never asked its editor"
            time.sleep(0.2)
        stage.send_signal(signal.SIGTERM)
        assert stage.wait(timeout=30) == 128 + signal.SIGTERM
    finally:
        if stage.poll() is None:
            stage.kill()
    assert gone(server_pid(tmp_path))


def test_the_judge_stage_serves_its_judge(tmp_path, cleanup):
    item = {"dataset": "arena_hard", "answer": ""}  # a test item and an answer as the if stages write them
    tests = [{**item, "id": f"q{i}", "question": f"Question {i}?", "baseline": "B."} for i in range(2)]
    generations = [{**item, "id": f"q{i}", "response": f"Answer {i}."} for i in range(2)]
    for name, rows in (("tests", tests), ("generations", generations)):
        (tmp_path / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    params = {
        **served(tmp_path, reply="[[A>B]]"),
        "baselines": {"arena_hard": "reference"},
        "bootstrap_rounds": 10,
    }
    parser = argparse.ArgumentParser()
    judge_stage.add_arguments(parser)
    out = tmp_path / "scores" / "scores.json"
    argv = ["--generations", str(tmp_path / "generations.jsonl"), "--tests", str(tmp_path / "tests.jsonl")]
    argv += ["--out", str(out), "--cache", str(tmp_path / "cache"), "--params", json.dumps(params)]
    argv += ["--method", "DPO", "--seed", "0", "--dataset", "arena_hard"]
    judge_stage.run(parser.parse_args(argv))
    scores = json.loads(out.read_text())
    assert (
        scores["judgments"] == 4
        and scores["unparsed"] == 0
        and scores["judge_usage"]["this_run"]["requests"] == 4
    )
    assert Path(f"{out}.server.log").read_text().count("chat request") == 4  # the default log, beside --out
    assert gone(server_pid(tmp_path))
