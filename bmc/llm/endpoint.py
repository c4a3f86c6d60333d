"""Chat completions from an OpenAI-compatible endpoint (`POST {base_url}/chat/completions`, stdlib HTTP).

Every reply is checked: a JSON object, a non-empty `choices` list, a string `content`, a finish reason other
than `length` or `content_filter`. Outcomes of one attempt:
- retried with backoff (`backoff_s` · 2^(attempt-1), up to 60 s, or what Retry-After / retry-after-ms asks):
  HTTP 408, 409, 429, 5xx, a timeout, a connection error, a body cut off, malformed JSON, no choices, null
  content;
- final at once (retrying cannot help): any other HTTP 4xx, a reply cut at the token limit or filtered;
- fatal for the whole stage: HTTP 401, 403 (the key) and 404 (the model or the URL), and `FAILURES_IN_A_ROW`
  requests failing one after another (the endpoint is down, not one request bad).
A request that fails after `max_retries` retries comes back as a failed `Reply` with its reason. Every
attempt goes to the ledger when one is attached; every message that leaves this module is scrubbed of the key.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import os
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait

from bmc.llm import redact
from bmc.llm.clients import ChatClient, Reply, openai_settings
from bmc.llm.server import is_loopback, no_proxy_opener

RETRY_STATUS = {408, 409, 429}
FATAL_STATUS = {401: "refused the key", 403: "refused the key", 404: "has no such model or route"}
STOP_REASONS = {"length", "content_filter"}  # a reply cut at the token limit or filtered: not retried
FAILURES_IN_A_ROW = 20
MAX_WAIT_S = 600.0


class Failure(Exception):
    """One failed attempt: a fixed `reason`, whether to retry, the server's wait hint and a (scrubbed) detail."""

    def __init__(
        self,
        reason: str,
        retry: bool = True,
        status: int | None = None,
        detail: str = "",
        wait_s: float | None = None,
        tokens: tuple[int, int] = (0, 0),
    ):
        super().__init__(reason)
        self.reason, self.retry, self.status, self.wait_s, self.tokens = reason, retry, status, wait_s, tokens
        self.detail = redact.scrub(detail)[:500]


def retry_after(headers) -> float | None:
    """Seconds the server asks to wait (retry-after-ms, or Retry-After in seconds or as an HTTP date)."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return min(max(float(ms) / 1000, 0.0), MAX_WAIT_S)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_WAIT_S)


def _tokens(data: dict) -> tuple[int, int]:
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return tuple(
        int(v) if isinstance(v, int) else 0
        for v in (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    )


def parse_reply(status: int, headers, body: bytes) -> tuple[str, int, int]:
    """(text, prompt tokens, completion tokens) of a good reply; raises `Failure` for any other."""
    if status != 200:
        detail = body.decode("utf-8", "replace")
        if status in FATAL_STATUS:
            raise Failure(f"HTTP {status}", retry=False, status=status, detail=detail)
        retry = status in RETRY_STATUS or status >= 500
        raise Failure(f"HTTP {status}", retry, status, detail, retry_after(headers) if retry else None)
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise Failure("malformed JSON", status=200, detail=body[:200].decode("utf-8", "replace")) from None
    if not isinstance(data, dict):
        raise Failure("malformed JSON", status=200, detail=f"a JSON {type(data).__name__}, not an object")
    tokens = _tokens(data)
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        raise Failure("no choices", status=200, tokens=tokens)
    message = choices[0].get("message")
    content = message.get("content") if isinstance(message, dict) else None
    if not isinstance(content, str):
        raise Failure("null content", status=200, tokens=tokens)
    finish = choices[0].get("finish_reason")
    if finish in STOP_REASONS:
        raise Failure(f"finish_reason {finish}", retry=False, status=200, tokens=tokens)
    return content, *tokens


def _ssl_context() -> ssl.SSLContext:
    try:
        import certifi

        return ssl.create_default_context(cafile=certifi.where())
    except ImportError:
        return ssl.create_default_context()


class OpenAIClient(ChatClient):
    """Chat completions from an OpenAI-compatible endpoint; checks the key and the endpoint before any work."""

    def __init__(self, config: dict, section: str = "bridge.editor"):
        super().__init__()
        key_env = config.get("api_key_env", "OPENAI_API_KEY")
        key = os.environ.get(key_env)
        if not key:
            raise RuntimeError(f"{section}.kind is openai but the environment variable {key_env} is not set")
        redact.register(key)
        self._key, self.section = key, section
        self.name = self.model = config["model"]
        # no base_url: $OPENAI_BASE_URL as the openai library reads it (a proxy, or the rehearsal's stand-in)
        base_url = config.get("base_url") or os.environ.get("OPENAI_BASE_URL") or "https://api.openai.com/v1"
        self.base_url = base_url.rstrip("/")
        self.settings = openai_settings(config)
        self.concurrency = int(config.get("max_concurrency", 8))
        if self.concurrency < 1:
            raise ValueError(f"{section}.max_concurrency must be >= 1, got {self.concurrency}")
        self.max_retries = int(config.get("max_retries", 6))
        self.timeout = float(config.get("timeout_s", 120))
        self.backoff = float(config.get("backoff_s", 1.0))
        https = urllib.request.HTTPSHandler(context=_ssl_context())
        local = is_loopback(self.base_url)  # a served model: no proxy reaches this machine's loopback
        self._opener = no_proxy_opener(https) if local else urllib.request.build_opener(https)
        self._lock = threading.Lock()
        self._preflight(f"{section} endpoint {self.base_url}")

    def _http(self, method: str, route: str, payload: dict | None = None, timeout: float | None = None):
        """(status, headers, body) of one HTTP exchange; transport errors raise `Failure`."""
        data = None if payload is None else json.dumps(payload, ensure_ascii=False).encode()
        headers = {"Authorization": f"Bearer {self._key}", "Content-Type": "application/json"}
        request = urllib.request.Request(self.base_url + route, data, headers, method=method)
        try:
            with self._opener.open(request, timeout=timeout or self.timeout) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as e:
            try:
                body = e.read()
            except (OSError, http.client.HTTPException):
                body = b""
            return e.code, e.headers, body
        except http.client.IncompleteRead:
            raise Failure("cut-off body") from None
        except TimeoutError as e:
            raise Failure("timeout", detail=str(e)) from None
        except urllib.error.URLError as e:
            reason = "timeout" if isinstance(e.reason, TimeoutError) else "connection error"
            raise Failure(reason, detail=f"{type(e.reason).__name__}: {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:
            raise Failure("connection error", detail=f"{type(e).__name__}: {e}") from None

    def _preflight(self, where: str) -> None:
        """One cheap request (list models): a refused key or an unreachable endpoint stops the stage here.
        An endpoint without a /models route (any other HTTP error) still counts as reachable."""
        for attempt in range(2):
            try:
                status, _, body = self._http("GET", "/models")
            except Failure as e:
                if attempt:
                    raise RuntimeError(f"{where} is not reachable: {e.reason} ({e.detail})") from None
                time.sleep(min(self.backoff, 1.0))
                continue
            if status in (401, 403):
                detail = redact.scrub(body.decode("utf-8", "replace"))[:300]
                raise RuntimeError(f"{where} refused the key: HTTP {status} {detail}") from None
            return

    def _attempt(self, key: str, messages: list[dict]) -> tuple[str | None, Failure | None]:
        """One request, recorded in the ledger and in `usage`."""
        sent = self.ledger.sent(key, self.model) if self.ledger else None
        began = time.monotonic()
        payload = {"model": self.model, "messages": messages, **self.settings}
        try:
            text, *tokens = parse_reply(*self._http("POST", "/chat/completions", payload))
            failure = None
        except Failure as f:
            text, failure, tokens = None, f, list(f.tokens)
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += tokens[0]
            self.usage["completion_tokens"] += tokens[1]
        if sent:
            outcome, status = ("ok", 200) if failure is None else (failure.reason, failure.status)
            detail = None if failure is None else failure.detail
            self.ledger.done(sent, key, outcome, status, *tokens, time.monotonic() - began, detail)
        return text, failure

    def _ask_one(self, key: str, messages: list[dict]) -> Reply:
        """A request with its retries: the good reply (scrubbed), or the last failure's reason."""
        for attempt in range(1, self.max_retries + 2):
            text, failure = self._attempt(key, messages)
            if failure is None:
                return Reply(redact.scrub_exact(text))
            if failure.status in FATAL_STATUS:
                where = f"{self.section} endpoint {self.base_url}"
                raise RuntimeError(
                    f"{where} {FATAL_STATUS[failure.status]}: {failure.reason} {failure.detail}"
                )
            if not failure.retry or attempt > self.max_retries:
                return Reply(None, failure.reason)
            pause = min(self.backoff * 2 ** (attempt - 1), 60.0) * random.uniform(0.8, 1.2)
            time.sleep(failure.wait_s if failure.wait_s is not None else pause)
        raise AssertionError("unreachable")

    def ask(
        self, requests: dict[str, list[dict]], on_reply: Callable[[str, Reply], None], chunk: int = 16
    ) -> None:
        """Every request in a sliding window of `max_concurrency`; each reply goes to `on_reply` (in this
        thread) the moment it is in. `chunk` is unused (local models' batch size)."""
        pending = iter(requests.items())
        in_flight: dict = {}
        failed_in_a_row = 0
        with ThreadPoolExecutor(max_workers=self.concurrency) as pool:
            try:
                while True:
                    while len(in_flight) < self.concurrency and (item := next(pending, None)) is not None:
                        in_flight[pool.submit(self._ask_one, *item)] = item[0]
                    if not in_flight:
                        return
                    finished, _ = wait(in_flight, return_when=FIRST_COMPLETED)
                    for future in finished:
                        key, reply = in_flight.pop(future), future.result()
                        on_reply(key, reply)
                        failed_in_a_row = 0 if reply.text is not None else failed_in_a_row + 1
                    if failed_in_a_row >= FAILURES_IN_A_ROW:
                        raise RuntimeError(
                            f"{self.section} endpoint {self.base_url}: {failed_in_a_row} requests in a row "
                            f"failed after their retries (last: {reply.error}); the replies received are "
                            "cached, a rerun asks only the rest"
                        )
            finally:
                for future in in_flight:
                    future.cancel()

    def complete(self, requests: list[list[dict]]) -> list[str]:
        """One text per request, in order; a request that fails after its retries raises RuntimeError."""
        replies: dict[str, Reply] = {}
        self.ask({str(i): m for i, m in enumerate(requests)}, replies.__setitem__)
        failed = [r.error for r in replies.values() if r.text is None]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(requests)} requests failed (first: {failed[0]})")
        return [replies[str(i)].text for i in range(len(requests))]
