"""A stand-in OpenAI-compatible endpoint on loopback, for rehearsing the paper-scale path offline.

    python -m bmc.standin.openai_server --port-file F [--port N] [--served-model-name NAME ...]

listens on 127.0.0.1 (`--port`, default a free one), writes the port to `--port-file` once it listens, and
serves `GET /v1/models` and `POST /v1/chat/completions` (the routes the suite's clients and the alpaca_eval
library use; no client of the suite calls `/v1/completions`) until SIGTERM or SIGINT, or until the process
`--parent-pid` names is gone. What it answers to the
bridging editor, the pairwise judge and alpaca_eval's weighted annotator is in `bmc.standin.replies`;
every reply carries `usage` (word counts as tokens). It also takes the command line of `vllm serve` (a
model, `--host`, `--port`, `--served-model-name`, other options ignored), so a `serve` section with
`command: python -m bmc.standin.openai_server` has a job start and stop it like a served model. A key in
VLLM_API_KEY (as `bmc.llm.server` hands it) or in the variable `--api-key-env` names is required of every
request; with neither, any key is accepted. It answers requests for any model name.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from bmc.io import write_text
from bmc.standin.replies import reply_to

log = logging.getLogger("bmc.standin.openai_server")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bmc.standin.openai_server", description=__doc__.split("\n")[0]
    )
    p.add_argument("model", nargs="?", default=None, help="ignored (`vllm serve` takes the model here)")
    p.add_argument("--host", default="127.0.0.1", help="loopback only")
    p.add_argument("--port", type=int, default=0, help="0: a free port")
    p.add_argument("--port-file", default=None, help="written with the port once the server listens")
    p.add_argument("--served-model-name", nargs="+", default=None, help="the ids /v1/models lists")
    p.add_argument("--api-key-env", default=None, help="the variable holding the key to require")
    p.add_argument("--parent-pid", type=int, default=None, help="stop when this process is gone")
    p.add_argument(
        "--unparsed-every",
        type=int,
        default=40,
        help="one judge or annotator request in this many gets a reply without a verdict (0: none)",
    )
    args, ignored = p.parse_known_args(argv)
    if args.host not in LOOPBACK:
        p.error(f"--host {args.host}: the stand-in listens on loopback only")
    if ignored:
        log.info("ignoring options %s", ignored)
    return args


def words(text: str) -> int:
    return len(text.split())


def completion(body: dict, unparsed_every: int) -> dict:
    """The chat completion object answering `body`."""
    reply = reply_to(body, unparsed_every)
    messages = body.get("messages") or []
    prompt_tokens = sum(4 + words(str(m.get("content") or "")) for m in messages)
    completion_tokens = max(1, words(reply.text))
    return {
        "id": "chatcmpl-standin-" + hashlib.sha256(reply.text.encode()).hexdigest()[:24],
        "object": "chat.completion",
        "created": 0,
        "model": str(body.get("model", "standin")),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": reply.text},
                "logprobs": reply.logprobs,
                "finish_reason": reply.finish_reason,
            }
        ],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def handler(models: list[str], key: str | None, unparsed_every: int) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, fmt, *a):
            log.debug(fmt, *a)

        def send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def error(self, code: int, message: str) -> None:
            self.send(code, {"error": {"message": message, "type": "invalid_request_error", "code": code}})

        def route(self) -> str | None:
            """The route without its /v1 prefix, or None (after answering) when the key is wrong."""
            if key is not None and self.headers.get("Authorization") != f"Bearer {key}":
                self.error(401, "invalid API key")
                return None
            path = self.path.split("?", 1)[0].rstrip("/")
            return path.removeprefix("/v1")

        def do_GET(self):
            route = self.route()
            if route == "/models":
                data = [{"id": m, "object": "model", "created": 0, "owned_by": "standin"} for m in models]
                self.send(200, {"object": "list", "data": data})
            elif route is not None:
                self.error(404, f"no route GET {self.path}")

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length)
            route = self.route()
            if route is None:
                return
            if route != "/chat/completions":
                self.error(404, f"no route POST {self.path}")
                return
            try:
                body = json.loads(raw or b"{}")
            except json.JSONDecodeError:
                self.error(400, "the body is not JSON")
                return
            if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
                self.error(400, "expected a JSON object with `messages`")
                return
            self.send(200, completion(body, unparsed_every))

    return Handler


def watch_parent(pid: int, server: ThreadingHTTPServer) -> None:
    """Shut the server down once process `pid` no longer exists (the run that started it died)."""
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            log.info("process %d is gone: stopping", pid)
            server.shutdown()
            return
        except PermissionError:
            pass  # it exists, as another user's
        time.sleep(1.0)


def serve(args: argparse.Namespace) -> None:
    key_env = args.api_key_env or "VLLM_API_KEY"
    key = os.environ.get(key_env) or None
    models = args.served_model_name or [args.model or "standin"]
    server = ThreadingHTTPServer((args.host, args.port), handler(models, key, args.unparsed_every))
    server.daemon_threads = True
    port = server.server_address[1]

    def stop(signum, frame):  # shutdown() waits for serve_forever: call it off the main thread
        threading.Thread(target=server.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    if args.parent_pid:
        threading.Thread(target=watch_parent, args=(args.parent_pid, server), daemon=True).start()
    if args.port_file:
        write_text(args.port_file, f"{port}\n")
    log.info("stand-in OpenAI endpoint at http://%s:%d/v1 serving %s", args.host, port, models)
    try:
        server.serve_forever(poll_interval=0.2)
    finally:
        server.server_close()
    log.info("stopped")


@contextmanager
def running(
    folder: str | Path, *options: str, env: dict | None = None, timeout: float = 30.0
) -> Iterator[str]:
    """Start the stand-in in a process of its own (its log and port file in `folder`), yield its base URL
    once it listens, and stop it with SIGTERM when the block ends."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    port_file = folder / "standin.port"
    port_file.unlink(missing_ok=True)
    cmd = [sys.executable, "-m", "bmc.standin.openai_server", "--port-file", str(port_file), *options]
    with open(folder / "standin.log", "ab") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + timeout
        while not port_file.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the stand-in did not start; see {folder / 'standin.log'}")
            time.sleep(0.05)
        yield f"http://127.0.0.1:{int(port_file.read_text())}/v1"
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    serve(parse(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
