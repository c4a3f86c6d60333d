"""What differs between the reasoning tasks (QA and math): grading, and how a released solution becomes y_w.

QA: exact match on the text after the last "The answer is" (`bmc.evaluation.qa`); the QA SFT data starts
every answer with the step-by-step cue, so y_w does too. Math: the first expression after the last
"The answer is", compared symbolically with math-verify (`bmc.evaluation.math_answers`); the math SFT
solutions start directly, so y_w is the released solution as is.
"""

from __future__ import annotations

from bmc.chat import EVAL_RESPONSE_PREFIX

TASKS = ("qa", "math")
METRICS = {"qa": "exact_match", "math": "accuracy"}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return task


def grade(task: str, response: str, answer: str) -> tuple[str, bool]:
    """(prediction, correct) of a response against the gold `answer`; a response without the cue is wrong."""
    if check_task(task) == "qa":
        from bmc.evaluation.qa import extract_prediction, is_correct

        prediction = extract_prediction(response)
        return prediction, is_correct(prediction, answer)
    from bmc.evaluation.math_answers import extract_answer_span, is_correct

    return extract_answer_span(response), is_correct(response, answer)


def winning_response(task: str, solution: str) -> str:
    """y_w of a pair: the released solution, in the form the SFT model was trained to answer in."""
    return EVAL_RESPONSE_PREFIX + solution if check_task(task) == "qa" else solution
