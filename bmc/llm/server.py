"""A local OpenAI-compatible server (`vllm serve` by default) for an `openai` editor or judge with a `serve`
section, started by the job itself: Table 4's Llama-3-70B-Instruct editor needs no server started by hand.

`bmc.llm.factory.ClientFactory` builds a stage's client; for a served one it first starts the server here, only
when some request is not cached yet. The server runs in a session of its own with its output appended to a log file (beside the
job's log), on `serve.port` or a free port of 127.0.0.1; the job waits until `GET {base_url}/models` lists the
model and fails, with the end of the server's log, if the server exits first or `startup_timeout_s` passes.
The server is stopped (SIGTERM to its process group, SIGKILL `stop_grace_s` later) when the stage ends, fails,
or is itself sent SIGTERM (SLURM's scancel and time limit, Snakemake stopping); on Linux the kernel also sends
it SIGTERM if the job dies without a chance to stop it. The key is the client's `api_key_env`, or a fresh one
when that variable is unset, handed to the server as VLLM_API_KEY.
"""

from __future__ import annotations

import ctypes
import json
import os
import secrets
import shlex
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bmc.llm import redact
from bmc.training.launch import free_port

# the `serve` section's defaults (typed in bmc.config.Serve)
DEFAULTS = {"command": "vllm serve", "tensor_parallel_size": 1, "port": 0, "startup_timeout_s": 1800.0}
DEFAULTS |= {"stop_grace_s": 30.0, "extra_args": []}
POLL_S = 1.0
TAIL_LINES = 30
LOOPBACK_HOSTS = {"localhost", "127.0.0.1", "::1"}
# vLLM's options for the `serve` settings that have one
FLAGS: dict[str, str] = {
    "tensor_parallel_size": "--tensor-parallel-size",
    "dtype": "--dtype",
    "max_model_len": "--max-model-len",
    "gpu_memory_utilization": "--gpu-memory-utilization",
}


def served(client: dict | None) -> bool:
    """Whether a client's job starts its own server."""
    return bool(client) and client.get("kind") == "openai" and client.get("serve") is not None


def server_gpus(client: dict | None) -> int:
    """GPUs the job of a served client needs: the server's tensor parallelism (0 when not served)."""
    return int(serve_settings(client)["tensor_parallel_size"]) if served(client) else 0


def serve_settings(client: dict) -> dict:
    """A served client's `serve` section with the defaults filled in."""
    return DEFAULTS | {k: v for k, v in client["serve"].items() if v is not None}


def is_loopback(url: str) -> bool:
    return urllib.parse.urlsplit(url).hostname in LOOPBACK_HOSTS


def no_proxy_opener(*handlers) -> urllib.request.OpenerDirector:
    """An opener that ignores HTTP(S)_PROXY: a cluster's proxy cannot reach this machine's loopback."""
    return urllib.request.build_opener(urllib.request.ProxyHandler({}), *handlers)


def command(serve: dict, name: str, port: int) -> list[str]:
    """The server's command line: `serve.command`, the model, where to listen, the name it answers to and the
    settings given (`serve` with its defaults)."""
    cmd = [*shlex.split(serve["command"]), str(serve.get("model") or name)]
    cmd += ["--host", "127.0.0.1", "--port", str(port), "--served-model-name", name]
    for key, flag in FLAGS.items():
        if serve.get(key) is not None:
            cmd += [flag, str(serve[key])]
    return cmd + [str(a) for a in serve["extra_args"]]


def log_tail(path: Path, lines: int = TAIL_LINES) -> str:
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return "(no log)"
    return redact.scrub("\n".join(text.splitlines()[-lines:]))


def _models(base_url: str, key: str) -> list[str] | None:
    """The model ids the server lists, or None while it does not answer yet."""
    request = urllib.request.Request(base_url + "/models", headers={"Authorization": f"Bearer {key}"})
    try:
        with no_proxy_opener().open(request, timeout=5) as response:
            data = json.loads(response.read())
    except urllib.error.HTTPError as e:
        if e.code in (401, 403):
            raise RuntimeError(f"the server at {base_url} refused the key (HTTP {e.code})") from None
        return None
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return []
    return [m.get("id") for m in data.get("data", []) if isinstance(m, dict)]


def wait_until_ready(proc: subprocess.Popen, base_url: str, key: str, name: str, timeout: float) -> None:
    """Poll the server until it lists `name`; RuntimeError if it exits first, lists other models, or times out."""
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"the server exited with code {proc.returncode} before answering")
        models = _models(base_url, key)
        if models is not None:
            if name not in models:
                raise RuntimeError(f"the server at {base_url} serves {models}, not {name!r}")
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"the server did not answer at {base_url} within {timeout:g} s")
        time.sleep(POLL_S)


def stop(proc: subprocess.Popen, grace: float) -> None:
    """SIGTERM to the server's process group, SIGKILL after `grace` seconds; SIGTERM to the job waits meanwhile."""
    blocked = threading.current_thread() is threading.main_thread()
    if blocked:
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        for sig, wait_s in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=wait_s)
                return
            except subprocess.TimeoutExpired:
                continue
    finally:
        if blocked:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})


@contextmanager
def sigterm_raises() -> Iterator[None]:
    """While inside, SIGTERM to this process raises SystemExit (once), so that `finally` blocks stop the server."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    raised = False

    def handler(signum, frame):
        nonlocal raised
        if not raised:
            raised = True
            raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextmanager
def environment_variable(name: str, value: str) -> Iterator[None]:
    before = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = before


def _parent_death_signal():
    """A pre-exec hook asking Linux to send the server SIGTERM when the job's process dies (None elsewhere)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1
    return lambda: prctl(pr_set_pdeathsig, signal.SIGTERM)


@contextmanager
def running_server(client: dict, log_path: str | Path, section: str) -> Iterator[dict]:
    """Start the server of a served `client`, wait until it answers, yield the client's settings pointing at it
    (`base_url`, no `serve`), and stop the server when the block ends, however it ends."""
    serve, name = serve_settings(client), str(client["model"])
    port = int(serve["port"]) or free_port()
    base_url = f"http://127.0.0.1:{port}/v1"
    key_env = client.get("api_key_env", "OPENAI_API_KEY")
    key = os.environ.get(key_env) or secrets.token_urlsafe(24)
    redact.register(key)
    cmd = command(serve, name, port)
    log_path = Path(log_path)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with ExitStack() as stack:
        stack.enter_context(sigterm_raises())
        stack.enter_context(environment_variable(key_env, key))
        log = stack.enter_context(open(log_path, "ab"))
        log.write(f"$ {shlex.join(cmd)}\n".encode())
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "VLLM_API_KEY": key},
            start_new_session=True,
            preexec_fn=_parent_death_signal(),
        )
        stack.callback(stop, proc, float(serve["stop_grace_s"]))
        try:
            wait_until_ready(proc, base_url, key, name, float(serve["startup_timeout_s"]))
        except RuntimeError as e:
            raise RuntimeError(
                f"{section}: {e}; command: {shlex.join(cmd)}\nlast lines of {log_path}:\n{log_tail(log_path)}"
            ) from None
        settings = {k: v for k, v in client.items() if k != "serve"}
        yield {**settings, "base_url": base_url, "api_key_env": key_env}
