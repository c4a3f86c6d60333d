"""scripts/compare_graders.py: a run's answers graded by the re-implemented released rule and the corrected one
(and by the authors' code, given a release folder), side by side."""

import subprocess
import sys
from pathlib import Path

from bmc.io import write_jsonl

ROOT = Path(__file__).resolve().parents[1]


def test_each_rule_grades_the_same_answers(tmp_path):
    generations = tmp_path / "results" / "generations" / "qa" / "DPO" / "seed0"
    # a gold as written with a capital: the released rule lower-cases the prediction only, so it never matches
    rows = [
        {
            "id": "ECQA-test-1",
            "dataset": "ECQA",
            "prompt": "p",
            "response": "The answer is bedroom",
            "answer": "bedroom",
        },
        {
            "id": "ECQA-test-2",
            "dataset": "ECQA",
            "prompt": "p",
            "response": "The answer is Paris",
            "answer": "Paris",
        },
        {
            "id": "ECQA-test-3",
            "dataset": "ECQA",
            "prompt": "p",
            "response": "The answer is cat",
            "answer": "dog",
        },
        {"id": "ECQA-test-4", "dataset": "ECQA", "prompt": "p", "response": "no cue", "answer": "dog"},
    ]
    write_jsonl(generations / "ECQA.jsonl", rows)
    script = ROOT / "scripts" / "compare_graders.py"
    out = subprocess.run(
        [sys.executable, str(script), "--results", str(tmp_path / "results")], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert "| qa | DPO | 25.0 | 50.0 | 4 | — |" in out.stdout, out.stdout
