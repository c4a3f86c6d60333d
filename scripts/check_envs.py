"""Static check of the per-stage conda envs: exact pins, and their pip parts resolve with `pip install --dry-run`.

Usage: python scripts/check_envs.py [--no-resolve]
"""

from __future__ import annotations

import argparse
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
