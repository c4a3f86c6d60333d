"""Validation of an editor's output: an invalid edit keeps the original pair (status `fallback`)."""

from __future__ import annotations

from bmc.evaluation.qa import extract_prediction, is_correct


def check_edit(text: str, pair: dict, replaces: str) -> str | None:
    """None if `text` is a usable new `replaces` response for a QA pair, else the reason it is not."""
    text = text.strip()
    if not text:
        return "empty output"
    if "The answer is" not in text:
        return "no 'The answer is' line"
    correct = is_correct(extract_prediction(text), pair["answer"])
    if replaces == "chosen":
        if text == pair["rejected"].strip():
            return "identical to the losing response"
        if not correct:
            return "final answer is not the correct answer"
    else:
        if text == pair["chosen"].strip():
            return "identical to the winning response"
        if correct:
            return "degraded answer is still correct"
    return None
