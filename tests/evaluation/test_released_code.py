"""The evaluate stage grades the released rule with the authors' code when a release folder holds it.

The folder is release-like: the authors' grading code copied from the first folder that holds it ($BMC_RELEASE,
/work/shared/data/bmc-release, resources/bmc-release; skipped, saying why, without one) and small test files
written here, whose lines the generations' ids name as the data stages do.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from importlib.metadata import version
from pathlib import Path

import pytest

from bmc.cli import main
from bmc.data.tasks import answer_prompt
from bmc.evaluation.released_code import ANTLR_DIR, ANTLR_PIN, code_files, released_test_file
from bmc.evaluation.vllm_replay import ReplayError

REPO = Path(__file__).resolve().parents[2]
CANDIDATES = [
    os.environ.get("BMC_RELEASE"),
    "/work/shared/data/bmc-release",
    str(REPO / "resources/bmc-release"),
]


def release_like(tmp_path: Path, task: str, dataset: str, rows: list[dict], antlr: bool = False) -> Path:
    """A folder with the authors' code for `dataset` and `rows` as its released test file (`antlr`: and the
    pinned ANTLR the `release` rule unpacks beside their math code)."""
    needed = [*code_files("", task, dataset), *([Path("eval/math") / ANTLR_DIR] if antlr else [])]
    source = next(
        (Path(f) for f in filter(None, CANDIDATES) if all((Path(f) / p).exists() for p in needed)),
        None,
    )
    if source is None:
        pytest.skip(f"no folder holds {needed[-1]} and the rest of the authors' {task} grading code")
    release = tmp_path / "release"
    for path in code_files(source, task, dataset):
        target = release / path.relative_to(source)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    if antlr:
        shutil.copytree(source / needed[-1], release / needed[-1])
    test = released_test_file(release, task, dataset)
    test.parent.mkdir(parents=True, exist_ok=True)
    test.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return release


def evaluate(
    tmp_path: Path, task: str, dataset: str, generations: list[dict], *extra: str
) -> tuple[dict, list]:
    gens = tmp_path / "generations.jsonl"
    gens.write_text("".join(json.dumps(g) + "\n" for g in generations))
    out = tmp_path / "scores" / "scores.json"
    main(["evaluate", "--generations", str(gens), "--out", str(out), "--model-name", "m", "--method", "SFT",
          "--seed", "0", "--task", task, "--dataset", dataset, *extra])  # fmt: skip
    records = [json.loads(line) for line in (out.parent / "records.jsonl").read_text().splitlines()]
    return json.loads(out.read_text()), records


ARC_ROWS = [
    {"problem": "What wears rocks down?\nOptions:\nwind\nerosion", "solution": "...", "answer": "Erosion."},
    {"problem": "What do plants need?\nOptions:\nlight\nsand", "solution": "...", "answer": "light"},
    {"problem": "Which is a gas?\nOptions:\nsteam\nice", "solution": "...", "answer": "steam"},
]
ARC_RESPONSES = ["The answer is erosion.", "The answer is Light", "So it is steam."]


def arc_generations() -> list[dict]:
    return [
        {
            "id": f"ARC-test-{line}",
            "dataset": "ARC",
            "prompt": answer_prompt("qa", row["problem"]),
            "response": response,
            "answer": row["answer"],
        }
        for line, (row, response) in enumerate(zip(ARC_ROWS, ARC_RESPONSES, strict=True), 1)
    ]


def test_the_authors_eval_py_grades_the_released_qa_rule(tmp_path):
    release = release_like(tmp_path, "qa", "ARC", ARC_ROWS)
    scores, records = evaluate(tmp_path, "qa", "ARC", arc_generations(), "--release", str(release))
    assert scores["released_rule"] == "authors_code"
    assert [(r["prediction_released"], r["correct_released"]) for r in records] == [
        ("erosion.", False),  # the gold "Erosion." is compared as written
        ("light", True),
        ("", False),
    ]
    assert scores["correct_released"] == 1 and scores["correct"] == 2  # the corrected rule is the suite's


def test_without_the_release_the_reimplementation_grades_and_says_so(tmp_path):
    scores, records = evaluate(tmp_path, "qa", "ARC", arc_generations())
    assert scores["released_rule"] == "reimplementation"
    assert [r["correct_released"] for r in records] == [False, True, False]
    empty = tmp_path / "empty-release"
    empty.mkdir()
    assert evaluate(tmp_path, "qa", "ARC", arc_generations(), "--release", str(empty))[0][
        "released_rule"
    ] == ("reimplementation")


def test_a_generation_prompted_otherwise_fails_naming_the_item(tmp_path):
    release = release_like(tmp_path, "qa", "ARC", ARC_ROWS)
    generations = arc_generations()
    generations[1]["prompt"] = generations[1]["prompt"].replace("Let's think", "Think")
    with pytest.raises(Exception, match="ARC-test-2") as error:
        evaluate(tmp_path, "qa", "ARC", generations, "--release", str(release))
    assert ReplayError.__name__ in str(error.value)


def test_a_generation_graded_against_another_gold_fails(tmp_path):
    release = release_like(tmp_path, "qa", "ARC", ARC_ROWS)
    generations = arc_generations()
    generations[2]["answer"] = "ice"
    with pytest.raises(ValueError, match="ARC-test-3"):
        evaluate(tmp_path, "qa", "ARC", generations, "--release", str(release))


@pytest.mark.parametrize("antlr", [True, False], ids=["pinned-antlr", "environment-antlr"])
def test_the_authors_harness_grades_the_released_math_rule(tmp_path, antlr, caplog):
    rows = [
        {"question": "q1", "answer": "so\n#### 18"},
        {"question": "q2", "answer": "so\n#### 14,000"},
        {"question": "q3", "answer": "so\n#### 16"},
    ]
    release = release_like(tmp_path, "math", "gsm8k", rows, antlr=antlr)
    responses = [
        "The answer is: $18$.\nSo the result is 18.",
        "The answer is 14001",
        "The answer is 16 dollars.",
    ]
    generations = [
        {"id": f"gsm8k-test-{i}", "dataset": "gsm8k", "prompt": answer_prompt("math", row["question"]),
         "response": response, "answer": row["answer"].split("####")[1].strip()}
        for i, (row, response) in enumerate(zip(rows, responses, strict=True), 1)
    ]  # fmt: skip
    with caplog.at_level(logging.INFO, logger="bmc.evaluation.released_code"):
        scores, records = evaluate(tmp_path, "math", "gsm8k", generations, "--release", str(release))
    assert scores["released_rule"] == "authors_code"
    assert scores["released_timeouts"] == 0 and scores["released_prompt_mismatches"] == 0
    # which ANTLR their code ran with, and whether sympy's LaTeX parser (4.11 only) worked with it
    if antlr:
        assert (scores["released_antlr"], scores["released_sympy_latex"]) == (ANTLR_PIN, True)
        assert f"ran with ANTLR {ANTLR_PIN}" in caplog.text
    else:
        assert scores["released_antlr"] == version("antlr4-python3-runtime")
        assert scores["released_sympy_latex"] is scores["released_antlr"].startswith("4.11")
        assert f"{release / 'eval/math' / ANTLR_DIR} is absent" in caplog.text
    assert [(r["prediction_released"], r["correct_released"]) for r in records] == [
        ("18Sotheresultis18", False),
        ("14001", True),
        ("16dollars", False),
    ]
    assert [r["correct"] for r in records] == [True, False, True]  # the corrected rule (math-verify)
