"""Exact-match grading of QA responses: the answer is what follows the last "The answer is".

Normalisation (applied to the prediction; the gold answer is only lower-cased and stripped):
lower-case, strip whitespace, then drop a leading ":", one trailing ".", and surrounding quotes,
repeating until nothing changes, so `The answer is: "Paris".` predicts `paris`.
"""

from __future__ import annotations

ANSWER_CUE = "The answer is"
_QUOTES = "\"'`“”‘’"


def extract_prediction(text: str) -> str:
    """Normalised text after the last "The answer is" (case-sensitive cue); "" when the cue is absent."""
    cut = text.rfind(ANSWER_CUE)
    if cut < 0:
        return ""
    pred = text[cut + len(ANSWER_CUE) :].strip().lower()
    while True:
        before = pred
        pred = pred.removeprefix(":").strip()
        pred = pred.removesuffix(".").strip()
        if len(pred) >= 2 and pred[0] in _QUOTES and pred[-1] in _QUOTES:
            pred = pred[1:-1].strip()
        if pred == before:
            return pred


def is_correct(prediction: str, answer: str) -> bool:
    """Exact match after lower-casing and stripping; an empty prediction is never correct."""
    return bool(prediction) and prediction.strip().lower() == answer.strip().lower()
