"""The `bmc` command: one command per stage, named after its rule (a rule's name and the old names run it too),
help from each stage's docstring, `--version`, errors as one line (the traceback with --debug), `--params @file`,
and the tools `bmc plan` and `bmc status`. It starts fast: it imports the entry module of the stage that runs
only, and no entry module loads a heavy library before its stage runs."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from bmc import __version__
from bmc.cli import OLD_NAMES, STAGES, command_of, main, summary
from bmc.plan.cost import merged_config
from bmc.stages import RULES

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "trl", "vllm", "datasets", "pandas", "matplotlib"]
SMOKE = yaml.safe_load((REPO / "workflow/config/smoke.yaml").read_text())


def python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def bmc(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "bmc.cli", *args], capture_output=True, text=True, env=env)


def test_the_cli_imports_the_entry_module_of_the_stage_that_runs_only():
    code = (
        "import json, sys\nfrom bmc.cli import main\ntry:\n    main(['evaluate', '--help'])\n"
        "except SystemExit:\n    pass\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('bmc.stages.'))))"
    )
    assert json.loads(python(code)) == ["bmc.stages.evaluate"]


def test_no_entry_module_imports_a_heavy_library_before_its_stage_runs():
    code = (
        f"import importlib, json, sys\nimport bmc.cli as cli\nfor module in cli.STAGES.values():\n"
        f"    importlib.import_module(module)\nprint(json.dumps(sorted(set({HEAVY!r}) & set(sys.modules))))"
    )
    assert json.loads(python(code)) == []


def rule_commands() -> dict[str, set[str]]:
    """Each rule of workflow/rules/*.smk -> the `bmc.cli` commands its shell runs (a `use rule` takes its
    original's shell unless it gives its own). A rule's block is its header and the indented lines after it."""
    blocks: list[list[str]] = []
    for path in sorted((REPO / "workflow" / "rules").glob("*.smk")):
        for line in path.read_text().splitlines():
            if re.match(r"(rule \w+:|use rule \w+ as \w+)", line):
                blocks.append([line])
            elif blocks and line and not line[0].isspace():
                blocks.append([])  # top-level code ends the block
            elif blocks:
                blocks[-1].append(line)
    commands: dict[str, set[str]] = {}
    for block in filter(None, blocks):
        ran = set(re.findall(r"bmc\.cli (\w+)", "\n".join(block)))
        if head := re.match(r"rule (\w+):", block[0]):
            commands[head.group(1)] = ran
        elif head := re.match(r"use rule (\w+) as (\w+)", block[0]):
            commands[head.group(2)] = ran or commands[head.group(1)]
    return commands


def test_every_rule_runs_the_stages_named_for_it_and_every_stage_is_named_after_its_rules():
    commands = rule_commands()
    assert set(commands) == {rule for rules in RULES.values() for rule in rules}
    for rule, ran in commands.items():
        assert ran and all(rule in RULES[command] for command in ran), (rule, ran)
    for stage, rules in RULES.items():
        assert STAGES[stage] == f"bmc.stages.{stage}"
        assert stage in rules or len(rules) > 1, (
            f"{stage} is run by one rule, {rules}, and not named after it"
        )


def test_a_rule_name_an_old_name_or_a_hyphen_runs_its_stage():
    assert command_of("table1") == command_of("table") == "table"
    assert command_of("sft_given") == command_of("base_model") == "model"
    assert command_of("generate_math") == "generate" and command_of("bridge_served") == "bridge"
    assert command_of("sweep_score") is None  # it runs two stages
    assert command_of("sample") == command_of("sample-losing") == "sample_losing"
    assert all(command_of(old) == new for old, new in OLD_NAMES.items())
    assert command_of("frobnicate") is None


def test_a_bare_call_prints_the_help_listing_every_command():
    proc = bmc()
    assert proc.returncode == 0 and proc.stderr == ""
    for command in [*STAGES, "plan", "status"]:
        assert re.search(rf"^\s+{command}\b", proc.stdout, flags=re.M), command
    # each stage is listed with the first paragraph of its docstring, not a generic "run the X stage"
    assert "The SFT model's answers to the training questions, each graded" in " ".join(proc.stdout.split())
    assert not re.search(r"run the \w+ stage", proc.stdout)


def test_a_stage_help_is_its_docstring():
    proc = bmc("sample", "--help")
    assert proc.returncode == 0
    doc = __import__("bmc.stages.sample_losing", fromlist=["x"]).__doc__
    assert " ".join(doc.split()) in " ".join(proc.stdout.split())
    assert "@FILE reads it from a file" in " ".join(proc.stdout.split())
    assert summary("Rules `a` and `b`: does this.\n\nDetails.") == "Does this"


def test_version():
    proc = bmc("--version")
    assert proc.returncode == 0 and proc.stdout.startswith(f"bmc {__version__} (git commit ")


def test_an_error_is_one_line_and_the_traceback_comes_with_debug(tmp_path):
    args = ["evaluate", "--generations", str(tmp_path / "missing.jsonl"), "--out", str(tmp_path / "s.json")]
    args += ["--model-name", "m", "--method", "DPO", "--seed", "0", "--task", "qa", "--dataset", "ARC"]
    proc = bmc(*args)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("bmc evaluate: error: ") and "missing.jsonl" in last and "--debug" in last
    for debug in (bmc("--debug", *args), bmc(*args, "--debug"), bmc(*args, env={"BMC_DEBUG": "1"})):
        assert debug.returncode == 1 and "Traceback" in debug.stderr
        assert debug.stderr.strip().splitlines()[-1].startswith("bmc evaluate: error: ")


def test_params_come_from_a_file(tmp_path):
    params = tmp_path / "qa.json"
    params.write_text(json.dumps(SMOKE["data"]["qa"]))
    out = tmp_path / "from_file"
    main(
        [
            "data",
            "--resources",
            str(REPO / "workflow/resources/data/qa"),
            "--out",
            str(out),
            "--params",
            f"@{params}",
        ]
    )
    inline = tmp_path / "inline"
    main(["data_qa", "--resources", str(REPO / "workflow/resources/data/qa"), "--out", str(inline)]
         + ["--params", params.read_text()])  # fmt: skip
    assert (out / "sft.jsonl").read_bytes() == (inline / "sft.jsonl").read_bytes() != b""
    proc = bmc("data_qa", "--resources", "x", "--out", str(out), "--params", f"@{tmp_path / 'none.json'}")
    assert proc.returncode == 1 and proc.stderr.strip() == (
        f"bmc data_qa: error: --params @{tmp_path / 'none.json'}: cannot read {tmp_path / 'none.json'} "
        "(No such file or directory) (--debug shows the traceback)"
    )


def test_plan_takes_config_overrides_as_snakemake_does():
    config = merged_config([str(REPO / "workflow/config/paper.yaml")], ['tasks=["qa"]', "seeds=[0,1]"])
    assert config["tasks"] == ["qa"] and config["seeds"] == ["0", "1"] and config["scale"] == "paper"
    proc = bmc("plan", "--configfile", "workflow/config/paper.yaml", "--config", 'tasks=["qa"]')
    assert proc.returncode == 0, proc.stderr
    rules = set(re.findall(r"^\| (\w+)", proc.stdout, flags=re.M))
    assert "generate_qa" in rules and "generate_math" not in rules and "generate_if" not in rules
    assert "| qa | SFT examples |" in proc.stdout and "| math |" not in proc.stdout


def test_plan_without_a_plan_section_says_so_in_one_line():
    proc = bmc("plan", "--configfile", "workflow/config/smoke.yaml")
    assert proc.returncode == 1 and proc.stderr.strip().splitlines() == [
        "bmc plan: error: workflow/config/smoke.yaml: no `plan` section (throughput assumptions) to estimate from"
        " (--debug shows the traceback)"
    ]


@pytest.mark.parametrize("command", ["status", "plan"])
def test_tools_have_help(command):
    proc = bmc(command, "--help")
    assert proc.returncode == 0 and proc.stdout.startswith(f"usage: bmc {command}")
