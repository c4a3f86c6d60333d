"""The plan (bmc/plan/runs.py, bmc/plan/analyses.py) without Snakemake: method names, runs, paths, table and figure
members, editors and sweeps, on small hand-made configs and the shipped ones; and one dry run showing that
Snakemake schedules exactly the plan's runs and targets."""

import copy
import json
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from snakemake.utils import update_config

from bmc.alignment.methods import METHODS
from bmc.bridging.prompts import STRATEGIES
from bmc.config import AnalysisJob, SweepPairsJob, check, job_settings
from bmc.plan.analyses import (
    SETTINGS_OF,
    analysis_inputs,
    analysis_settings,
    section,
    similarity_model_dir,
    sweep_pairs_settings,
    sweep_points,
    sweep_runs,
    sweep_train_settings,
)
from bmc.plan.cluster import local_rules
from bmc.plan.runs import (
    METHOD_PATTERN,
    MethodName,
    Plan,
    format_method_name,
    parse_method_name,
    split_variant,
    variant_editors,
    variants_of,
)

from .repo_copy import REPO, SKIP

CONFIGS = REPO / "workflow" / "config"
GEN = {"backend": "transformers", "max_new_tokens": 8}
EDITOR = {"kind": "hf", "model": "base", "max_new_tokens": 8}
SMALL = {
    "scale": "smoke-plan",
    "seeds": [0, 1],
    "label": "TEST",
    "model": {"kind": "random_llama"},
    "data": {
        t: {"seed": 0, "datasets": sets, "sft_n": 2, "prefs_n": 2, "test_n": 2}
        for t, sets in (("qa", ["ECQA", "ARC"]), ("math", ["gsm8k"]))
    },
    "sft": {"learning_rate": 1e-4, "num_train_epochs": 1},
    "sample": GEN,
    "bridge": {"strategy": "targeted", "editor": EDITOR},
    "train": {
        "methods": ["DPO", "DPO-BMC", "IPO", "IPO-BMC"],
        "beta": 0.1,
        "delta": 2.0,
        "learning_rate": 1e-5,
    },
    "eval": GEN,
}


def plan_of(config: dict) -> Plan:
    return Plan(check(config), config)


def small(**changes) -> Plan:
    config = copy.deepcopy(SMALL)
    update_config(config, changes)
    return plan_of(config)


def shipped(*names: str) -> Plan:
    config: dict = {}
    for name in names:
        update_config(config, yaml.safe_load((CONFIGS / name).read_text()))
    return plan_of(config)


# ---- method names ---------------------------------------------------------------------------------------
def every_method_name():
    for base, method in METHODS.items():
        yield base
        if method.data == "bridged":
            for strategy in [*STRATEGIES, "released"]:
                yield f"{base}@{strategy}"
            yield f"{base}@inverse+Llama-3-70B-Instruct"


@pytest.mark.parametrize("name", list(every_method_name()))
def test_a_method_name_round_trips(name):
    parsed = parse_method_name(name)
    assert str(parsed) == name == format_method_name(parsed.base, parsed.strategy, parsed.editor)
    assert re.fullmatch(METHOD_PATTERN, name)


def test_a_method_name_carries_its_pairs_variant():
    assert parse_method_name("DPO-BMC") == MethodName("DPO-BMC")
    assert parse_method_name("DPO-BMC").variant("targeted") == "targeted"
    assert parse_method_name("DPO-BC@free").variant("targeted") == "free"
    editor = parse_method_name("DPO-BMC@targeted+gpt4")
    assert (editor.strategy, editor.editor, editor.variant("inverse")) == (
        "targeted",
        "gpt4",
        "targeted+gpt4",
    )
    assert split_variant("targeted+gpt4") == ("targeted", "gpt4") and split_variant("free") == ("free", None)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("dpo", r"unknown method 'dpo'; valid methods: .*DPO-BMC"),
        ("XPO@inverse", r"unknown method 'XPO@inverse'"),
        ("DPO-BMC@rewrite", r"unknown bridging strategy in 'DPO-BMC@rewrite'; expected one of .*'released'"),
        ("DPO-BMC@", "unknown bridging strategy"),
        ("DPO-BMC@+gpt4", "unknown bridging strategy"),
        ("DPO-BMC@released+gpt4", "released pairs come with their own editor"),
        ("DPO-BMC@targeted+gpt 4", r"editor name in 'DPO-BMC@targeted\+gpt 4' must be letters"),
        ("DPO-BMC@targeted+", "editor name"),
        ("DPO-MC@inverse", r"DPO-MC trains on the original pairs, so it takes no bridging strategy"),
        ("DPO@released", "DPO trains on the original pairs"),
    ],
)
def test_a_bad_method_name_is_refused_saying_why(name, message):
    with pytest.raises(ValueError, match=message):
        parse_method_name(name)


def test_an_editor_needs_its_strategy():
    with pytest.raises(ValueError, match="needs the bridging strategy"):
        format_method_name("DPO-BMC", editor="gpt4")


# ---- runs and paths --------------------------------------------------------------------------------------
def test_runs_and_paths_of_a_small_config():
    plan = small()
    assert plan.tasks == ["qa", "math"] and plan.seeds == ["0", "1"]
    assert plan.runs() == [(t, m, s) for t in ("qa", "math") for m in SMALL["train"]["methods"] for s in "01"]
    assert plan.eval_runs("qa")[:2] == [("SFT", "0"), ("DPO", "0")]
    assert plan.model_dir("qa", "SFT", "1") == "results/smoke-plan/models/sft_qa"
    assert plan.model_dir("qa", "DPO", "1") == "results/smoke-plan/models/qa/DPO/seed1"
    assert plan.training_pairs("qa", "DPO") == "results/smoke-plan/pairs/qa/pairs.jsonl"
    assert plan.training_pairs("qa", "IPO-BMC") == "results/smoke-plan/bridged/qa/targeted/pairs.jsonl"
    assert (
        plan.training_pairs("qa", "DPO-BMC@inverse+x")
        == "results/smoke-plan/bridged/qa/inverse+x/pairs.jsonl"
    )
    assert plan.task_scores("math") == [
        f"results/smoke-plan/scores/math/{m}/seed{s}/gsm8k/scores.json" for m, s in plan.eval_runs("math")
    ]
    assert plan.data_input("qa") == "workflow/resources/data/qa"
    assert plan.final_outputs()[-1] == "results/smoke-plan/report/index.html"


def test_a_task_can_train_fewer_methods():
    plan = small(
        task_overrides={"math": {"train": {"methods": ["DPO", "DPO-BMC"]}}}, table3_strategies=["inverse"]
    )
    assert (
        plan.task_methods("math") == ["DPO", "DPO-BMC"]
        and plan.task_methods("qa") == SMALL["train"]["methods"]
    )
    trained = {(t, m) for t, m, _ in plan.runs()}
    # Table 3's DPO-BMC@inverse runs on every task
    assert {m for t, m in trained if t == "math"} == {"DPO", "DPO-BMC", "DPO-BMC@inverse"}
    assert plan.table5_variants("math") == ["DPO"] and plan.table5_variants("qa") == ["DPO", "IPO"]


def test_task_settings_put_overrides_on_top_and_leave_the_method_list_out():
    plan = small(
        task_overrides={"math": {"train": {"delta": 5.0}}},
        prompt_formats={"math": "chat_template"},
    )
    math, qa = plan.task_settings("train", "math"), plan.task_settings("train", "qa")
    assert math["delta"] == 5.0 and qa["delta"] == 2.0 and "methods" not in math
    assert math["prompt_format"] == "chat_template" and "prompt_format" not in qa
    assert "prompt_format" not in plan.task_settings("bridge", "math")
    assert list(qa) == [
        "beta",
        "delta",
        "learning_rate",
    ]  # the config's own order: the jobs' parameters keep it


def test_given_sft_models_and_given_pairs_split_the_tasks():
    plan = small(sft_models={"math": {"kind": "random_llama"}, "if": {"kind": "random_llama"}})
    assert plan.given_sft_models == {"math": {"kind": "random_llama"}} and plan.trained_sft_tasks == ["qa"]
    assert plan.sampled_pair_tasks == ["qa", "math"] and plan.given_pair_tasks == []
    paper = shipped("paper.yaml")
    assert paper.given_pair_tasks == ["if"] and list(paper.given_sft_models) == ["if"]


# ---- tables, editors and the report ----------------------------------------------------------------------
def test_tables_of_a_small_config():
    plan = small()
    names = [Path(p).name for p in plan.tables()]
    assert names == [
        f"{n}.{e}" for n in ("table1_qa", "table1_math", "table5_qa", "table5_math") for e in ("csv", "md")
    ]
    plan = small(
        table3_strategies=["targeted", "free"], table4_editors={"a": EDITOR, "b": {**EDITOR, "model": "m"}}
    )
    assert {"table3.md", "table4.md"} <= {Path(p).name for p in plan.tables()}
    assert plan.table3_methods == ["DPO-BMC@free"]
    # an editor equal to bridge.editor is plain DPO-BMC
    assert plan.table4_methods == {"a": "DPO-BMC", "b": "DPO-BMC@targeted+b"}
    assert plan.table3_scores() == [
        f"results/smoke-plan/scores/{t}/{m}/seed{s}/{d}/scores.json"
        for t, sets in (("qa", ["ECQA", "ARC"]), ("math", ["gsm8k"]))
        for m in ("DPO-BMC", "DPO-BMC@free")
        for s in "01"
        for d in sets
    ]
    assert {p.split("/")[4] for p in plan.table4_scores()} == {"DPO-BMC", "DPO-BMC@targeted+b"}
    assert plan.bridged_variants("qa") == ["targeted", "free", "targeted+b"]
    assert "results/smoke-plan/bridged/math/targeted+b/summary.json" in plan.summaries()


def test_tables_3_and_4_run_on_their_tasks_only():
    plan = small(
        table3_strategies=["targeted", "free"],
        table3_tasks=["math"],
        table4_editors={"a": EDITOR, "b": {**EDITOR, "model": "m"}},
        table4_tasks=["qa", "if"],  # a task the config does not run is left out
        train={"methods": ["DPO", "IPO"]},
    )
    assert (plan.table3_tasks, plan.table4_tasks) == (["math"], ["qa"])
    assert [(t, m) for t, m, s in plan.runs() if s == "0" and "BMC" in m] == [
        ("qa", "DPO-BMC"),  # the editor equal to bridge.editor: DPO-BMC on the config's pairs
        ("qa", "DPO-BMC@targeted+b"),
        ("math", "DPO-BMC"),  # Table 3's row of the config's strategy
        ("math", "DPO-BMC@free"),
    ]
    assert {p.split("/")[3] for p in plan.table3_scores()} == {"math"}
    assert {p.split("/")[3] for p in plan.table4_scores()} == {"qa"}
    assert plan.column_sets(plan.table3_tasks) == ["gsm8k"]
    assert plan.bridged_variants("qa") == ["targeted", "targeted+b"]
    assert plan.bridged_variants("math") == ["targeted", "free"]
    # without a task of its own a table is not made, nor its runs
    alone = small(table3_strategies=["targeted", "free"], table3_tasks=["if"])
    assert alone.table3_tasks == [] and "table3" not in " ".join(alone.tables())
    assert not any("@" in m for _, m, _ in alone.runs())


def test_each_table_reads_the_bridging_summary_of_every_row_trained_on_bridged_pairs():
    plan = small(
        table3_strategies=["targeted", "free"],
        table3_tasks=["math"],
        table4_editors={"a": EDITOR, "b": {**EDITOR, "model": "m"}},
        table4_tasks=["qa"],
        train={"methods": ["DPO", "DPO-BC", "DPO-MC", "DPO-BMC", "IPO", "IPO-BMC"]},
    )
    bridged = "results/smoke-plan/bridged"
    # SFT, DPO, DPO-MC and IPO train on the original pairs: no summary
    assert plan.task_bridging("qa") == {
        f"qa:{m}": f"{bridged}/qa/targeted/summary.json" for m in ("DPO-BC", "DPO-BMC", "IPO-BMC")
    }
    assert plan.table3_bridging() == {
        "math:DPO-BMC": f"{bridged}/math/targeted/summary.json",
        "math:DPO-BMC@free": f"{bridged}/math/free/summary.json",
    }
    assert plan.table4_bridging() == {
        "qa:DPO-BMC": f"{bridged}/qa/targeted/summary.json",
        "qa:DPO-BMC@targeted+b": f"{bridged}/qa/targeted+b/summary.json",
    }
    # each is the summary of the pairs file the run trains on
    for key, path in {**plan.task_bridging("qa"), **plan.table3_bridging(), **plan.table4_bridging()}.items():
        task, method = key.split(":")
        assert Path(path).parent == Path(plan.training_pairs(task, method)).parent
    released = shipped("paper.yaml").table3_bridging()
    assert released["qa:DPO-BMC@released"] == "results/paper/bridged/qa/released/summary.json"


def test_editors_resolve_by_name_and_extra_models_by_folder():
    plan = shipped("smoke.yaml")
    assert plan.table4_methods == {"standin": "DPO-BMC", "random_b": "DPO-BMC@targeted+random_b"}
    assert plan.editor_config("inverse") == plan.config["bridge"]["editor"]
    assert plan.editor_config("targeted+random_b")["model"] == "results/smoke/models/editors/random_b"
    assert plan.editor_models_needed("targeted+random_b") == ["results/smoke/models/editors/random_b"]
    assert plan.editor_models_needed("targeted") == []
    settings = plan.bridge_settings("inverse+random_b")
    assert settings["strategy"] == "inverse" and settings["editor"]["model"].endswith("editors/random_b")
    assert plan.bridge_template("math", "inverse+random_b") == "bmc/bridging/templates/math/inverse_v1.txt"
    with pytest.raises(
        ValueError, match=r"editor 'gpt4' is not in the config's table4_editors \['random_b', 'standin'\]"
    ):
        plan.editor_config("targeted+gpt4")
    with pytest.raises(ValueError, match=r"'editor:nope' names no entry of the config's editor_models"):
        plan.editor_model_dir("editor:nope")
    # smoke's Table 4 editor "standin" is its bridge.editor: it makes no pairs of its own
    assert list(variant_editors(plan.config)) == [None, "random_b"]
    assert variant_editors({"train": {}}) == {}


def test_variants_of_some_editors_match_whole_variants_only():
    variants = ["targeted", "free", "targeted+gpt-4", "targeted+gpt-4o", "inverse+other"]
    assert [v for v in variants if re.match(variants_of([None, "gpt-4"]), v)] == variants[:3]
    assert [v for v in variants if re.match(variants_of(["gpt-4"]), v)] == ["targeted+gpt-4"]
    assert [v for v in variants if re.match(variants_of([]), v)] == []


def test_mini_table4_adds_one_editor_model_and_one_training_per_task():
    plan = shipped("mini.yaml", "mini_table4.yaml")
    # the SmolLM2 editor is mini's own bridge.editor, so its row is plain DPO-BMC
    assert plan.table4_methods == {"smollm2_135m": "DPO-BMC", "gemma3_270m": "DPO-BMC@targeted+gemma3_270m"}
    assert sorted((t, m) for t, m, _ in plan.runs() if "@" in m) == [
        ("math", "DPO-BMC@targeted+gemma3_270m"),
        ("qa", "DPO-BMC@targeted+gemma3_270m"),
    ]
    assert plan.editor_models_needed("targeted+gemma3_270m") == ["results/mini/models/editors/gemma3_270m"]
    # the report shows each editor's bridging summary
    for task in plan.tasks:
        for variant in ("targeted", "targeted+gemma3_270m"):
            assert f"results/mini/bridged/{task}/{variant}/summary.json" in plan.summaries()


def test_paper_table3_trains_on_the_released_pairs():
    plan = shipped("paper.yaml")
    assert plan.table3_methods == [
        "DPO-BMC@released",
        "DPO-BMC@targeted_no_ref",
        "DPO-BMC@inverse",
        "DPO-BMC@free",
    ]
    for task in ("qa", "math", "if"):
        assert (
            plan.training_pairs(task, "DPO-BMC@released")
            == f"results/paper/bridged/{task}/released/pairs.jsonl"
        )
    assert "results/paper/scores/math/DPO-BMC@released/seed2/tabmwp/scores.json" in plan.table3_scores()
    assert plan.table4_methods == {
        "gpt-4-0125-preview": "DPO-BMC",
        "Llama-3-70B-Instruct": "DPO-BMC@targeted+Llama-3-70B-Instruct",
    }
    assert plan.data_input("math") == "resources/bmc-release"
    # AlpacaEval's baseline is a method's answers; Arena-Hard's reference ships with the test set
    assert plan.judge_baseline("arena_hard") is None


def test_paper_mistral_is_instruction_following_only():
    plan = shipped("paper.yaml", "paper_mistral.yaml")
    assert plan.tasks == ["if"] and plan.results == "results/paper-mistral"
    assert [Path(p).name for p in plan.tables()] == [
        "table2.csv",
        "table2.md",
        "table5_if.csv",
        "table5_if.md",
    ]
    assert plan.table3_methods == [] and plan.table4_methods == {}
    # paper.yaml's analyses of QA and math have nothing to read here: only those of this run's pairs and models
    assert plan.analyses() == ["token_dynamics", "bridging_cost"]
    assert all(analysis_inputs(plan, name) for name in plan.analyses())


def test_a_run_name_gives_the_run_its_own_folders_beside_the_scales():
    plan = small(run="own-sft")
    assert plan.results == "results/own-sft" and plan.logs == "logs/own-sft"
    assert plan.model_dir("qa", "DPO", "0") == "results/own-sft/models/qa/DPO/seed0"
    assert plan.final_outputs()[-1] == "results/own-sft/report/index.html"
    assert (small().results, small().logs) == ("results/smoke-plan", "logs/smoke-plan")


@pytest.mark.parametrize(
    "names",
    [
        ("smoke.yaml",),
        ("mini.yaml",),
        ("mini.yaml", "all_methods.yaml", "table3.yaml", "mini_table4.yaml", "mini_sweeps.yaml"),
        ("paper.yaml",),
        ("paper.yaml", "paper_mistral.yaml"),
        ("paper.yaml", "paper_rehearsal.yaml"),
    ],
)
def test_every_shipped_config_keeps_its_folders(names):
    """No shipped config names its run: each writes where it did before runs had names, results/<scale>."""
    plan = shipped(*names)
    scale = yaml.safe_load((CONFIGS / names[-1]).read_text()).get("scale") or plan.settings.scale
    assert plan.settings.run is None and plan.settings.scale == scale
    assert (plan.results, plan.logs) == (f"results/{scale}", f"logs/{scale}")


def test_generation_records_cover_every_answer_behind_the_tables():
    plan = shipped("smoke.yaml")
    records = plan.generation_records()
    assert len(records) == len(set(records))
    assert (
        "results/smoke/generations/if/DPO-BMC@targeted+random_b/seed0/alpaca_eval.jsonl.meta.json" in records
    )
    assert "results/smoke/generations/if/SFT/seed0/arena_hard.jsonl.meta.json" in records
    assert records[-3:] == [f"results/smoke/pairs/{t}/samples.jsonl.meta.json" for t in ("qa", "math", "if")]


# ---- analyses and sweeps -----------------------------------------------------------------------------------
def test_sweep_points_reuse_the_main_runs_they_equal():
    plan = shipped("smoke.yaml")
    assert sweep_points(plan, "proportion", "qa") == {"0": "DPO-MC", "0.5": None, "1": "DPO-BMC"}
    assert sweep_points(plan, "delta", "qa") == {"1": None, "3": "DPO-BMC"}  # smoke's δ is 3.0
    assert sweep_points(plan, "diff", "qa") == {"difflib": "DPO-BMC", "levenshtein": None}
    assert sweep_points(plan, "edit_distance_DPO", "qa") == {"0": None, "1": None}
    assert len(sweep_runs(plan)) == 7  # smoke.yaml: "7 small trainings in all"
    # another δ for the task: no point equals the main DPO-BMC any more
    other = plan_of({**plan.config, "task_overrides": {"qa": {"train": {"delta": 2.0}}}})
    assert sweep_points(other, "delta", "qa") == {"1": None, "3": None}
    assert sweep_train_settings(other, "qa", "delta", "3")["delta"] == 3.0
    assert sweep_train_settings(other, "qa", "edit_distance_DPO-BMC", "0")["max_steps"] == 1


def test_analysis_inputs_name_the_runs_they_read():
    plan = shipped("smoke.yaml")
    token = dict(analysis_inputs(plan, "token_dynamics"))
    assert token["DPO-BMC:math"] == "results/smoke/models/math/DPO-BMC/seed0" and len(token) == 6
    fig3 = analysis_inputs(plan, "fig3_bridged_proportion")
    assert ("score:qa:proportion:0.5", "results/smoke/sweeps/qa/proportion/0.5/seed0/scores") in fig3
    assert ("score:qa:proportion:1", "results/smoke/scores/qa/DPO-BMC/seed0/ECQA/scores.json") in fig3
    sec31 = analysis_inputs(plan, "sec31_similarity")
    assert sec31[0] == ("embedder", "results/smoke/models/similarity_model")
    assert ("pairs:qa", "results/smoke/bridged/qa/targeted/pairs.jsonl") in sec31
    settings = analysis_settings(plan, "sec31_similarity")
    assert settings["similarity_model"]["name"] == "all-MiniLM-L6-v2" and "download_cache" not in settings
    costs = [p for _, p in analysis_inputs(plan, "bridging_cost")]
    assert costs == [s for s in plan.summaries() if "/bridged/" in s]
    # at paper scale the authors' released pairs (Table 3) are no bridging of the suite's: no cost to count
    paper = [p for _, p in analysis_inputs(shipped("paper.yaml"), "bridging_cost")]
    assert paper and not [p for p in paper if "/released/" in p]
    assert "results/paper/bridged/qa/targeted+Llama-3-70B-Instruct/summary.json" in paper
    with pytest.raises(ValueError, match="unknown analysis 'fig9'"):
        analysis_inputs(plan, "fig9")
    assert small().analyses() == [] and small().figures() == []


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.yaml")))
def test_every_analysis_and_sweep_job_of_a_shipped_config_gets_settings_its_stage_accepts(name):
    base = "paper.yaml" if name.startswith("paper_") else "mini.yaml"
    plan = shipped(name) if name in ("smoke.yaml", "mini.yaml", "paper.yaml") else shipped(base, name)
    for analysis in plan.settings.analysis.names if plan.settings.analysis else []:
        settings = job_settings(AnalysisJob, json.dumps(analysis_settings(plan, analysis)), "analysis")
        if "tasks" in SETTINGS_OF.get(analysis, ()):
            assert all(settings.task(t).beta == plan.task_settings("train", t)["beta"] for t in plan.tasks)
    assert job_settings(SweepPairsJob, json.dumps(sweep_pairs_settings(plan)), "sweep_pairs").bins >= 1


def test_each_analysis_gets_exactly_the_settings_its_module_reads():
    """A setting read but not handed over would silently take its default; one handed over but not read
    would re-run the analysis whenever it changes."""
    from bmc.analysis import ANALYSES

    for name in ANALYSES:
        source = (REPO / "bmc" / "analysis" / f"{name}.py").read_text()
        read = set(re.findall(r"\bsettings\.(\w+)", source))
        read = {"tasks" if key == "task" else key for key in read}
        assert read == set(SETTINGS_OF.get(name, ())), name
    plan = shipped("mini.yaml", "mini_sweeps.yaml")
    assert analysis_settings(plan, "fig3_bridged_proportion") == {}
    assert set(analysis_settings(plan, "sec53_reward")) == {"tasks"} | ({"max_pairs"} & set(section(plan)))


# ---- Snakemake schedules the plan --------------------------------------------------------------------------
def dry_run_text(work: Path, *configs: str) -> str:
    """What a dry run prints, with each job's shell command (every job: the copy has no results)."""
    cmd = [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "1", "--configfile", *configs]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, cwd=work, capture_output=True, text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    return proc.stdout


def scheduled(text: str) -> dict[str, set[str]]:
    """rule -> the outputs of its jobs in a dry run's text."""
    jobs: dict[str, set[str]] = {}
    for rule, block in re.findall(r"^(?:local)?rule (\w+):\n((?:    .*\n)+)", text, re.M):
        outputs = re.search(r"^    output: (.*)$", block, re.M)
        inputs = re.search(r"^    input: (.*)$", block, re.M)
        found = (outputs or inputs).group(1).split(", ") if (outputs or inputs) else []
        jobs.setdefault(rule, set()).update(found)
    return jobs


def shell_commands(text: str) -> dict[str, list[str]]:
    """rule -> the shell commands of its jobs in a dry run's text."""
    commands: dict[str, list[str]] = {}
    for rule, command in re.findall(r"^(?:local)?rule (\w+):\n(?:    .*\n)+Shell command: (.*)$", text, re.M):
        commands.setdefault(rule, []).append(command)
    return commands


@pytest.fixture(scope="module")
def plan_copy(tmp_path_factory) -> Path:
    """A copy of the repository to run Snakemake in."""
    work = tmp_path_factory.mktemp("plan") / "repo"
    shutil.copytree(REPO, work, ignore=SKIP)
    return work


@pytest.fixture(scope="module")
def dry_run_of(plan_copy):
    """A dry run's text (`dry_run_text`) of shipped configs, in a copy of the repository; each run once."""
    return cache(lambda *names: dry_run_text(plan_copy, *(str(CONFIGS / n) for n in names)))


def test_a_named_run_keeps_its_outputs_logs_and_benchmarks_in_folders_of_its_own(plan_copy):
    text = dry_run_text(plan_copy, str(CONFIGS / "smoke.yaml"), "--config", "run=own-run", 'tasks=["qa"]')
    folders = set(re.findall(r"\b(results|logs)/([A-Za-z0-9_.-]+)/", text))
    assert folders == {("results", "own-run"), ("logs", "own-run")}
    assert re.search(r"^    benchmark: results/own-run/benchmarks/", text, flags=re.M)


@pytest.fixture(scope="module")
def dry_run(dry_run_of):
    """The jobs of a dry run of shipped configs (`scheduled`)."""
    return lambda *names: scheduled(dry_run_of(*names))


@pytest.mark.parametrize("names", [("smoke.yaml",), ("paper.yaml",), ("mini.yaml", "mini_table4.yaml")])
def test_snakemake_schedules_the_plans_runs_and_targets(dry_run, names):
    jobs = dry_run(*names)
    plan = shipped(*names)
    assert jobs["all"] == set(plan.final_outputs())  # `all` has no output: its inputs
    assert jobs["train"] == {plan.model_dir(t, m, s) for t, m, s in plan.runs()}
    bridged = jobs.get("bridge", set()) | jobs.get("bridge_served", set()) | jobs.get("released_pairs", set())
    files = ("pairs.jsonl", "summary.json")
    variants = {(t, v) for t in plan.tasks for v in plan.bridged_variants(t)}
    assert bridged == {plan.bridged(t, v, f) for t, v in variants for f in files}
    editors = {m for _, v in variants for m in plan.editor_models_needed(v)}
    assert jobs.get("editor_model", set()) == editors
    generated = {
        p for r in ("generate_qa", "generate_math", "generate_if") for p in jobs.get(r, ()) if p.endswith("l")
    }
    evaluated = [(t, "SFT", plan.first_seed) for t in plan.tasks] + plan.runs()
    assert generated == {plan.generations(t, m, s, d) for t, m, s in evaluated for d in plan.datasets[t]}
    sweeps = {
        f"{plan.results}/sweeps/{t}/{w}/{p}/seed{plan.first_seed}/model" for t, w, p in sweep_runs(plan)
    }
    assert jobs.get("sweep_train", set()) == sweeps
    # §3.1's embedder comes from a download rule, which runs where Snakemake runs on a cluster (paper scale)
    embedder = {similarity_model_dir(plan)} if "sec31_similarity" in plan.analyses() else set()
    assert jobs.get("similarity_model", set()) == embedder
    if plan.config.get("cluster"):
        assert embedder and "similarity_model" in local_rules(plan.config)


@pytest.mark.parametrize("names", [("smoke.yaml",), ("paper.yaml",)])
def test_sweeps_grade_the_released_rule_with_the_code_the_evaluate_rule_uses(dry_run_of, names):
    """Every evaluate command, a main run's or a sweep point's, passes `--release` exactly where the plan grades
    the task's released rule with the release's code (paper scale: QA and math), and nowhere else."""
    plan = shipped(*names)
    shells = shell_commands(dry_run_of(*names))
    graded = {
        rule: [c for shell in shells.get(rule, []) for c in shell.split(" && ") if "bmc.cli evaluate" in c]
        for rule in ("evaluate", "sweep_score")
    }
    assert graded["evaluate"] and graded["sweep_score"]
    released = set()
    for command in graded["evaluate"] + graded["sweep_score"]:
        task = re.search(r"--task (\w+)", command).group(1)
        flags = re.findall(r"--release (\S+)", command.split(")")[0])
        assert flags == plan.grading_release(task), command
        released.add(bool(flags))
    assert released == ({True} if names == ("paper.yaml",) else {False})


# rules of the paper scale only: the authors' release and its pairs, a given SFT model and given pairs (bridgings by
# an editor the job serves itself, `bridge_served`, run at both: smoke serves its stand-in editor)
PAPER_ONLY = {"release", "released_pairs", "sft_given", "given_pairs", "arena_hard_judge"}


def test_smoke_runs_every_rule_and_trains_every_method_on_one_task(dry_run):
    """The smoke DAG (CI runs it end to end) is complete, and short: a method trains on one task, but DPO and
    DPO-BMC, the rows every table compares, on each."""
    text = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    rules = {a or b for a, b in re.findall(r"^(?:rule (\w+):|use rule \w+ as (\w+) with:)", text, re.M)}
    jobs = dry_run("smoke.yaml")
    assert set(jobs) == rules - PAPER_ONLY | {"all"}
    assert PAPER_ONLY <= set(dry_run("paper.yaml"))
    trained = [Path(model).parts[-3:-1] for model in jobs["train"]]  # .../models/<task>/<method>/seed<s>
    tasks = {method: sorted(t for t, m in trained if m == method) for method in METHODS}
    assert tasks.pop("DPO") == tasks.pop("DPO-BMC") == ["if", "math", "qa"]
    assert all(len(on) == 1 for on in tasks.values()), tasks
