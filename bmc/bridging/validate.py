"""Validation of an editor's output; an invalid edit keeps the original pair (status `fallback`).

Reasons are fixed strings so that the summary can count them. Rules:
- every output: not empty, not identical to the response it replaces;
- a new winner (`chosen`): not identical to y_l either (y_l is wrong); for QA, the final
  "The answer is <answer>" must grade as correct with the evaluation's own grader;
- a new loser (`rejected`, the inverse strategy): for QA, it must end with a *wrong* final answer.
Pairs without an `answer` (instruction following) get the generic checks only.
"""

from __future__ import annotations

from bmc.evaluation.qa import ANSWER_CUE, extract_prediction, is_correct

EMPTY = "empty output"
NO_CUE = f"no '{ANSWER_CUE}' line"
TRAILING = f"text after the final '{ANSWER_CUE}' line"
WRONG = "final answer is not the correct answer"
STILL_CORRECT = "degraded answer is still correct"
SAME_AS_LOSER = "identical to the losing response"
SAME_AS_WINNER = "identical to the winning response"


def check_edit(text: str, pair: dict, replaces: str) -> str | None:
    """None if `text` is a usable new `replaces` ("chosen" or "rejected") response for `pair`, else why not."""
    if replaces not in ("chosen", "rejected"):
        raise ValueError(f"replaces must be 'chosen' or 'rejected', got {replaces!r}")
    text = text.strip()
    if not text:
        return EMPTY
    if text == pair["rejected"].strip():
        return SAME_AS_LOSER
    if text == pair["chosen"].strip():
        return SAME_AS_WINNER
    answer = pair.get("answer")
    if answer is None:
        return None
    if ANSWER_CUE not in text:
        return NO_CUE
    prediction = extract_prediction(text)
    if "\n" in prediction:
        return TRAILING
    correct = is_correct(prediction, answer)
    if replaces == "chosen" and not correct:
        return WRONG
    if replaces == "rejected" and correct:
        return STILL_CORRECT
    return None
