"""Secrets out of every message: API keys are replaced by `***` in exceptions, log lines and stored replies.

`scrub(text)` removes every registered secret (a configured key's value) and, in messages only, the value of
anything that looks like an `Authorization` or `api-key` header. `register(secret)` adds a key and makes sure
the root logger's handlers scrub every record, whichever library logged it. Stored replies use
`scrub_exact`: only the registered values, so that a reply that merely talks about API keys stays intact.
"""

from __future__ import annotations

import logging
import re
import threading

MASK = "***"
HEADER = re.compile(
    r"(?i)\b(authorization|x-api-key|api[-_]?key)(['\"]?\s*[:=]\s*['\"]?)(bearer\s+|basic\s+)?[^\s'\",;}]+"
)
_secrets: set[str] = set()
_lock = threading.Lock()


def register(secret: str) -> None:
    """Scrub `secret` from now on (stored replies, messages and every log record)."""
    if not secret:
        return
    with _lock:
        _secrets.add(secret)
    install_log_filter()


def scrub_exact(text: str) -> str:
    """`text` without any registered secret."""
    for secret in sorted(_secrets, key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def scrub(text: str) -> str:
    """`text` without registered secrets nor header values (for errors and log lines)."""
    return HEADER.sub(lambda m: m.group(1) + m.group(2) + (m.group(3) or "") + MASK, scrub_exact(text))


class ScrubFilter(logging.Filter):
    """Formats each record's message (and traceback) once, scrubbed."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg, record.args = scrub(record.getMessage()), None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True


_FILTER = ScrubFilter()


def install_log_filter() -> None:
    """Attach the scrubbing filter to the root logger and each of its handlers (idempotent)."""
    root = logging.getLogger()
    for target in (root, *root.handlers):
        if _FILTER not in target.filters:
            target.addFilter(_FILTER)
