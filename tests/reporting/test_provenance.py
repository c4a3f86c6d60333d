"""Provenance names the environment a rule ran in: interpreter, conda env and the rule's env file."""

import logging
import platform
import subprocess
import sys
import types
from pathlib import Path

import pytest

from bmc import cli
from bmc.reporting.provenance import conda_env_file, environment

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def snakemake_env(tmp_path, monkeypatch):
    """An env as `--use-conda` makes it: `.snakemake/conda/<hash>_` with a copy of the rule's env file beside it."""
    prefix = tmp_path / ".snakemake" / "conda" / "0f3a9c_"
    prefix.mkdir(parents=True)
    Path(f"{prefix}.yaml").write_bytes((REPO / "envs" / "report.yaml").read_bytes())
    monkeypatch.setenv("CONDA_PREFIX", str(prefix))
    monkeypatch.setenv("CONDA_DEFAULT_ENV", str(prefix))
    return prefix


def test_an_env_made_from_a_rules_conda_file_is_named(snakemake_env):
    assert environment() == {
        "python": platform.python_version(),
        "prefix": sys.prefix,
        "conda_prefix": str(snakemake_env),
        "conda_default_env": str(snakemake_env),
        "conda_env_file": "envs/report.yaml",
    }


def test_an_env_file_this_checkout_does_not_ship_is_named_by_its_copy(snakemake_env):
    copy = Path(f"{snakemake_env}.yaml")
    copy.write_text(copy.read_text() + "      - extra==1.0\n")
    assert conda_env_file(str(snakemake_env)) == str(copy)


def test_without_conda_only_the_interpreter(monkeypatch, tmp_path):
    monkeypatch.delenv("CONDA_PREFIX", raising=False)
    monkeypatch.delenv("CONDA_DEFAULT_ENV", raising=False)
    assert environment() == {"python": platform.python_version(), "prefix": sys.prefix}
    assert conda_env_file(str(tmp_path / "a-conda-env-not-made-by-snakemake")) is None


def test_every_stage_logs_its_environment(snakemake_env, monkeypatch, caplog):
    ran = []
    stage = types.SimpleNamespace(add_arguments=lambda parser: None, run=ran.append)
    monkeypatch.setattr(cli, "load_stage", lambda command: stage)
    with caplog.at_level(logging.INFO, logger="bmc.cli"):
        cli.main(["report"])
    assert ran and "report in " in caplog.text and '"conda_env_file": "envs/report.yaml"' in caplog.text


def test_a_checkout_is_dirty_by_its_code_not_by_the_outputs_it_commits(tmp_path):
    from bmc.reporting.provenance import git_state

    def git(*args):
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=tmp_path, check=True,
                       capture_output=True)  # fmt: skip

    (tmp_path / "bmc").mkdir()
    (tmp_path / "results" / "smoke").mkdir(parents=True)
    (tmp_path / "bmc" / "m.py").write_text("x = 1\n")
    (tmp_path / "results" / "smoke" / "table.md").write_text("old\n")
    git("init", "-q")
    git("add", ".")
    git("commit", "-q", "-m", "c")
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "results" / "smoke" / "table.md").write_text("new\n")  # a run rewrote a committed output
    assert git_state(tmp_path)["dirty"] is False
    (tmp_path / "bmc" / "m.py").write_text("x = 2\n")
    assert git_state(tmp_path)["dirty"] is True
