"""LLM clients (bmc.llm.clients) as the bridging editor: the OpenAI-compatible client against a local fake
endpoint, local models, fingerprints and chat rendering."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from transformers import AutoTokenizer

from bmc.bridging.prompts import load_template
from bmc.config import ModelSection
from bmc.data.prompt_format import render_chat
from bmc.llm.clients import client_identity, model_fingerprint
from bmc.llm.endpoint import OpenAIClient
from bmc.llm.factory import make_client
from bmc.models.prepare import SHIPPED_TOKENIZER, build_random_llama
from bmc.stages.bridge import run

from .conftest import GOOD_EDIT, PAIR, make_pairs
from .test_run import stage_args

SECRET = "sk-test-secret-0123456789"


class FakeOpenAI(BaseHTTPRequestHandler):
    """A loopback OpenAI-compatible server. Chat requests first consume `script` (429, 500, or a stall
    longer than the client's timeout), then get a canned completion; GET /models answers `models_status`."""

    script: list[str] = []
    models_status = 200
    lock = threading.Lock()
    chat_hits = 0
    auth: set[str] = set()

    def log_message(self, *args):
        pass

    def _send(self, code, body, headers=()):
        data = json.dumps(body).encode()
        try:
            self.send_response(code)
            for k, val in headers:
                self.send_header(k, val)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (timeout test)

    def do_GET(self):
        if self.models_status != 200:
            self._send(self.models_status, {"error": {"message": "no"}})
            return
        self._send(
            200,
            {"object": "list", "data": [{"id": "editor", "object": "model", "created": 0, "owned_by": "x"}]},
        )

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        with FakeOpenAI.lock:
            FakeOpenAI.chat_hits += 1
            FakeOpenAI.auth.add(self.headers["Authorization"])
            step = FakeOpenAI.script.pop(0) if FakeOpenAI.script else "ok"
        if step == "429":
            self._send(429, {"error": {"message": "slow down"}}, [("retry-after-ms", "20")])
        elif step == "500":
            self._send(500, {"error": {"message": "oops"}})
        elif step == "stall":
            time.sleep(1.0)
            self._send(500, {"error": {"message": "late"}})
        else:
            assert body["model"] == "editor" and body["messages"][0]["role"] == "user"
            message = {"role": "assistant", "content": GOOD_EDIT}
            self._send(
                200,
                {
                    "id": "c",
                    "object": "chat.completion",
                    "created": 0,
                    "model": "editor",
                    "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
                    "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
                },
            )


@pytest.fixture
def server():
    FakeOpenAI.script, FakeOpenAI.models_status, FakeOpenAI.chat_hits, FakeOpenAI.auth = [], 200, 0, set()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def openai_config(base_url, **extra):
    return {"kind": "openai", "model": "editor", "base_url": base_url, "api_key_env": "BMC_TEST_KEY", **extra}


def test_openai_editor_retries_429_5xx_and_timeouts(server, monkeypatch):
    monkeypatch.setenv("BMC_TEST_KEY", SECRET)
    FakeOpenAI.script = ["429", "500", "stall"]
    editor = OpenAIClient(openai_config(server, max_concurrency=2, timeout_s=0.4, backoff_s=0.01))
    out = editor.complete([load_template("targeted").render(PAIR)] * 3)
    assert out == [GOOD_EDIT] * 3
    assert FakeOpenAI.chat_hits == 6  # three failures retried, three successes
    assert FakeOpenAI.auth == {f"Bearer {SECRET}"}
    # every attempt counts, as the server served it
    assert editor.usage == {"requests": 6, "prompt_tokens": 30, "completion_tokens": 15}


def test_openai_editor_fails_before_any_work(server, monkeypatch):
    monkeypatch.delenv("BMC_MISSING_KEY", raising=False)
    with pytest.raises(RuntimeError, match="bridge.editor.kind is openai but .*BMC_MISSING_KEY is not set"):
        OpenAIClient(openai_config(server, api_key_env="BMC_MISSING_KEY"))
    with pytest.raises(RuntimeError, match="^judge.kind is openai"):  # the message names the stage's section
        make_client(openai_config(server, api_key_env="BMC_MISSING_KEY"), None, "judge")
    monkeypatch.setenv("BMC_TEST_KEY", SECRET)
    with pytest.raises(RuntimeError, match="bridge.editor endpoint http://127.0.0.1:9/v1 is not reachable"):
        OpenAIClient(openai_config("http://127.0.0.1:9/v1", timeout_s=2))
    FakeOpenAI.models_status = 401
    with pytest.raises(RuntimeError, match="refused the key") as err:
        OpenAIClient(openai_config(server))
    assert SECRET not in str(err.value) and FakeOpenAI.chat_hits == 0
    FakeOpenAI.models_status = 404  # an endpoint without /models is still usable
    assert OpenAIClient(openai_config(server)).complete([[{"role": "user", "content": "hi"}]]) == [GOOD_EDIT]


def test_openai_stage_keeps_the_key_out_of_every_output(server, monkeypatch, tmp_path, caplog):
    monkeypatch.setenv("BMC_TEST_KEY", SECRET)
    params = {"strategy": "targeted", "proportion": 1.0, "editor": openai_config(server, max_concurrency=2)}
    args = stage_args(tmp_path, make_pairs(3), params)
    with caplog.at_level("DEBUG"):
        run(args)
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["status"] == {"edited": 3} and summary["editor_usage"]["prompt_tokens"] == 30
    written = caplog.text + "".join(
        p.read_text() for p in tmp_path.rglob("*") if p.is_file() and p.name != "pairs.jsonl"
    )
    assert SECRET not in written and FakeOpenAI.chat_hits == 3
    monkeypatch.delenv("BMC_TEST_KEY")
    run(args)  # everything is cached: no key and no request needed
    assert FakeOpenAI.chat_hits == 3


def test_render_chat_drops_a_bos_the_tokenizer_adds_itself():
    plain = AutoTokenizer.from_pretrained(SHIPPED_TOKENIZER)
    with_bos = AutoTokenizer.from_pretrained(SHIPPED_TOKENIZER, add_bos_token=True)
    messages = [{"role": "user", "content": "hi"}]
    assert render_chat(plain, messages).startswith("<|im_start|>")
    ids = with_bos(render_chat(with_bos, messages))["input_ids"]
    assert ids[0] == with_bos.bos_token_id and ids[1] != with_bos.bos_token_id


def test_model_fingerprint_follows_the_weights(tiny_model_dir, tmp_path):
    build_random_llama(tmp_path / "other", ModelSection(kind="random_llama", seed=1))
    assert model_fingerprint(tiny_model_dir) == model_fingerprint(tiny_model_dir)
    assert model_fingerprint(tmp_path / "other") != model_fingerprint(tiny_model_dir)
    assert model_fingerprint("meta-llama/Meta-Llama-3-70B-Instruct") is None
    identity = client_identity({"kind": "hf", "model": "base", "max_new_tokens": 8}, str(tiny_model_dir))
    assert identity["model"] == str(tiny_model_dir) and identity["fingerprint"]
    assert identity["params"] == [("do_sample", False), ("max_new_tokens", 8)]
    # batching settings reach the generator but stay out of the identity (and so out of cache keys)
    batching = {"kind": "hf", "model": "base", "max_new_tokens": 8, "batch_size": 4, "max_batch_tokens": 512}
    assert client_identity(batching, str(tiny_model_dir)) == identity
    client = make_client(batching, str(tiny_model_dir))
    assert (client.params.batch_size, client.params.max_batch_tokens) == (4, 512)


def test_hf_editor_stage_end_to_end(tiny_model_dir, tmp_path):
    pairs = make_pairs(3)
    params = {
        "strategy": "targeted",
        "proportion": 1.0,
        "editor": {"kind": "hf", "model": "base", "max_new_tokens": 8, "batch_size": 2, "temperature": 0.0},
    }
    args = stage_args(tmp_path, pairs, params, base_model=tiny_model_dir)
    run(args)
    rows = [json.loads(line) for line in (tmp_path / "out.jsonl").read_text().splitlines()]
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert [r["id"] for r in rows] == [p["id"] for p in pairs]
    assert summary["status"] == {"fallback": 3}  # a random model's edits are invalid, and say why
    assert sum(summary["fallback_reasons"].values()) == 3 and all(r["chosen"] == PAIR["chosen"] for r in rows)
    assert summary["editor_usage"]["requests"] == 3
    assert (
        0 < summary["editor_usage"]["completion_tokens"] <= 3 * 8
        and summary["editor_usage"]["prompt_tokens"] > 100
    )
    run(args)  # a re-run is served from the cache; the usage still counts what the first run spent
    usage = json.loads((tmp_path / "summary.json").read_text())["editor_usage"]
    assert usage["this_run"]["requests"] == 0 and usage["cache_hits"] == 3
    assert usage["requests"] == 3 and usage["ok"] == 3 and usage["runs"] == 1
