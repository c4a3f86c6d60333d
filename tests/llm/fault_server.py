"""A fault-injecting OpenAI-compatible server for the drills: stdlib `http.server` on 127.0.0.1 only, bounded
in requests (`max_requests`, then 503) and time (`max_seconds`, then it shuts itself down).

`GET /v1/models` lists one model; `POST /v1/chat/completions` answers `reply(prompt)` unless the request's
item (the `item-N` in its prompt) has faults planned: `plan[item]` is consumed one fault per request (the
kinds of `FAULTS`, `REFUSED` and `FATAL`, plus `key_in_reply`, a good reply quoting the Authorization header).
The server counts every request per item (`received`), every good reply it sent (`answered`), every reply
with a text, which an endpoint bills (`paid`), and may hold requests after `hold_after` good replies: they wait,
bounded, and are then dropped unanswered, or answered when `hold_answers` is set.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections import Counter, defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from bmc.bridging.validate import CUT, FILTERED, TOO_LONG

# a failed request: fault kind -> what the client must call it once the retries are spent
FAULTS = {
    "429": "HTTP 429",
    "500": "HTTP 500",
    "slow": "timeout",
    "malformed": "malformed JSON",
    "empty_choices": "no choices",
    "cut": "cut-off body",
    "null_content": "null content",
    "echo_key": "HTTP 400",
    "reset": "connection error",
    "html_502": "HTTP 502",
}
FINAL = {"echo_key"}  # not retried: the first failure is the last
# a reply that arrives, is paid for and cached, but is no edit: fault kind -> the fallback reason
REFUSED = {"length": CUT, "filtered": FILTERED, "long": TOO_LONG}
LONG_REPLY = (
    "Let's think step by step.\n" + "Fish like water. " * 732 + "\nThe answer is water"
)  # 12,490 characters
# a reply that stops the stage: fault kind -> what the error says
FATAL = {"401": "refused the key: HTTP 401", "403": "refused the key: HTTP 403", "404": "has no such model"}
ITEM = re.compile(r"item-\d+")


def completion(content, finish: str = "stop", choices: bool = True) -> dict:
    message = {"role": "assistant", "content": content}
    return {
        "id": "c",
        "object": "chat.completion",
        "created": 0,
        "model": "editor",
        "choices": [{"index": 0, "finish_reason": finish, "message": message}] if choices else [],
        "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15},
    }


class FaultServer:
    def __init__(self, reply, max_requests: int = 300, max_seconds: float = 60.0, slow_s: float = 0.6):
        self.reply, self.max_requests, self.slow_s = reply, max_requests, slow_s
        self.plan: dict[str, list[str]] = defaultdict(list)
        self.retry_after = "0"
        self.hold_after: int | None = None
        self.hold_answers = False
        self.received: Counter = Counter()
        self.answered: Counter = Counter()
        self.paid: Counter = Counter()
        self.times: dict[str, list[float]] = defaultdict(list)
        self.held = self.overflow = 0
        self.release = threading.Event()
        self.lock = threading.Lock()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.timer = threading.Timer(max_seconds, self.httpd.shutdown)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"

    @property
    def total(self) -> int:
        return sum(self.received.values())

    def __enter__(self) -> FaultServer:
        self.thread.start()
        self.timer.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.timer.cancel()
        self.httpd.shutdown()
        self.httpd.server_close()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def send(self, code: int, body, content_type: str = "application/json", headers=()) -> None:
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                try:
                    self.send_response(code)
                    for k, v in headers:
                        self.send_header(k, v)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (timeout) or was killed

            def do_GET(self):
                self.send(
                    200, {"object": "list", "data": [{"id": "editor", "object": "model", "owned_by": "x"}]}
                )

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                prompt = body["messages"][-1]["content"]
                item = (ITEM.search(prompt) or ["?"])[0]
                with server.lock:
                    server.received[item] += 1
                    server.times[item].append(time.monotonic())
                    if server.total > server.max_requests:
                        server.overflow += 1
                        fault = "overflow"
                    else:
                        fault = server.plan[item].pop(0) if server.plan[item] else None
                    hold = (
                        server.hold_after is not None and sum(server.answered.values()) >= server.hold_after
                    )
                    server.held += hold
                if hold:  # a request the test will stop the client under
                    server.release.wait(30)
                    if not server.hold_answers:  # never answered
                        self.close_connection = True
                        return
                self.answer(fault, item, body, prompt)

            def answer(self, fault, item, body, prompt):
                auth = self.headers.get("Authorization", "")
                if fault == "overflow":
                    self.send(503, {"error": {"message": "request budget of the test server spent"}})
                elif fault == "429":
                    self.send(
                        429,
                        {"error": {"message": "slow down"}},
                        headers=[("Retry-After", server.retry_after)],
                    )
                elif fault == "500":
                    self.send(500, {"error": {"message": "oops"}})
                elif fault == "html_502":
                    self.send(502, b"<html><body>Bad gateway</body></html>", "text/html")
                elif fault == "slow":
                    time.sleep(server.slow_s)
                    self.send(200, completion(server.reply(prompt)))
                elif fault == "malformed":
                    self.send(200, b'{"id": "c", "choices": [{"message": {"content": "unterminated')
                elif fault == "empty_choices":
                    self.send(200, completion("", choices=False))
                elif fault == "cut":
                    data = json.dumps(completion(server.reply(prompt))).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data[: len(data) // 2])
                    self.close_connection = True
                elif fault == "null_content":
                    self.send(200, completion(None))
                elif fault == "echo_key":
                    message = f"invalid request; received headers: Authorization: {auth}"
                    self.send(400, {"error": {"message": message, "type": "invalid_request_error"}})
                elif fault == "length":
                    self._paid(item, completion(server.reply(prompt)[:10], finish="length"))
                elif fault == "filtered":
                    self._paid(item, completion(None, finish="content_filter"))
                elif fault == "long":
                    self._paid(item, completion(LONG_REPLY))
                elif fault == "reset":
                    self.close_connection = True
                elif fault in FATAL:
                    self.send(int(fault), {"error": {"message": f"refused {auth}"}})
                elif fault == "key_in_reply":
                    text = f"(debug: {auth})\n{server.reply(prompt)}"
                    self._good(item, completion(text))
                else:
                    assert fault is None, fault
                    assert body["model"] == "editor" and body["messages"][0]["role"] == "user"
                    self._good(item, completion(server.reply(prompt)))

            def _good(self, item, payload):
                self._paid(item, payload)
                with server.lock:
                    server.answered[item] += 1

            def _paid(self, item, payload):
                self.send(200, payload)
                with server.lock:
                    server.paid[item] += 1

        return Handler
