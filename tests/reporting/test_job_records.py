"""Every output records the code that made it and the own model folders it read; `bmc status` and the report list
the outputs made by other code or from changed inputs, with the `--forcerun` that remakes them."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bmc.io import write_json
from bmc.reporting.job_records import SUFFIX, Current, job_outputs, jobs, status_lines, write_records
from bmc.reporting.provenance import PACKAGE, code_files, file_hash
from bmc.reporting.report import stale_section

REPO = PACKAGE.parent


def evaluate(run: Path, dataset: str = "ARC") -> Path:
    """One evaluate job of a run's folder, through the `bmc` command as a rule runs it."""
    gens = run / "generations" / f"{dataset}.jsonl"
    gens.parent.mkdir(parents=True, exist_ok=True)
    rows = [{"id": "a", "dataset": dataset, "prompt": "p", "response": "The answer is b", "answer": "b"}]
    gens.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = run / "scores" / dataset / "scores.json"
    # in a process of its own, as a rule runs it: the record names the modules this job loaded, no others
    subprocess.run([sys.executable, "-m", "bmc.cli", "evaluate", "--generations", str(gens), "--out", str(out)]
                   + ["--model-name", "m", "--method", "DPO", "--seed", "0", "--task", "qa", "--dataset", dataset],
                   check=True, capture_output=True, cwd=REPO)  # fmt: skip
    return out


def package_copy(tmp_path: Path) -> Path:
    """A copy of the repository's package, to change files in."""
    root = tmp_path / "repo"
    shutil.copytree(PACKAGE, root / "bmc", ignore=shutil.ignore_patterns("__pycache__"))
    return root


def test_a_job_records_its_command_and_the_code_it_loaded_beside_its_output(tmp_path, monkeypatch):
    monkeypatch.setenv("BMC_RUN_OPTIONS", "--configfile workflow/config/smoke.yaml")
    out = evaluate(tmp_path / "results" / "smoke")
    record = json.loads(Path(f"{out}{SUFFIX}").read_text())
    assert record["stage"] == "evaluate" and record["command"][:2] == ["bmc", "evaluate"]
    assert record["outputs"] == [str(out)] and record["inputs"] == {}
    assert record["run_options"] == "--configfile workflow/config/smoke.yaml"
    files = record["code"]["files"]
    # the stage, the grader it ran and the data files beside them; not a module it never imported
    assert files["bmc/stages/evaluate.py"] == file_hash(PACKAGE / "stages/evaluate.py")
    assert "bmc/evaluation/qa.py" in files and "bmc/alignment/trainer.py" not in files
    assert record["code"]["bmc"] and "commit" in record["code"] and "dirty" in record["code"]


def test_the_hash_of_a_module_ignores_comments_docstrings_and_layout(tmp_path):
    a, b, c = tmp_path / "a.py", tmp_path / "b.py", tmp_path / "c.py"
    a.write_text('"""Doc."""\n\ndef f(x):\n    """What f does."""\n    return x + 1  # one more\n')
    b.write_text("def f(x):\n\n    return (x +\n            1)\n")
    c.write_text("def f(x):\n    return x + 2\n")
    assert file_hash(a) == file_hash(b) != file_hash(c)
    data = tmp_path / "t.txt"
    data.write_text("x")
    before = file_hash(data)
    data.write_text("x ")
    assert file_hash(data) != before


def test_outputs_are_the_out_and_summary_arguments():
    args = argparse.Namespace(
        out=["a.jsonl", "b.jsonl"], summary="s.json", out_md="t.md", model="m", data="d"
    )
    assert job_outputs(args) == ["a.jsonl", "b.jsonl", "s.json", "t.md"]


def test_status_names_the_changed_file_and_the_rules_that_remake_its_outputs(tmp_path, monkeypatch):
    monkeypatch.setenv("BMC_RUN_OPTIONS", "--configfile workflow/config/smoke.yaml --config 'tasks=[\"qa\"]'")
    run = tmp_path / "results" / "smoke"
    out = evaluate(run)
    evaluate(run, "ECQA")
    root = package_copy(tmp_path)
    assert status_lines(run, Current(root)) == [f"{run}: 2 outputs of 2 recorded jobs, all current"]
    grader = root / "bmc/evaluation/qa.py"
    grader.write_text(grader.read_text() + "\n# a comment changes nothing\n")
    assert status_lines(run, Current(root))[0].endswith("all current")
    grader.write_text(grader.read_text() + "\nX = 1\n")
    lines = status_lines(run, Current(root))
    assert lines[0] == f"{run}: 2 outputs of 2 recorded jobs; 2 outputs of 2 jobs are stale:"
    assert lines[1] == "  evaluate (2 jobs), made by other code: bmc/evaluation/qa.py"
    assert sorted(lines[2:4]) == sorted([f"    {out}", f"    {run}/scores/ECQA/scores.json"])
    assert lines[4] == (
        "  remake them: snakemake --cores all --configfile workflow/config/smoke.yaml --config 'tasks=[\"qa\"]'"
        " --forcerun evaluate sweep_score"
    )
    # an output that is gone is not listed: Snakemake makes it anyway
    out.unlink()
    assert len(jobs(run, Current(root))) == 1


def test_a_changed_own_model_folder_makes_its_outputs_stale(tmp_path, monkeypatch):
    monkeypatch.delenv("BMC_RUN_OPTIONS", raising=False)
    own = tmp_path / "my-sft"
    own.mkdir()
    (own / "config.json").write_text('{"hidden_size": 64}')
    (own / "model.safetensors").write_bytes(b"\0" * 1024)
    run = tmp_path / "results" / "mine"
    out = run / "models" / "sft_qa"
    out.mkdir(parents=True)
    params = json.dumps({"kind": "hub", "name": str(own)})
    args = argparse.Namespace(out=str(out), params=params, cache=None)
    write_records("model", ["sft_given", "--out", str(out), "--params", params], args)
    record = json.loads(Path(f"{out}{SUFFIX}").read_text())
    assert list(record["inputs"]) == [str(own.resolve())]
    assert status_lines(run)[0].endswith("all current")
    (own / "model.safetensors").write_bytes(b"\1" * 1024)
    lines = status_lines(run)
    assert lines[1] == f"  model (1 job), from changed inputs: {own.resolve()} changed since"
    assert lines[-1] == (
        f"  remake them: snakemake --cores all <the run's --configfile and --config options> --forcerun {out}"
    )


def test_only_the_first_process_of_a_job_writes(tmp_path, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    out = tmp_path / "model"
    write_records("train", ["train"], argparse.Namespace(out=str(out), params=None))
    assert not Path(f"{out}{SUFFIX}").exists()


def test_the_report_lists_stale_outputs(tmp_path):
    run = tmp_path / "results" / "smoke"
    out = run / "tables" / "table1_qa.csv"
    out.parent.mkdir(parents=True)
    out.write_text("x")
    files = code_files()
    some = next(iter(files))
    record = {"job": "j", "stage": "table", "command": ["bmc", "table1"], "outputs": [str(out)], "inputs": {}}
    record |= {"code": {"files": {**files, some: "0" * 16}}, "finished": "2025-01-01T00:00:00+00:00"}
    write_json(f"{out}{SUFFIX}", record)
    lines = stale_section(str(run))
    assert lines[0] == "### Outputs made by other code or from changed inputs"
    text = "\n".join(lines)
    assert f"\ntable (1 job), made by other code: {some}\n  {out}\n" in text
    assert "--forcerun table1 table2 table3 table4 table5\n```" in text


def test_status_command(tmp_path):
    run = tmp_path / "results" / "smoke"
    evaluate(run)
    cmd = [sys.executable, "-m", "bmc.cli", "status", "--results", str(tmp_path / "results")]
    proc = subprocess.run([*cmd, "--check"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 0 and proc.stdout.strip() == f"{run}: 1 output of 1 recorded job, all current"
    proc = subprocess.run([*cmd, "nope"], capture_output=True, text=True, cwd=REPO)
    assert proc.returncode == 1 and f"no run folder {tmp_path}/results/nope" in proc.stderr


@pytest.mark.parametrize("name", ["mini", "smoke"])
def test_a_run_without_records_says_so(tmp_path, name):
    (tmp_path / name / "tables").mkdir(parents=True)
    assert status_lines(tmp_path / name) == [f"{tmp_path / name}: no job records"]
