"""scripts/readme_runtimes.py: the README's runtime table is summed from benchmark files, per rule and task."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from readme_runtimes import job_task, replace_block, runtime_table  # noqa: E402

HEADER = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"


def bench(root: Path, rel: str, seconds: float) -> None:
    path = root / f"{rel}.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(HEADER + f"{seconds}\t0:00:00\t100\t1\t1\t1\t0\t0\t0\t1\n")


def test_jobs_are_summed_per_rule_and_task(tmp_path):
    bench(tmp_path, "sft/qa", 120)
    bench(tmp_path, "sft/math", 300)
    bench(tmp_path, "generate_math/SFT/seed0", 60)
    bench(tmp_path, "generate_math/DPO/seed0", 90)
    bench(tmp_path, "base_model", 30)
    lines = runtime_table(tmp_path)
    assert lines[0] == "| rule | qa | math | all |"
    assert "| sft | 2.0 min (1) | 5.0 min (1) |  |" in lines
    assert "| generate_math |  | 2.5 min (2) |  |" in lines
    assert lines[-1] == "| **total** | **2 min** (1) | **8 min** (3) | **0 min** (1) |"


def test_a_task_comes_from_a_folder_or_the_rule_suffix():
    assert job_task("evaluate", "qa/SFT/seed0/ARC") == "qa"
    assert job_task("generate_math", "DPO/seed0") == "math"
    assert job_task("report", "-") == "all"


def test_the_block_is_replaced_and_a_missing_block_is_named():
    text = "a\n<!-- runtimes:mini -->\nold\n<!-- /runtimes:mini -->\nb\n"
    assert (
        replace_block(text, "mini", ["new"]) == "a\n<!-- runtimes:mini -->\nnew\n<!-- /runtimes:mini -->\nb\n"
    )
    with pytest.raises(SystemExit, match="runtimes:paper"):
        replace_block(text, "paper", ["new"])


def test_check_fails_when_the_readme_is_stale(tmp_path):
    bench(tmp_path / "results/mini/benchmarks", "sft/qa", 60)
    readme = tmp_path / "README.md"
    readme.write_text("<!-- runtimes:mini -->\n<!-- /runtimes:mini -->\n")
    script = [sys.executable, str(ROOT / "scripts/readme_runtimes.py"), "--scale", "mini"]
    args = ["--results", str(tmp_path / "results"), "--readme", str(readme)]
    env = {"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}
    assert subprocess.run([*script, *args, "--check"], env=env).returncode == 1
    assert subprocess.run([*script, *args], env=env).returncode == 0
    assert subprocess.run([*script, *args, "--check"], env=env).returncode == 0
    assert "| sft | 1.0 min (1) |" in readme.read_text()
