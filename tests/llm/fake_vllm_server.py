"""A stand-in for `vllm serve` in the tests of bmc.llm.server: the options the job passes, and an
OpenAI-compatible API on stdlib `http.server` (`GET /v1/models`, `POST /v1/chat/completions`) that answers every
chat with `--reply` and wants the key of VLLM_API_KEY. It writes its pid to `--pid-file` and exits on its own
after `--max-seconds`, so that a failing test leaves no process behind.

Faults: `--die-at-start` (exits 3 with an error in its log), `--never-listen`, `--ignore-sigterm`, and
`--delay-s` before each chat reply.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser()
    p.add_argument("model")
    p.add_argument("--host", required=True)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--served-model-name", required=True)
    p.add_argument("--tensor-parallel-size", type=int, default=1)
    p.add_argument("--dtype")
    p.add_argument("--max-model-len", type=int)
    p.add_argument("--gpu-memory-utilization", type=float)
    p.add_argument("--reply", default="ok")
    p.add_argument("--pid-file", required=True)
    p.add_argument("--max-seconds", type=float, default=60.0)
    p.add_argument("--die-at-start", action="store_true")
    p.add_argument("--never-listen", action="store_true")
    p.add_argument("--ignore-sigterm", action="store_true")
    p.add_argument("--delay-s", type=float, default=0.0)
    return p.parse_args(argv)


def handler(args: argparse.Namespace, key: str):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def send(self, code: int, body: dict) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def authorised(self) -> bool:
            if self.headers.get("Authorization") == f"Bearer {key}":
                return True
            self.send(401, {"error": "bad key"})
            return False

        def do_GET(self):
            if self.authorised():
                self.send(
                    200, {"object": "list", "data": [{"id": args.served_model_name, "object": "model"}]}
                )

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not self.authorised():
                return
            print("chat request", flush=True)
            time.sleep(args.delay_s)
            message = {"role": "assistant", "content": args.reply}
            choice = {"index": 0, "finish_reason": "stop", "message": message}
            usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
            self.send(200, {"id": "c", "object": "chat.completion", "choices": [choice], "usage": usage})

    return Handler


def main() -> None:
    args = parse(sys.argv[1:])
    print("fake vllm serve", json.dumps(vars(args)), flush=True)
    with open(args.pid_file, "w") as f:
        f.write(str(os.getpid()))
    watchdog = threading.Timer(args.max_seconds, os._exit, (9,))
    watchdog.daemon = True
    watchdog.start()
    if args.die_at_start:
        print("RuntimeError: no CUDA GPUs are available", flush=True)
        sys.exit(3)
    if args.ignore_sigterm:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    if args.never_listen:
        time.sleep(args.max_seconds)
        return
    server = ThreadingHTTPServer((args.host, args.port), handler(args, os.environ["VLLM_API_KEY"]))
    print(f"listening on {args.host}:{args.port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
