"""The CLI starts fast: it imports the entry module of the stage that runs only, and no entry module loads a
heavy library before its stage runs (a job of a light stage never waits for torch to import)."""

import json
import re
import subprocess
import sys
from pathlib import Path

from bmc.cli import STAGES

REPO = Path(__file__).resolve().parents[1]
HEAVY = ["torch", "transformers", "trl", "vllm", "datasets", "pandas", "matplotlib"]


def python(code: str) -> str:
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return proc.stdout.strip().splitlines()[-1]


def test_the_cli_imports_the_entry_module_of_the_stage_that_runs_only():
    code = (
        "import json, sys\nfrom bmc.cli import main\ntry:\n    main(['evaluate', '--help'])\n"
        "except SystemExit:\n    pass\nprint(json.dumps(sorted(m for m in sys.modules if m.startswith('bmc.stages.'))))"
    )
    assert json.loads(python(code)) == ["bmc.stages.evaluate"]


def test_no_entry_module_imports_a_heavy_library_before_its_stage_runs():
    code = (
        f"import json, sys\nimport bmc.cli as cli\nfor command in cli.STAGES:\n    cli.load_stage(command)\n"
        f"print(json.dumps(sorted(set({HEAVY!r}) & set(sys.modules))))"
    )
    assert json.loads(python(code)) == []


def test_every_entry_module_lives_in_bmc_stages_named_after_its_rules():
    text = "".join(path.read_text() for path in (REPO / "workflow" / "rules").glob("*.smk"))
    rules = re.findall(r"^(?:rule (\w+):|use rule \w+ as (\w+))", text, flags=re.M)
    rules = {a or b for a, b in rules}
    for command, module in STAGES.items():
        package, _, name = module.rpartition(".")
        # `model` serves base_model, editor_model and sft_given; `table` table1 to table5
        named = [r for r in rules if re.fullmatch(rf"(\w+_)?{name}(_\w+|\d)?", r)]
        assert package == "bmc.stages" and named, f"{command}: {module} is not named after a rule"
