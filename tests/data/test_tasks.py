"""Task dispatch: each task grades with its own grader, and math pairs flow through pairs, bridging and scoring."""

import json

import pytest

from bmc.bridging import validate as v
from bmc.bridging.validate import check_edit
from bmc.cli import main
from bmc.data.pairs import build_pairs, grade_row
from bmc.data.prompt_format import EVAL_RESPONSE_PREFIX
from bmc.data.tasks import grade, winning_response

MATH_SOLUTION = "She has 160 + 70 = 230 pages.\nThe answer is: $230$."


def test_each_task_grades_with_its_own_grader():
    # QA: exact match of the option text; "230.0" is not the option "230"
    assert grade("qa", "So\nThe answer is 230.0", "230") == ("230.0", False)
    assert grade("qa", "So\nThe answer is Bank.", "bank") == ("bank", True)
    # math: symbolic equality of the first expression after the cue
    assert grade("math", "So\nThe answer is: $230.0$.", "230") == ("$230.0$", True)
    assert grade("math", "So\nThe answer is: $\\frac{1}{2}$.", "0.5")[1]
    assert grade("math", "230 pages, so 231.", "230") == ("231", False)  # no cue: the last number
    assert grade("math", "230 pages, so 230.", "230") == ("230", True)
    # the released QA rule compares with the gold as written: a capitalised gold never matches
    assert grade("qa", "The answer is Bank.", "Bank.", rule="released") == ("bank.", False)
    assert grade("qa", "The answer is Bank.", "Bank.") == ("bank", True)
    with pytest.raises(ValueError, match="unknown grader 'strict'"):
        grade("qa", "x", "y", rule="strict")
    # instruction following has no gold answer: every sampled reply is a losing candidate
    assert grade("if", "Paris is the capital.", "") == ("", False)
    with pytest.raises(ValueError, match="unknown task 'chat'"):
        grade("chat", "x", "y")


def test_instruction_following_answers_in_the_training_template_without_the_cue():
    from bmc.data.prompt_format import eval_prompt, training_prompt
    from bmc.data.tasks import answer_prompt

    assert answer_prompt("if", "Write a haiku.") == training_prompt("Write a haiku.")
    # QA ends with the step-by-step cue; math has none, as in the authors' math evaluation
    assert answer_prompt("qa", "Q?") == eval_prompt("Q?")
    assert answer_prompt("qa", "Q?").endswith("### Response:\nLet's think step by step.\n")
    assert answer_prompt("math", "Q?") == eval_prompt("Q?", cue="")
    assert answer_prompt("math", "Q?").endswith("### Response:\n")


def test_instruction_following_pairs_take_every_sampled_reply_as_the_loser():
    question = {"id": "sharegpt-1", "task": "if", "dataset": "sharegpt", "question": "Say hi.",
                "solution": "Hi there!", "answer": ""}  # fmt: skip
    samples = [
        grade_row({**question, "id": "sharegpt-1#0", "question_id": "sharegpt-1", "response": "hello"})
    ]
    (pair,), summary = build_pairs(samples)
    assert (pair["chosen"], pair["rejected"]) == ("Hi there!", "hello")
    assert summary["kept"] == 1 and summary["correct"] == 0
    # bridging validation: generic checks only (no answer line to grade)
    assert check_edit("Hi there, friend!", pair, "chosen") is None
    assert check_edit("hello", pair, "chosen") == v.SAME_AS_LOSER


def test_winning_response_follows_each_task_sft_format():
    assert winning_response("qa", "Fish need water.") == EVAL_RESPONSE_PREFIX + "Fish need water."
    assert winning_response("math", MATH_SOLUTION) == MATH_SOLUTION


def _math_sample(k, response):
    question = {"id": "math-finetune-3", "task": "math", "dataset": "math-train", "question": "Pages?",
                "solution": MATH_SOLUTION, "answer": "230", "source": {"file": "f", "line": 3}}  # fmt: skip
    row = {**question, "id": f"math-finetune-3#{k}", "question_id": question["id"], "sample": k}
    return grade_row({**row, "response": response})


def test_math_pairs_use_the_math_grader_and_the_plain_solution():
    samples = [
        _math_sample(0, "160 + 70 = 230.\nThe answer is: $230$."),  # correct, written differently
        _math_sample(1, "160 + 70 = 220.\nThe answer is: $220$."),  # wrong: becomes y_l
    ]
    assert [s["correct"] for s in samples] == [True, False]
    pairs, summary = build_pairs(samples)
    assert summary["correct"] == 1 and summary["kept"] == 1
    (pair,) = pairs
    assert pair["task"] == "math" and pair["chosen"] == MATH_SOLUTION
    assert pair["rejected"].endswith("$220$.") and pair["answer"] == "230"


MATH_PAIR = {
    "id": "math-finetune-3",
    "task": "math",
    "prompt": [{"role": "user", "content": "Pages?"}],
    "chosen": MATH_SOLUTION,
    "rejected": "160 + 70 = 220.\nThe answer is: $220$.",
    "answer": "230",
}


@pytest.mark.parametrize(
    "text, replaces, reason",
    [
        ("160 + 70 = 230.\nThe answer is: $230$.", "chosen", None),
        ("160 + 70 = 230.\nThe answer is 230", "chosen", None),
        ("160 + 70 = 230.\nThe answer is: $230$.\nThe problem is easy.", "chosen", None),
        ("160 + 70 = 240.\nThe answer is: $240$.", "chosen", v.WRONG),
        ("160 + 70 = 230.", "chosen", v.NO_CUE),
        ("160 + 70 = 240.\nThe answer is: $240$.", "rejected", None),
        ("160 + 70 = 230!\nThe answer is: $230$.", "rejected", v.STILL_CORRECT),
    ],
)
def test_math_edits_are_validated_with_the_math_grader(text, replaces, reason):
    assert check_edit(text, MATH_PAIR, replaces) == reason


def test_evaluate_stage_scores_math_with_math_verify(tmp_path):
    gens = tmp_path / "generations.jsonl"
    rows = [
        {"id": "a", "dataset": "gsm8k", "response": "The answer is: $18$.", "answer": "18"},
        {"id": "b", "dataset": "gsm8k", "response": "The answer is: $\\$18.00$.", "answer": "18"},
        {"id": "c", "dataset": "gsm8k", "response": "The answer is 17", "answer": "18"},
        {"id": "d", "dataset": "gsm8k", "response": "I do not know", "answer": "18"},
    ]
    gens.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "scores.json"
    main(["evaluate", "--generations", str(gens), "--out", str(out), "--model-name", "m",
          "--method", "DPO", "--seed", "0", "--task", "math", "--dataset", "gsm8k"])  # fmt: skip
    scores = json.loads(out.read_text())
    assert (scores["task"], scores["metric"], scores["correct"], scores["n"]) == ("math", "accuracy", 2, 4)
    records = [json.loads(line) for line in (tmp_path / "records.jsonl").read_text().splitlines()]
    assert [r["correct"] for r in records] == [True, True, False, False]
