"""Static check of the per-stage conda envs: exact pins, and their pip parts resolve with `pip install --dry-run`.

Usage: python scripts/check_envs.py [--no-resolve]
"""

from __future__ import annotations

import argparse
import ast
import re
import subprocess
import sys
from pathlib import Path

import yaml

ENVS = Path(__file__).resolve().parents[1] / "envs"


def pip_requirements(env_file: Path) -> list[str]:
    env = yaml.safe_load(env_file.read_text())
    pip_parts = [d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d]
    return [req for part in pip_parts for req in part]


def problems(env_file: Path) -> list[str]:
    env = yaml.safe_load(env_file.read_text())
    found = []
    if "nodefaults" not in env.get("channels", []):
        found.append("channels must include nodefaults")
    for dep in env["dependencies"]:
        if isinstance(dep, str) and "=" not in dep:
            found.append(f"conda package {dep!r} is not pinned")
    for req in pip_requirements(env_file):
        if "==" not in req:
            found.append(f"pip requirement {req!r} is not pinned with ==")
    return found


REPO = ENVS.parent
# import name -> pip distribution name, where they differ
DISTRIBUTIONS = {
    "yaml": "pyyaml",
    "math_verify": "math-verify",
    "sklearn": "scikit-learn",
    "antlr4": "antlr4-python3-runtime",
}


def _module_file(module: str) -> Path | None:
    path = REPO / Path(*module.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


# run when the Snakefile is parsed (or by `python -m bmc.config`), never by a stage's job: their imports
# (Snakemake's, the hub's id check) are the workflow's, not a stage env's
PARSE_TIME_ONLY = {"bmc.config_checks", "bmc.config_files"}


def _is_main_block(node: ast.stmt) -> bool:
    """`if __name__ == "__main__":`"""
    test = getattr(node, "test", None)
    return (
        isinstance(node, ast.If)
        and isinstance(test, ast.Compare)
        and isinstance(test.left, ast.Name)
        and test.left.id == "__name__"
    )


def stage_imports(module: str) -> dict[str, str]:
    """Third-party distributions a `bmc` module may import, directly or through other `bmc` modules (every
    import statement, module-level or inside functions): distribution -> the first module importing it."""
    found: dict[str, str] = {}
    seen, todo = set(), [module]
    while todo:
        name = todo.pop()
        path = _module_file(name)
        if path is None or name in seen:
            continue
        seen.add(name)
        if name in PARSE_TIME_ONLY:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        tree.body = [node for node in tree.body if not _is_main_block(node)]  # `python -m` only, never a job
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                targets = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            else:
                continue
            for target in targets:
                top = target.split(".")[0]
                if top == "bmc":
                    todo.append(target)
                elif top not in sys.stdlib_module_names and top != "__future__":
                    found.setdefault(DISTRIBUTIONS.get(top, top).replace("_", "-"), name)
    return found


def pinned(env_file: Path) -> set[str]:
    return {re.split(r"[=<>!\[ ]", r)[0].lower().replace("_", "-") for r in pip_requirements(env_file)}


def rule_stages() -> list[tuple[str, Path, list[str]]]:
    """(rule, its conda env file, the `bmc` stages its shell runs) for every rule of workflow/rules."""
    out = []
    for smk in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for block in re.split(r"\n(?=rule \w+:)", smk.read_text(encoding="utf-8")):
            head, env = re.match(r"rule (\w+):", block), re.search(r'conda:\s*\n\s*"([^"]+)"', block)
            if head and env:
                stages = re.findall(r"bmc\.cli ([\w-]+)", block)
                out.append((head.group(1), (smk.parent / env.group(1)).resolve(), stages))
    return out


def resolves(env_file: Path) -> tuple[bool, str]:
    cmd = [sys.executable, "-m", "pip", "install", "--dry-run", "--ignore-installed", "--quiet"]
    proc = subprocess.run(cmd + pip_requirements(env_file), capture_output=True, text=True)
    return proc.returncode == 0, proc.stderr.strip().splitlines()[-1:] and proc.stderr.strip().splitlines()[
        -1
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--no-resolve", action="store_true", help="skip the pip dry runs")
    args = parser.parse_args()
    failed = False
    for env_file in sorted(ENVS.glob("*.yaml")):
        issues = problems(env_file)
        if not issues and not args.no_resolve:
            ok, err = resolves(env_file)
            issues += [] if ok else [f"pip dry run failed: {err}"]
        print(f"{env_file.name}: {'ok' if not issues else '; '.join(issues)}")
        failed |= bool(issues)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
