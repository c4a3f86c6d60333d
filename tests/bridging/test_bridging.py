import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from bmc.bridging.cache import EditCache
from bmc.bridging.editors import OpenAIEditor, editor_identity
from bmc.bridging.prompts import load_template
from bmc.bridging.run import bridge_pairs, run, select
from bmc.bridging.validate import check_edit

PAIR = {
    "id": "ECQA-train-1",
    "task": "qa",
    "prompt": [{"role": "user", "content": "Where do fish live?\nOptions:\nwater\ndesert"}],
    "chosen": "Let's think step by step.\nFish need water.\nThe answer is water",
    "rejected": "Let's think step by step.\nFish like sand.\nThe answer is desert",
    "answer": "water",
}
PAIRS = [
    {
        **PAIR,
        "id": f"ECQA-train-{i}",
        "prompt": [{"role": "user", "content": f"Where do fish {i} live?\nOptions:\nwater\ndesert"}],
    }
    for i in range(3)
]


class CountingEditor:
    """Records every request; answers with a fixed edit."""

    def __init__(self, text):
        self.text, self.calls, self.usage = text, 0, {"requests": 0}

    def complete(self, requests):
        self.calls += len(requests)
        return [self.text] * len(requests)


def test_templates_render_the_pair():
    messages = load_template("targeted").render(PAIR)
    assert len(messages) == 1 and messages[0]["role"] == "user"
    text = messages[0]["content"]
    assert PAIR["chosen"] in text and PAIR["rejected"] in text and "Where do fish live?" in text
    assert PAIR["chosen"] not in load_template("targeted_no_ref").render(PAIR)[0]["content"]
    assert load_template("inverse").replaces == "rejected"
    with pytest.raises(ValueError, match="unknown bridging strategy"):
        load_template("rewrite")


@pytest.mark.parametrize(
    "text, replaces, reason",
    [
        ("Fish like water.\nThe answer is water", "chosen", None),
        ("Fish like water.\nThe answer is desert", "chosen", "not the correct answer"),
        ("Fish like water.", "chosen", "no 'The answer is'"),
        ("   ", "chosen", "empty output"),
        (PAIR["rejected"], "chosen", "identical to the losing response"),
        ("Fish like sand.\nThe answer is desert", "rejected", None),
        ("Fish need water.\nThe answer is water", "rejected", "still correct"),
    ],
)
def test_validation(text, replaces, reason):
    got = check_edit(text, PAIR, replaces)
    assert (got is None) if reason is None else (reason in got)


def test_cache_means_the_editor_is_asked_once(tmp_path):
    template = load_template("targeted")
    identity = {"kind": "test", "model": "m", "params": []}
    editor = CountingEditor("Let's think step by step.\nFish like water.\nThe answer is water")
    cache = EditCache(tmp_path / "cache")
    ids = {p["id"] for p in PAIRS}
    rows, _ = bridge_pairs(PAIRS, template, identity, lambda: editor, cache, ids, chunk=2)
    assert editor.calls == 3 and [r["bridge"]["status"] for r in rows] == ["edited"] * 3
    assert rows[0]["chosen"].endswith("Fish like water.\nThe answer is water")
    assert rows[0]["chosen_original"] == PAIR["chosen"] and len({r["bridge"]["cache_key"] for r in rows}) == 3
    again, _ = bridge_pairs(PAIRS, template, identity, lambda: pytest.fail("editor rebuilt"), cache, ids)
    assert again == rows
    # a resumed run after a crash asks only for what was not cached yet
    for f in sorted((tmp_path / "cache").rglob("*.json"))[:2]:
        f.unlink()
    resumed = CountingEditor("Let's think step by step.\nFish like water.\nThe answer is water")
    bridge_pairs(PAIRS, template, identity, lambda: resumed, cache, ids)
    assert resumed.calls == 2


def test_fallback_and_proportion_keep_every_pair(tmp_path):
    template = load_template("targeted")
    identity = {"kind": "test", "model": "m", "params": []}
    selected = select([p["id"] for p in PAIRS], 2 / 3, seed=0)
    assert len(selected) == 2 and select([p["id"] for p in PAIRS], 2 / 3, seed=0) == selected
    rows, _ = bridge_pairs(
        PAIRS, template, identity, lambda: CountingEditor("no idea"), EditCache(tmp_path), selected
    )
    assert [r["id"] for r in rows] == [p["id"] for p in PAIRS]
    statuses = sorted(r["bridge"]["status"] for r in rows)
    assert statuses == ["fallback", "fallback", "kept"]
    assert all(r["chosen"] == PAIR["chosen"] for r in rows)  # fallbacks keep y_w


class FakeOpenAI(BaseHTTPRequestHandler):
    """A loopback OpenAI-compatible server: the first chat request gets a 429, the rest a canned answer."""

    hits = {"chat": 0}

    def log_message(self, *args):
        pass

    def _send(self, code, body):
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # models.list
        self._send(
            200,
            {"object": "list", "data": [{"id": "editor", "object": "model", "created": 0, "owned_by": "x"}]},
        )

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        FakeOpenAI.hits["chat"] += 1
        if FakeOpenAI.hits["chat"] == 1:
            self._send(429, {"error": {"message": "slow down"}})
            return
        answer = "Let's think step by step.\nFish like water.\nThe answer is water"
        self._send(
            200,
            {
                "id": "c",
                "object": "chat.completion",
                "created": 0,
                "model": "editor",
                "choices": [
                    {"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": answer}}
                ],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
            },
        )


@pytest.fixture
def openai_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    server.shutdown()


def test_openai_editor_retries_and_counts_tokens(openai_server, monkeypatch):
    monkeypatch.setenv("BMC_TEST_KEY", "sk-test")
    FakeOpenAI.hits["chat"] = 0
    editor = OpenAIEditor(
        {
            "model": "editor",
            "base_url": openai_server,
            "api_key_env": "BMC_TEST_KEY",
            "max_concurrency": 2,
            "timeout_s": 5,
        }
    )
    out = editor.complete([load_template("targeted").render(PAIR)] * 3)
    assert out == ["Let's think step by step.\nFish like water.\nThe answer is water"] * 3
    assert FakeOpenAI.hits["chat"] == 4  # one 429 retried
    assert editor.usage == {"requests": 3, "prompt_tokens": 30, "completion_tokens": 15}


def test_openai_editor_fails_before_work(monkeypatch):
    monkeypatch.delenv("BMC_MISSING_KEY", raising=False)
    with pytest.raises(RuntimeError, match="BMC_MISSING_KEY is not set"):
        OpenAIEditor({"model": "m", "api_key_env": "BMC_MISSING_KEY"})
    monkeypatch.setenv("BMC_TEST_KEY", "sk-test")
    with pytest.raises(RuntimeError, match="not usable"):
        OpenAIEditor(
            {"model": "m", "base_url": "http://127.0.0.1:9/v1", "api_key_env": "BMC_TEST_KEY", "timeout_s": 2}
        )


def test_hf_editor_stage_end_to_end(tiny_model_dir, tmp_path):
    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text("".join(json.dumps(p) + "\n" for p in PAIRS))
    params = {
        "strategy": "targeted",
        "proportion": 1.0,
        "editor": {"kind": "hf", "model": "base", "max_new_tokens": 8, "batch_size": 2, "temperature": 0.0},
    }
    args = argparse.Namespace(
        pairs=str(pairs),
        out=str(tmp_path / "out.jsonl"),
        summary=str(tmp_path / "s.json"),
        cache=str(tmp_path / "cache"),
        base_model=str(tiny_model_dir),
        params=json.dumps(params),
    )
    run(args)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "s.json").read_text())
    assert [r["id"] for r in rows] == [p["id"] for p in PAIRS]
    assert summary["status"] == {"fallback": 3}  # a random model's edits are invalid, and say why
    assert summary["editor_usage"]["requests"] == 3 and summary["editor_usage"]["completion_tokens"] > 0
    assert editor_identity(params["editor"], str(tiny_model_dir))["model"] == str(tiny_model_dir)
    run(args)  # a re-run is served from the cache
    assert json.loads((tmp_path / "s.json").read_text())["editor_usage"]["requests"] == 0
