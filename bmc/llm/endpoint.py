"""Chat completions from an OpenAI-compatible endpoint (`POST {base_url}/chat/completions`, stdlib HTTP).

Every reply is checked: a JSON object, a non-empty `choices` list, a string `content`. Outcomes of one attempt:
- a reply: its text, with the finish reason when the endpoint cut it at the token limit (`length`) or
  filtered it (`content_filter`); such a reply is paid for and is what a retry would get again, so it is
  handed over (and cached) like any other, and the caller decides what it is worth;
- retried with backoff (`backoff_s` · 2^(attempt-1), up to 60 s, or what Retry-After / retry-after-ms asks,
  at most `MAX_WAIT_S`, a long wait logged): HTTP 408, 409, 429, 5xx, a timeout, a connection error, a body
  cut off, malformed JSON, no choices, null content;
- final at once (retrying cannot help): any other HTTP 4xx;
- fatal for the whole stage: HTTP 401, 403 (the key) and 404 (the model or the URL), and `FAILURES_IN_A_ROW`
  requests failing one after another (the endpoint is down, not one request bad).
A request that fails after `max_retries` retries comes back as a failed `Reply` with its reason. Whatever stops
the asking (a fatal reply, a failure to store a reply, SIGTERM or SIGINT: `bmc.llm.stopping`), nothing more is
sent, the requests in flight get `ABORT_GRACE_S` to arrive, and every reply that arrived is handed over before
the first error is raised. Every attempt goes to the ledger when one is attached; every message that leaves
this module is scrubbed of the key.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import random
import ssl
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import replace

from bmc.llm import redact
from bmc.llm.clients import ChatClient, Reply, openai_settings
from bmc.llm.server import is_loopback, no_proxy_opener
from bmc.llm.stopping import Stopped, stop_on_signals

log = logging.getLogger(__name__)

RETRY_STATUS = {408, 409, 429}
FATAL_STATUS = {401: "refused the key", 403: "refused the key", 404: "has no such model or route"}
CUT_REASONS = {"length", "content_filter"}  # a reply cut at the token limit or filtered: not retried
FAILURES_IN_A_ROW = 20
MAX_WAIT_S = 120.0  # the longest wait a Retry-After gets (a daily quota's "come back tomorrow" fails instead)
LOG_WAIT_S = 10.0  # a wait at least this long is logged
ABORT_GRACE_S = 20.0  # how long the requests in flight may take to arrive once the asking stops


class Fatal(RuntimeError):
    """A reply that stops the stage (the key refused, no such model or route)."""


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
    """Seconds the server asks to wait (retry-after-ms, or Retry-After in seconds or as an HTTP date), as
    asked: `_ask_one` caps the wait at `MAX_WAIT_S`."""
    if headers is None:
        return None
    if (ms := headers.get("retry-after-ms")) is not None:
        try:
            return max(float(ms) / 1000, 0.0)
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
    return max(seconds, 0.0)


def _tokens(data: dict) -> tuple[int, int]:
    usage = data.get("usage") if isinstance(data.get("usage"), dict) else {}
    return tuple(
        int(v) if isinstance(v, int) else 0
        for v in (usage.get("prompt_tokens"), usage.get("completion_tokens"))
    )


def parse_reply(status: int, headers, body: bytes) -> Reply:
    """The reply (text, finish reason when cut or filtered, tokens) of a good answer; raises `Failure` for any
    other."""
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
    finish = choices[0].get("finish_reason")
    cut = finish if finish in CUT_REASONS else None
    if content is None and cut == "content_filter":
        content = ""  # a filtered reply may come without text: still the endpoint's answer
    if not isinstance(content, str):
        raise Failure("null content", status=200, tokens=tokens)
    return Reply(content, None, *tokens, finish_reason=cut)


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
        self._stop, self._write_error = threading.Event(), None
        self.billed = True  # False for a model served by the job itself: no reply in flight is worth a wait
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

    def _attempt(self, key: str, messages: list[dict]) -> tuple[Reply | None, Failure | None]:
        """One request, recorded in the ledger and in `usage`. A ledger that cannot be written (a full disk)
        does not lose the reply: the error is kept for the asking loop, which stops."""
        sent = self.ledger.sent(key, self.model) if self.ledger else None
        began = time.monotonic()
        payload = {"model": self.model, "messages": messages, **self.settings}
        try:
            reply, failure = parse_reply(*self._http("POST", "/chat/completions", payload)), None
            tokens = (reply.prompt_tokens, reply.completion_tokens)
        except Failure as f:
            reply, failure, tokens = None, f, f.tokens
        with self._lock:
            self.usage["requests"] += 1
            self.usage["prompt_tokens"] += tokens[0]
            self.usage["completion_tokens"] += tokens[1]
        if sent:
            outcome, status = ("ok", 200) if failure is None else (failure.reason, failure.status)
            detail = None if failure is None else failure.detail
            try:
                self.ledger.done(sent, key, outcome, status, *tokens, time.monotonic() - began, detail)
            except OSError as e:
                with self._lock:
                    self._write_error = self._write_error or e
        return reply, failure

    def _pause(self, failure: Failure, attempt: int) -> float:
        """Seconds before the next attempt: the backoff, or what the server asks (capped, a long wait logged)."""
        if failure.wait_s is None:
            return min(self.backoff * 2 ** (attempt - 1), 60.0) * random.uniform(0.8, 1.2)
        wait_s = min(failure.wait_s, MAX_WAIT_S)
        if failure.wait_s > MAX_WAIT_S:
            log.warning(
                "%s endpoint %s: %s asks to wait %g s (Retry-After); waiting %g s, the cap, before attempt "
                "%d of %d; if it is refused again the request fails, and a later rerun asks it again",
                self.section,
                self.base_url,
                failure.reason,
                round(failure.wait_s, 1),
                round(wait_s, 1),
                attempt + 1,
                self.max_retries + 1,
            )
        elif wait_s >= LOG_WAIT_S:
            log.info(
                "%s endpoint %s: %s; waiting %g s as its Retry-After asks, before attempt %d of %d",
                self.section,
                self.base_url,
                failure.reason,
                round(wait_s, 1),
                attempt + 1,
                self.max_retries + 1,
            )
        return wait_s

    def _ask_one(self, key: str, messages: list[dict]) -> Reply:
        """A request with its retries: the reply (scrubbed), or the last failure's reason. Once the asking
        stops (`_stop`), no retry is made."""
        for attempt in range(1, self.max_retries + 2):
            reply, failure = self._attempt(key, messages)
            if failure is None:
                return replace(reply, text=redact.scrub_exact(reply.text))
            if failure.status in FATAL_STATUS:
                where = f"{self.section} endpoint {self.base_url}"
                raise Fatal(f"{where} {FATAL_STATUS[failure.status]}: {failure.reason} {failure.detail}")
            if not failure.retry or attempt > self.max_retries:
                return Reply(None, failure.reason)
            if self._stop.wait(self._pause(failure, attempt)):
                return Reply(None, failure.reason)
        raise AssertionError("unreachable")

    def ask(
        self, requests: dict[str, list[dict]], on_reply: Callable[[str, Reply], None], chunk: int = 16
    ) -> None:
        """Every request in a sliding window of `max_concurrency`; each reply goes to `on_reply` (in this
        thread) the moment it is in. `chunk` is unused (local models' batch size). Whatever stops the asking,
        every reply that arrived goes to `on_reply` before the first error is raised (module docstring)."""
        pending = iter(requests.items())
        in_flight: dict[Future, str] = {}
        errors: list[BaseException] = []
        failed_in_a_row, last_error = 0, None
        self._stop, self._write_error = threading.Event(), None
        pool = ThreadPoolExecutor(max_workers=self.concurrency)
        with stop_on_signals(self._stop) as signalled:
            try:
                while not errors:
                    if signalled:
                        errors.append(Stopped(128 + signalled["number"]))
                        break
                    while len(in_flight) < self.concurrency and (item := next(pending, None)) is not None:
                        in_flight[pool.submit(self._ask_one, *item)] = item[0]
                    if not in_flight:
                        break
                    finished, _ = wait(in_flight, timeout=0.2, return_when=FIRST_COMPLETED)
                    for future in finished:
                        reply = _hand_over(in_flight.pop(future), future, on_reply, errors)
                        if reply is not None:
                            failed_in_a_row = 0 if reply.text is not None else failed_in_a_row + 1
                            last_error = reply.error or last_error
                    if self._write_error is not None:
                        errors.append(self._write_error)
                    elif failed_in_a_row >= FAILURES_IN_A_ROW:
                        errors.append(
                            RuntimeError(
                                f"{self.section} endpoint {self.base_url}: {failed_in_a_row} requests in a row "
                                f"failed after their retries (last: {last_error}); the replies received are "
                                "cached, a rerun asks only the rest"
                            )
                        )
            except BaseException as e:  # raised below, once the replies in flight are in
                errors.append(e)
            finally:
                self._stop.set()
                self._drain(pool, in_flight, on_reply, errors)
        if signalled:
            log.warning(
                "%s: stopped by %s; the replies that arrived are cached, a rerun asks only the rest",
                self.section,
                signalled["signal"],
            )
        if errors:
            raise errors[0]

    def _drain(self, pool: ThreadPoolExecutor, in_flight: dict, on_reply, errors: list) -> None:
        """Hand over the replies of the requests in flight that arrive within `ABORT_GRACE_S`."""
        running = {f: key for f, key in in_flight.items() if not f.cancel()}
        left: set = set()
        grace = ABORT_GRACE_S if self.billed else 0.0
        if running and grace:
            cause = errors[0] if errors else None
            log.warning(
                "%s endpoint %s: stopping (%s); waiting up to %g s for the %d requests in flight, whose "
                "replies are paid for",
                self.section,
                self.base_url,
                "a signal" if isinstance(cause, SystemExit) else redact.scrub(str(cause))[:200],
                grace,
                len(running),
            )
        if running:
            done, left = wait(running, timeout=grace)
            for future in done:
                _hand_over(running[future], future, on_reply, errors)
        if left:
            log.warning(
                "%s endpoint %s: %d requests still in flight after %g s are dropped (a rerun asks them again)",
                self.section,
                self.base_url,
                len(left),
                grace,
            )
        pool.shutdown(wait=not left, cancel_futures=True)

    def complete(self, requests: list[list[dict]]) -> list[str]:
        """One text per request, in order; a request that fails after its retries, or a reply cut or filtered,
        raises RuntimeError."""
        replies: dict[str, Reply] = {}
        self.ask({str(i): m for i, m in enumerate(requests)}, replies.__setitem__)
        failed = [
            r.error or f"finish_reason {r.finish_reason}"
            for r in replies.values()
            if r.error or r.finish_reason
        ]
        if failed:
            raise RuntimeError(f"{len(failed)} of {len(requests)} requests failed (first: {failed[0]})")
        return [replies[str(i)].text for i in range(len(requests))]


def _hand_over(key: str, future: Future, on_reply, errors: list) -> Reply | None:
    """The finished request's reply, given to `on_reply`; an error (a fatal reply, a failure to store it) is
    appended to `errors` instead of raised, so that the other replies are handed over too."""
    try:
        reply = future.result()
    except Exception as e:  # collected, raised by `ask` once every reply is handed over
        errors.append(e)
        return None
    try:
        on_reply(key, reply)
    except Exception as e:  # as above
        errors.append(e)
    return reply
