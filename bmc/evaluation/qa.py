"""Exact-match grading of QA responses: the answer is what follows the last "The answer is".

Two rules, both on the text after the last (case-sensitive) "The answer is"; a response without the cue is
wrong under both:
- `corrected` (the suite's default): one normalisation applied to both the prediction and the gold
  answer: lower-case, collapse whitespace, then drop a leading ":", a trailing "." and surrounding quotes
  until nothing changes, so `The answer is: "Paris".` matches the gold `Paris.`;
- `released` (the authors' eval/QA/<set>/eval.py, literally): the prediction is stripped and lower-cased,
  the gold answer is taken as written, and the two are compared as they are (a test runs eval.py itself on
  thousands of answers and finds the same verdicts). A capitalised or period-ended gold can never match, so
  this rule calls some gold solutions wrong (measured on the released test sets: ECQA 100%, QASC 81.9%, OBQA
  87.0%, ARC 75.1%). The paper's QA numbers were computed with it; at paper scale the evaluate stage runs
  eval.py itself (`bmc.evaluation.released_code`).
"""

from __future__ import annotations

import re

ANSWER_CUE = "The answer is"
_QUOTES = "\"'`“”‘’"
_SPACES = re.compile(r"\s+")


def normalize(text: str) -> str:
    """Lower-case, single spaces, no leading ":", trailing "." or surrounding quotes (repeated)."""
    text = _SPACES.sub(" ", text).strip().lower()
    while True:
        before = text
        text = text.removeprefix(":").strip()
        text = text.removesuffix(".").strip()
        if len(text) >= 2 and text[0] in _QUOTES and text[-1] in _QUOTES:
            text = text[1:-1].strip()
        if text == before:
            return text


def extract_prediction(text: str) -> str:
    """Normalised text after the last "The answer is"; "" when the cue is absent."""
    cut = text.rfind(ANSWER_CUE)
    return "" if cut < 0 else normalize(text[cut + len(ANSWER_CUE) :])


def is_correct(prediction: str, answer: str) -> bool:
    """The corrected rule: the normalised prediction equals the normalised gold; "" is never correct."""
    return bool(prediction) and prediction == normalize(answer)


def released_prediction(text: str) -> str:
    """The released rule's prediction: the text after the last cue, stripped and lower-cased ("" without it)."""
    return text.split(ANSWER_CUE)[-1].strip().lower() if ANSWER_CUE in text else ""


def released_is_correct(prediction: str, answer: str) -> bool:
    """The released rule's verdict: the prediction equals the gold answer exactly as written."""
    return prediction == answer
