"""Atomic file outputs and validated JSONL reading shared by every stage."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


class InputError(ValueError):
    """Bad input: says the file, the line and what was expected."""

    def __init__(self, path: str | Path, line: int | None, message: str):
        where = f"{path}:{line}" if line is not None else str(path)
        super().__init__(f"{where}: {message}")
        self.path, self.line = str(path), line


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix + ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600 files: give the result the usual permissions
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise InputError(path, e.lineno, f"invalid JSON: {e.msg}") from None


def write_jsonl(path: str | Path, rows: Iterable[dict]) -> int:
    n = 0
    with atomic_path(path) as tmp, open(tmp, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
            n += 1
    return n


def iter_jsonl(
    path: str | Path,
    required: dict[str, type | tuple[type, ...]] | None = None,
    check: Callable[[dict], str | None] | None = None,
) -> Iterator[dict]:
    """Yield rows of a JSONL file; a malformed row raises InputError with file and line number.

    `required` maps field name -> expected type(s); `check` returns an error message or None.
    Blank lines are skipped.
    """
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise InputError(path, lineno, f"invalid JSON ({e.msg})") from None
            if not isinstance(row, dict):
                raise InputError(path, lineno, f"expected a JSON object, got {type(row).__name__}")
            for key, typ in (required or {}).items():
                if key not in row:
                    raise InputError(path, lineno, f"missing field {key!r} (fields: {sorted(row)})")
                if not isinstance(row[key], typ):
                    raise InputError(
                        path,
                        lineno,
                        f"field {key!r} should be {_typename(typ)}, got {type(row[key]).__name__}",
                    )
            if check is not None and (msg := check(row)):
                raise InputError(path, lineno, msg)
            yield row


def read_jsonl(path: str | Path, required=None, check=None) -> list[dict]:
    return list(iter_jsonl(path, required, check))


class ResumableJsonl:
    """Append-only progress file for long steps: finished items survive a crash.

    Rows are keyed by `key`; `done` holds the keys already written. A torn last line (killed mid-write)
    is dropped on open. `finalize(path, order)` writes the final file atomically in `order`.
    """

    def __init__(self, partial_path: str | Path, key: str = "id"):
        self.path, self.key = Path(partial_path), key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            good = []
            with open(self.path, encoding="utf-8") as f:
                for line in f:
                    try:
                        row = json.loads(line)
                    except json.JSONDecodeError:
                        break  # torn tail from a killed writer
                    self.rows[row[key]] = row
                    good.append(line if line.endswith("\n") else line + "\n")
            with open(self.path, "w", encoding="utf-8") as f:
                f.writelines(good)
        self._f = open(self.path, "a", encoding="utf-8")

    @property
    def done(self) -> set[str]:
        return set(self.rows)

    def add(self, row: dict) -> None:
        self.rows[row[self.key]] = row
        self._f.write(json.dumps(row, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def finalize(self, path: str | Path, order: Iterable[str]) -> list[dict]:
        self._f.close()
        rows = [self.rows[k] for k in order]
        write_jsonl(path, rows)
        self.path.unlink(missing_ok=True)
        return rows

    def close(self) -> None:
        self._f.close()


def _typename(typ) -> str:
    if isinstance(typ, tuple):
        return " or ".join(t.__name__ for t in typ)
    return typ.__name__
