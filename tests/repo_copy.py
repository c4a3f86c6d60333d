"""Copies of the repository for the tests that run Snakemake in one (the smoke DAG, the plan's dry runs, the SLURM
run, the paper rehearsal). Left out at the top level: outputs and downloads (`results`, `logs`, `resources`),
Snakemake's state, git, and whatever else .gitignore ignores there (venvs such as `.venv-vllm`, the `answers/`
of the README's vLLM recipe), so that no copy carries a run's outputs or a 2.5 GB venv; caches anywhere.
`workflow/resources` (shipped inputs) is copied."""

from __future__ import annotations

import fnmatch
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TOP_LEVEL_SKIP = {".git", ".venv", "results", "logs", "resources", ".snakemake"}
CACHES = {"__pycache__", ".pytest_cache", ".ruff_cache", ".hypothesis"}


def gitignored_at_top(names: list[str], gitignore: Path = REPO / ".gitignore") -> set[str]:
    """The names of the repository's top level that a pattern of .gitignore without an inner "/" matches."""
    lines = gitignore.read_text(encoding="utf-8").splitlines() if gitignore.is_file() else []
    patterns = [p.strip("/") for p in map(str.strip, lines) if p and not p.startswith(("#", "!"))]
    return {n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns if "/" not in p)}


def SKIP(folder: str, names: list[str]) -> set[str]:
    """`shutil.copytree`'s `ignore` for a copy of REPO."""
    skip = {n for n in names if n in CACHES or n.endswith(".egg-info")}
    if Path(folder) == REPO:
        skip |= (TOP_LEVEL_SKIP & set(names)) | gitignored_at_top(names)
    return skip
