"""Where a report's numbers came from: config and its hash, code version, the environment and packages,
hardware, wall times, and what the models' tokenizers pad with.

The code version (`code_version`, `code_files`) is what every job records beside its outputs
(`bmc.reporting.job_records`): the package version, the git commit and whether the tree was dirty, and a hash of
each package file the job loaded, taken over what the file does (a module's syntax tree without docstrings, so
comments, docstrings and formatting do not count; a data file's bytes)."""

from __future__ import annotations

import ast
import csv
import hashlib
import json
import os
import platform
import subprocess
import sys
from functools import cache
from importlib import metadata
from pathlib import Path

import bmc

PACKAGE = Path(bmc.__file__).resolve().parent
ENVS = PACKAGE.parent / "envs"
DATA_SUFFIXES = (".txt", ".json", ".jinja", ".yaml")  # templates, stop words, trainer fields, chat templates
PACKAGES = ["bmc", "torch", "transformers", "trl", "accelerate", "datasets", "snakemake", "vllm", "openai"]


def config_hash(config: dict) -> str:
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


# a run's outputs and logs, some of them committed (results/smoke): rewriting them leaves the code as it was
NOT_CODE = (":(exclude)results", ":(exclude)logs")


def git_state(repo: str | Path = ".") -> dict:
    """The checkout's commit, and whether a tracked file other than a run's outputs differs from it."""

    def git(*args):
        return subprocess.run(
            ["git", *args], cwd=repo, capture_output=True, text=True, check=True
        ).stdout.strip()

    try:
        return {
            "commit": git("rev-parse", "HEAD"),
            "dirty": bool(git("status", "--porcelain", "--untracked-files=no", "--", ".", *NOT_CODE)),
        }
    except (OSError, subprocess.CalledProcessError):
        return {"commit": "unknown", "dirty": None}


@cache
def code_version() -> dict:
    """The package version, and the git commit of its checkout with whether the tree was dirty ("unknown" and
    None outside a git checkout), as they were when first asked in this process."""
    return {"bmc": bmc.__version__, **git_state(PACKAGE.parent)}


def file_hash(path: Path) -> str:
    """sha256 (first 16 hex digits) of what a package file does: a module's syntax tree without its docstrings,
    a data file's bytes (a module that does not parse: its bytes)."""
    data = path.read_bytes()
    if path.suffix == ".py":
        try:
            tree = ast.parse(data)
        except SyntaxError:
            tree = None
        for node in ast.walk(tree) if tree else ():
            if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and (
                node.body
                and isinstance(node.body[0], ast.Expr)
                and isinstance(node.body[0].value, ast.Constant)
                and isinstance(node.body[0].value.value, str)
            ):
                node.body = node.body[1:] or [ast.Pass()]
        data = ast.dump(tree).encode() if tree else data
    return hashlib.sha256(data).hexdigest()[:16]


@cache
def data_files(folder: Path) -> frozenset[Path]:
    """The package's data files a module of `folder` may read: those of the folder, and of its subfolders that
    hold no module (templates)."""
    found = {p for p in folder.iterdir() if p.is_file() and p.suffix in DATA_SUFFIXES}
    for sub in folder.iterdir():
        if sub.is_dir() and not sub.name.startswith(("_", ".")) and not (sub / "__init__.py").exists():
            found |= {p for p in sub.rglob("*") if p.is_file() and p.suffix in DATA_SUFFIXES}
    return frozenset(found)


def code_files(modules: dict | None = None) -> dict[str, str]:
    """Each package file this process has loaded (the `bmc` modules of `sys.modules` and the data files beside
    them), by its path from the repository root, with its `file_hash`."""
    files: set[Path] = set()
    for name, module in list((sys.modules if modules is None else modules).items()):
        path = getattr(module, "__file__", None) if name.split(".")[0] == "bmc" else None
        if path and PACKAGE in Path(path).resolve().parents:
            files |= {Path(path).resolve(), *data_files(Path(path).resolve().parent)}
    return {str(f.relative_to(PACKAGE.parent)): file_hash(f) for f in sorted(files)}


def package_versions() -> dict[str, str]:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def environment(envs: Path = ENVS) -> dict:
    """The Python environment this process runs in: the interpreter's prefix and version, the active conda env
    (CONDA_PREFIX, CONDA_DEFAULT_ENV) and, for an env Snakemake made from a rule's `conda:` file, that file."""
    info = {"python": platform.python_version(), "prefix": sys.prefix}
    info |= {
        var.lower(): os.environ[var] for var in ("CONDA_PREFIX", "CONDA_DEFAULT_ENV") if os.environ.get(var)
    }
    if env_file := conda_env_file(os.environ.get("CONDA_PREFIX"), envs):
        info["conda_env_file"] = env_file
    return info


def conda_env_file(prefix: str | None, envs: Path = ENVS) -> str | None:
    """The file of `envs/` a conda env was made from (Snakemake keeps a copy of it beside the env, `<env>.yaml`):
    its path from the repository root, else the copy's path (an env file this checkout does not ship); None
    for an env not made by Snakemake."""
    copy = Path(f"{prefix}.yaml") if prefix else None
    if copy is None or not copy.is_file():
        return None
    text = copy.read_bytes()
    shipped = (f for f in sorted(envs.glob("*.yaml")) if f.read_bytes() == text)
    match = next(shipped, None)
    return str(match.relative_to(envs.parent)) if match else str(copy)


def hardware() -> dict:
    info = {"platform": platform.platform(), "cpus": os.cpu_count()}
    try:
        with open("/proc/meminfo") as f:
            kb = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
        info["memory_gb"] = round(kb / 2**20, 1)
    except (OSError, StopIteration):
        pass
    try:
        import torch

        info["gpu"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    except ImportError:
        info["gpu"] = "unknown"
    return info


def rule_times(bench_dir: str | Path) -> list[dict]:
    """One row per Snakemake `benchmark:` file (benchmarks/<rule>/<wildcards>.tsv): wall seconds and peak RSS."""
    rows = []
    root = Path(bench_dir)
    for path in sorted(root.rglob("*.tsv")) if root.is_dir() else []:
        with open(path, newline="") as f:
            records = list(csv.DictReader(f, delimiter="\t"))
        if not records:
            continue
        rel = path.relative_to(root).with_suffix("")
        rule = rel.parts[0]
        job = "/".join(rel.parts[1:]) or "-"
        rss = records[0].get("max_rss", "NA")
        rows.append(
            {
                "rule": rule,
                "job": job,
                "seconds": float(records[0]["s"]),
                "max_rss_mb": None if rss in ("NA", "-") else float(rss),
            }
        )
    return rows


def pad_token_settings(config: dict) -> dict[str, str]:
    """What each model folder of `config` pads with when its tokenizer has no pad token (`pad_token_if_missing`,
    default eos), by the key of its section: `model`, `sft_models.<task>`, `editor_models.<name>`."""
    from bmc.config import ModelSection

    default = ModelSection.model_fields["pad_token_if_missing"].default
    sections = {"model": config.get("model") or {}}
    sections |= {f"sft_models.{task}": m for task, m in (config.get("sft_models") or {}).items()}
    sections |= {f"editor_models.{name}": m for name, m in (config.get("editor_models") or {}).items()}
    return {key: section.get("pad_token_if_missing", default) for key, section in sections.items()}


def generation_settings(meta_paths: list[str | Path]) -> list[dict]:
    """The generation records (`<out>.meta.json`) grouped by how the text was made: one row per stage, task,
    backend and version, torch, device, dtype and decoding, with its files, distinct models and rows."""
    groups: dict[tuple, dict] = {}
    for path in meta_paths:
        meta = json.loads(Path(path).read_text(encoding="utf-8"))
        row = {
            "stage": meta.get("stage", "?"),
            "task": meta.get("task", "?"),
            "backend": f"{meta['backend']} {meta['backend_version']}",
            "torch": meta["torch"],
            "device": meta["device"],
            "dtype": meta["dtype"],
            "decoding": describe_decoding(meta["decoding"]),
        }
        group = groups.setdefault(tuple(row.values()), {**row, "files": 0, "models": set(), "rows": 0})
        group["files"] += 1
        group["models"].add(meta["model_sha256"])
        group["rows"] += meta.get("rows", 0)
    return [{**g, "models": len(g["models"])} for _, g in sorted(groups.items())]


def describe_decoding(d: dict) -> str:
    """Decoding settings in a few words, e.g. "greedy, ≤96 new tokens, stop ['Question', 'USER']"."""
    how = (
        f"sampled (T {d['temperature']}, top-p {d['top_p']}, seed {d['seed']})"
        if d["do_sample"]
        else "greedy"
    )
    stop = f", stop {d['stop_strings']}" if d.get("stop_strings") else ""
    return f"{how}, ≤{d['max_new_tokens']} new tokens{stop}"
