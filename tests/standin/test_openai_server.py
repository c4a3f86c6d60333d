"""The stand-in OpenAI endpoint: its routes, key, usage and shutdown, and the replies it gives the bridging editor
(edits that validate), the pairwise judge and alpaca_eval's annotator (both deterministic)."""

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from bmc.bridging.prompts import load_template
from bmc.bridging.validate import check_edit
from bmc.evaluation.judge import parse_verdict, suite_prompt
from bmc.standin.openai_server import running
from bmc.standin.replies import reply_to

KEY = "sk-standin"


def call(url: str, route: str, body: dict | None = None, key: str = KEY) -> tuple[int, dict]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url + route, data, {"Authorization": f"Bearer {key}"})
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_routes_key_usage_and_a_clean_stop(tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    with running(tmp_path, "judge-model", "--served-model-name", "judge-model", "--dtype", "bfloat16") as url:
        assert call(url, "/models") == (
            200,
            {
                "object": "list",
                "data": [{"id": "judge-model", "object": "model", "created": 0, "owned_by": "standin"}],
            },
        )
        assert call(url, "/models", key="wrong")[0] == 401
        assert call(url, "/completions", {"prompt": "x"})[0] == 404
        body = {"model": "any", "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 5}
        status, reply = call(url, "/chat/completions", body)
        assert status == 200 and reply["choices"][0]["message"]["role"] == "assistant"
        assert reply["usage"]["prompt_tokens"] == 6 and reply["usage"]["total_tokens"] > 6
        assert call(url, "/chat/completions", body)[1] == reply  # deterministic
    log = (tmp_path / "standin.log").read_text()
    assert "ignoring options ['--dtype', 'bfloat16']" in log and "stopped" in log


def test_sigterm_stops_it_and_it_listens_on_loopback_only(tmp_path):
    port_file = tmp_path / "port"
    cmd = [sys.executable, "-m", "bmc.standin.openai_server", "--port-file", str(port_file)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not port_file.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert int(port_file.read_text()) > 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        proc.kill()
    # a server whose parent is gone stops on its own
    parent = subprocess.Popen([sys.executable, "-c", "pass"])
    parent.wait()
    orphan = subprocess.Popen([*cmd, "--parent-pid", str(parent.pid)], stderr=subprocess.DEVNULL)
    assert orphan.wait(timeout=20) == 0
    refused = subprocess.run([*cmd[:3], "--host", "0.0.0.0"], capture_output=True, text=True)
    assert refused.returncode == 2 and "loopback only" in refused.stderr


@pytest.mark.parametrize("task", ["qa", "math", "if"])
def test_a_targeted_edit_validates(task):
    answers = {
        "qa": ("The answer is (b) sun", "(b) sun", "The answer is (a) moon"),
        "math": ("The answer is: $12$.", "12", "The answer is: $10$."),
    }
    good_line, answer, bad_line = answers.get(task, ("Paris is the capital.", None, "Lyon is the capital."))
    pair = {
        "id": "p",
        "task": task,
        "prompt": [{"role": "user", "content": "Which one is right?"}],
        "chosen": f"Step one is right.\nStep two checks it.\n{good_line}",
        "rejected": f"Step one went astray.\nSo step two is off.\n{bad_line}",
        "answer": answer,
    }
    template = load_template("targeted", "v1", task)
    text = reply_to({"messages": template.render(pair)}).text
    assert text == f"Step one went astray.\nSo step two is off.\n{good_line}"
    assert check_edit(text, pair, "chosen", template.instruction_lines) is None
    inverse = load_template("inverse", "v1", task)
    degraded = reply_to({"messages": inverse.render(pair)}).text
    if task != "if":
        assert check_edit(degraded, pair, "rejected", inverse.instruction_lines) is None


def test_judge_and_annotator_replies():
    prompt = suite_prompt()
    verdicts = []
    for i in range(120):
        messages = prompt.messages(f"Question {i}", "one answer", "another answer")
        reply = reply_to({"messages": messages}, unparsed_every=10)
        assert reply_to({"messages": messages}, unparsed_every=10) == reply
        verdicts.append(parse_verdict(reply.text))
    assert set(verdicts) == {"A>>B", "A>B", "A=B", "B>A", "B>>A", None}
    assert 0 < verdicts.count(None) < 30
    annotator = '## Model Outputs\n{ "model_identifier": "m", "output": """x""" }'
    reply = reply_to(
        {"messages": [{"role": "user", "content": annotator}], "logprobs": True, "top_logprobs": 5}
    )
    (token,) = reply.logprobs["content"]
    assert reply.text == token["token"] in ("m", "M") and len(token["top_logprobs"]) == 5
    assert {t["token"] for t in token["top_logprobs"]} >= {"m", "M"}
