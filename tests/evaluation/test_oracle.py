"""Oracle tests: the corrected graders call every gold solution of every shipped set correct (no exception
was needed), and the released QA rule behaves as the authors' evaluation scripts do."""

import json
from pathlib import Path

import pytest

from bmc.data import math as math_data
from bmc.data.qa import load_questions
from bmc.data.tasks import grade, grade_released, winning_response
from bmc.evaluation.math_answers import gold_answer

DATA = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "data"
QA_SETS = ["ECQA", "QASC", "OBQA", "ARC"]


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("dataset", QA_SETS)
def test_every_shipped_qa_gold_solution_is_correct(dataset, split):
    questions = load_questions(DATA / "qa", dataset, split)
    assert questions
    wrong = [
        q["id"] for q in questions if not grade("qa", winning_response("qa", q["solution"]), q["answer"])[1]
    ]
    assert wrong == []


def test_the_released_qa_rule_misses_capitalised_and_period_ended_golds():
    # the authors' rule lower-cases the prediction only: its oracle is below 100% except on ECQA
    share = {}
    for dataset in QA_SETS:
        questions = load_questions(DATA / "qa", dataset, "test")
        right = sum(grade_released("qa", q["solution"], q["answer"])[1] for q in questions)
        share[dataset] = right / len(questions)
    assert share["ECQA"] == 1.0
    assert all(share[d] < 0.95 for d in ("QASC", "OBQA", "ARC"))


@pytest.mark.parametrize(
    ("response", "gold", "released", "corrected"),
    [
        ("The answer is bank", "bank", True, True),
        ("The answer is Bank  \n", "bank", True, True),  # the prediction is stripped and lower-cased
        ("The answer is Sunlight is the source.", "Sunlight is the source.", False, True),  # gold as written
        ("The answer is bank.", "bank", False, True),  # the prediction keeps its period
        ("The answer is: bank", "bank", False, True),  # and its colon
        ('The answer is "bank"', "bank", False, True),
        ("the answer is bank", "bank", False, False),  # the cue is case-sensitive under both rules
        ("The answer is river. The answer is bank", "bank", True, True),  # the last cue counts
        ("bank", "bank", False, False),  # no cue, no prediction
    ],
)
def test_released_and_corrected_qa_rules(response, gold, released, corrected):
    assert grade_released("qa", response, gold)[1] is released
    assert grade("qa", response, gold)[1] is corrected


def test_every_shipped_math_training_solution_is_correct():
    rows, _ = math_data.load_training(DATA / "math")
    assert rows
    assert [q["id"] for q in rows if not grade("math", q["solution"], q["answer"])[1]] == []


# a released solution text per test set: GSM8K's rationale ends "#### X" (the last number), MATH's solution
# boxes its answer; MAWPS has no solution, so its gold is restated as a float ("43.0" for 43)
SOLUTIONS = {
    "gsm8k": lambda row: row["answer"],
    "math-oai": lambda row: row["solution"],
    "mawps": lambda row: f"The answer is: {float(row['target'])}.",
}


@pytest.mark.parametrize("dataset", sorted(SOLUTIONS))
def test_every_shipped_math_test_solution_is_correct(dataset):
    path = DATA / "math" / dataset / "test.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    assert rows
    wrong = [
        row.get("line")
        for row in rows
        if not grade("math", SOLUTIONS[dataset](row), gold_answer(row, dataset))[1]
    ]
    assert wrong == []
    # and a wrong final answer is wrong (the oracle cannot pass by accepting everything)
    assert not grade("math", "The answer is: 123456789.", gold_answer(rows[0], dataset))[1]
