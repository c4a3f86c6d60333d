"""The ledger of every request sent to a model (`ledger.jsonl` in a cache folder): what was really spent.

Each attempt writes a `sent` row when it leaves and a `done` row when its reply (or failure) is in, each with
one unbuffered append, so a killed run's requests are counted too (a `sent` row without its `done` row is a
request whose reply never arrived). Rows: `t` (unix time), `run` (one id per stage run), `attempt` (the
attempt's id), `key` (the request's cache key), `event`; `sent` rows add `model`; `done` rows add `outcome`
("ok" or the failure reason), `status` (HTTP status or null), `prompt_tokens`, `completion_tokens`,
`seconds` and, for failures, `detail` (the scrubbed error). Several processes may append to one ledger.
"""

from __future__ import annotations

import itertools
import json
import os
import threading
import time
import uuid
from collections.abc import Iterable
from pathlib import Path

from bmc.llm.redact import scrub

LEDGER = "ledger.jsonl"


class Ledger:
    """Append-only `ledger.jsonl` (thread-safe; each row is one `write`, so processes never interleave)."""

    def __init__(self, folder: str | Path):
        self.path = Path(folder) / LEDGER
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.run = uuid.uuid4().hex[:12]
        self._ids = itertools.count(1)
        self._fd: int | None = None

    def _write(self, row: dict) -> None:
        data = (json.dumps(row, ensure_ascii=False) + "\n").encode()
        with self._lock:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o666)
                if os.fstat(self._fd).st_size and not _ends_with_newline(self.path):
                    os.write(self._fd, b"\n")  # a killed writer's torn row stays a line of its own
            os.write(self._fd, data)

    def sent(self, key: str, model: str) -> str:
        """Record an attempt leaving; returns its id for `done`."""
        attempt = f"{self.run}-{next(self._ids)}"
        row = {"t": round(time.time(), 3), "run": self.run, "attempt": attempt, "key": key, "event": "sent"}
        self._write({**row, "model": model})
        return attempt

    def done(
        self,
        attempt: str,
        key: str,
        outcome: str = "ok",
        status: int | None = None,
        prompt_tokens: int = 0,
        completion_tokens: int = 0,
        seconds: float = 0.0,
        detail: str | None = None,
    ) -> None:
        row = {
            "t": round(time.time(), 3),
            "run": self.run,
            "attempt": attempt,
            "key": key,
            "event": "done",
            "outcome": outcome,
            "status": status,
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "seconds": round(seconds, 3),
        }
        if detail is not None:
            row["detail"] = scrub(detail)[:500]
        self._write(row)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def read_rows(folder: str | Path) -> list[dict]:
    """Every whole row of a cache folder's ledger (a torn row of a killed writer is skipped)."""
    path = Path(folder) / LEDGER
    if not path.exists():
        return []
    rows = []
    with open(path, "rb") as f:
        for raw in f:
            try:
                row = json.loads(raw)
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(row, dict) and "event" in row:
                rows.append(row)
    return rows


def totals(folder: str | Path, keys: Iterable[str]) -> dict:
    """What the requests of `keys` cost over every run: attempts sent, replies ok, failed, never answered
    (the run was killed), tokens, and how many runs sent them."""
    wanted = set(keys)
    rows = [r for r in read_rows(folder) if r.get("key") in wanted]
    sent = [r for r in rows if r["event"] == "sent"]
    done = [r for r in rows if r["event"] == "done"]
    answered = {r.get("attempt") for r in done}
    return {
        "requests": len(sent),
        "ok": sum(r.get("outcome") == "ok" for r in done),
        "failed": sum(r.get("outcome") != "ok" for r in done),
        "unanswered": sum(r.get("attempt") not in answered for r in sent),
        "prompt_tokens": sum(int(r.get("prompt_tokens") or 0) for r in done),
        "completion_tokens": sum(int(r.get("completion_tokens") or 0) for r in done),
        "runs": len({r.get("run") for r in sent}),
    }
