"""Atomic file outputs, validated reading of source files and input fingerprints shared by every stage.

Every source file is read through `read_text` / `iter_lines` / `iter_jsonl` / `read_json`: a byte that is not
UTF-8 or a line that does not parse raises `InputError` naming the file and the line.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


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


def give_usual_permissions(folder: str | Path) -> None:
    """Files 0o666 and folders 0o777, less the umask, for `folder` and all it holds: what the user expects of
    outputs (safetensors >= 0.8 writes its files 0600, unreadable by the user's group)."""
    for root, _dirs, files in os.walk(folder):
        os.chmod(root, 0o777 & ~_UMASK)
        for name in files:
            path = os.path.join(root, name)
            if not os.path.islink(path):
                os.chmod(path, 0o666 & ~_UMASK)


@contextmanager
def atomic_path(path: str | Path, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds.

    The block may replace the temporary file by a folder of the same name (a model folder); either way the
    result gets the user's usual permissions (files 0o666, folders 0o777, less the umask)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=suffix + ".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        # mkstemp makes 0600 files, and a folder made in its place must keep its execute bits to be entered
        if os.path.isdir(tmp):
            give_usual_permissions(tmp)
        else:
            os.chmod(tmp, 0o666 & ~_UMASK)
        os.replace(tmp, path)
    finally:
        if os.path.isdir(tmp) and not os.path.islink(tmp):
            shutil.rmtree(tmp, ignore_errors=True)
        elif os.path.lexists(tmp):
            os.remove(tmp)


def write_text(path: str | Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: str | Path, obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


def decode_utf8(data: bytes, path: str | Path, first_line: int = 1) -> str:
    """`data` as UTF-8 text; a bad byte raises InputError with its line (counted from `first_line`) and column."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = first_line + data.count(b"\n", 0, e.start)
        column = e.start - data.rfind(b"\n", 0, e.start)
        raise InputError(path, line, f"not UTF-8: byte 0x{data[e.start]:02x} at column {column}") from None


def read_text(path: str | Path) -> str:
    """The whole text of a UTF-8 source file (see `decode_utf8`)."""
    return decode_utf8(Path(path).read_bytes(), path)


def iter_lines(path: str | Path) -> Iterator[tuple[int, str]]:
    """(1-based line number, text) of every line of a UTF-8 file, each decoded on its own (see `decode_utf8`)."""
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, 1):
            yield lineno, decode_utf8(raw, path, lineno)


def read_json(path: str | Path) -> Any:
    try:
        return json.loads(read_text(path))
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
    for lineno, line in iter_lines(path):
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

    Rows are keyed by `key`; `done` holds the keys already written. On open, a torn last line (killed
    mid-write, or cut inside a multi-byte character) is dropped; a line elsewhere that is not a JSON object
    (a damaged disk or copy) is moved aside to `<file>.corrupt` with its line number, the rows before and after
    it are kept and its item is done again; a row without `key` raises InputError. `finalize(path, order)`
    writes the final file atomically in `order`.
    """

    def __init__(self, partial_path: str | Path, key: str = "id"):
        self.path, self.key = Path(partial_path), key
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.rows: dict[str, dict] = {}
        if self.path.exists():
            self._read()
        self._f = open(self.path, "a", encoding="utf-8")

    def _read(self) -> None:
        with open(self.path, "rb") as f:
            lines = [(n, raw if raw.endswith(b"\n") else raw + b"\n", raw) for n, raw in enumerate(f, 1)]
        good, bad = [], []
        for lineno, line, raw in lines:
            if not line.strip():
                continue
            try:
                row = json.loads(line.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                if line is not raw and lineno == len(lines):
                    continue  # a torn tail from a killed writer
                bad.append((lineno, line, getattr(e, "msg", "not UTF-8")))
                continue
            if not isinstance(row, dict) or self.key not in row:
                found = f"fields {sorted(row)}" if isinstance(row, dict) else f"a JSON {type(row).__name__}"
                raise InputError(self.path, lineno, f"a row needs its {self.key!r} ({found})")
            self.rows[row[self.key]] = row
            good.append(line)
        if bad:
            aside = self.path.with_name(self.path.name + ".corrupt")
            with open(aside, "ab") as f:  # kept for inspection: each line after its line number and a tab
                f.writelines(f"{lineno}\t".encode() + line for lineno, line, _ in bad)
            for lineno, _, why in bad:
                log.warning(
                    "%s:%d: not a JSON row (%s); moved to %s, its item is done again",
                    self.path,
                    lineno,
                    why,
                    aside.name,
                )
        if good != [raw for _, _, raw in lines]:  # rows dropped, or a last row without its newline
            with atomic_path(self.path) as tmp:
                tmp.write_bytes(b"".join(good))

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


def file_sha256(path: str | Path) -> str:
    """sha256 of a file's bytes (the data part of an input fingerprint)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def model_fingerprint(path: str | Path, samples: int = 64, chunk: int = 1 << 16) -> str | None:
    """sha256 over a local model's config and evenly spaced slices of its weight files; None for a hub id.

    Cheap even for 70B models, and a rebuilt or retrained model at the same path gets a new fingerprint.
    """
    path = Path(path)
    if not path.is_dir():
        return None
    h = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if f.suffix in (".json", ".jinja", ".model"):  # config, tokenizer, chat template
            h.update(f.name.encode() + f.read_bytes())
        elif f.suffix in (".safetensors", ".bin", ".pt"):
            size = f.stat().st_size
            h.update(f"{f.name}:{size}".encode())
            with open(f, "rb") as fh:
                for i in range(samples):
                    fh.seek(size * i // samples)
                    h.update(fh.read(chunk))
    return h.hexdigest()


def fingerprint_changes(old: Any, new: Any, prefix: str = "") -> list[str]:
    """What differs between two input fingerprints (nested dicts and lists, compared as JSON), as
    "key: old -> new" lines."""
    old, new = json.loads(json.dumps(old)), json.loads(json.dumps(new))
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for key in sorted(set(old) | set(new), key=str):
            out += fingerprint_changes(old.get(key), new.get(key), f"{prefix}{key}.")
        return out
    if isinstance(old, list) and isinstance(new, list) and len(old) == len(new):
        return [
            c
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for c in fingerprint_changes(a, b, f"{prefix}{i}.")
        ]
    if old == new:
        return []
    return [f"{prefix.rstrip('.') or 'value'}: {_short(old)} -> {_short(new)}"]


def _short(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 80 else text[:77] + "..."


def _typename(typ) -> str:
    if isinstance(typ, tuple):
        return " or ".join(t.__name__ for t in typ)
    return typ.__name__
