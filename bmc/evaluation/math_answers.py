"""Grading of math responses with `math-verify`: the prediction is what follows the last "The answer is".

The math SFT data ends every solution with "The answer is: $X$." (bmc-release/math). A response without
that cue is wrong, as in the QA grader. The extracted span and the gold answer are parsed by math-verify
(LaTeX and plain expressions; fractions, \\boxed, units and thousands separators normalised) and compared
symbolically, with a time limit per item, so no model text is ever `eval`-ed or `exec`-ed.
"""

from __future__ import annotations

import re

ANSWER_CUE = "The answer is"
TIMEOUT_S = 5
# a currency sign before a number is not a LaTeX delimiter: "$18" -> "18", "\$1,000" -> "1,000"
_CURRENCY = re.compile(r"\\?\$(?=\s*-?\d)(?![^$]*\$)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SENTENCE_END = re.compile(r"\n|\.\s")
_LATEX = re.compile(r"[\\^_{}$]")
_UNIT_NOTE = re.compile(r"\s*\([^()]*\)\s*$")  # ASDiv's "9 (apples)"


def extract_answer_span(text: str) -> str:
    """The first sentence after the last "The answer is" (and its ":"); "" without the cue.

    A sentence ends at a line break or at a "." followed by a space, so "2.5" and "$x.$" stay whole.
    """
    cut = text.rfind(ANSWER_CUE)
    if cut < 0:
        return ""
    span = text[cut + len(ANSWER_CUE) :].strip().removeprefix(":").strip()
    return _SENTENCE_END.split(span, maxsplit=1)[0].strip().removesuffix(".").strip()


def gold_answer(row: dict, dataset: str) -> str:
    """The reference answer of a released test row, as a string math-verify can parse."""
    if dataset == "gsm8k":
        return row["answer"].rsplit("####", 1)[1].strip().replace(",", "")
    if dataset == "math-oai":
        return row["answer"]
    if dataset in {"mawps", "svamp"}:
        value = float(row["target"] if dataset == "mawps" else row["Answer"])
        return str(int(value)) if value.is_integer() else repr(value)
    if dataset == "asdiv":
        return _UNIT_NOTE.sub("", row["answer"]).strip()
    raise ValueError(f"unknown math test set {dataset!r}; expected gsm8k, math-oai, mawps, svamp or asdiv")


def _parse(answer: str, timeout_s: int, first_only: bool) -> list:
    """math-verify's parse of `answer` as inline LaTeX, else as plain text (e.g. "18 dollars")."""
    from math_verify import parse

    answer = _THOUSANDS.sub("", _CURRENCY.sub("", answer.strip()))
    mode = "first_match" if first_only else "any_match"
    # LaTeX-looking text is parsed as inline math; plain text ("18 dollars") as is, where units are dropped
    wrapped = answer if "$" in answer else f"${answer}$"
    if _LATEX.search(answer):
        candidates = [wrapped]
    else:  # words are units ("18 dollars"), which inline math would read as symbols
        candidates = [answer, wrapped] if re.search(r"[A-Za-z]{2,}", answer) else [wrapped, answer]
    for candidate in candidates:
        parsed = parse(candidate, extraction_mode=mode, parsing_timeout=timeout_s)
        if parsed:
            return parsed
    return []


def is_correct(response: str, gold: str, timeout_s: int = TIMEOUT_S) -> bool:
    """Whether the response's final answer equals `gold` (symbolically, within `timeout_s` per step).

    Only the first expression after the cue counts, so "18. Wait, it is 20" predicts 18. A gold answer
    without digits or LaTeX ("Yes", a name) is matched as text, case-insensitively.
    """
    from math_verify import verify

    span = extract_answer_span(response)
    if not span:
        return False
    if not re.search(r"\d", gold) and not _LATEX.search(gold):  # a word answer (ASDiv's "Yes", a name)
        whole = response[response.rfind(ANSWER_CUE) + len(ANSWER_CUE) :].strip().removeprefix(":")
        return gold.strip().lower() in {span.lower(), whole.strip().removesuffix(".").strip().lower()}
    parsed_gold, parsed_pred = _parse(gold, timeout_s, False), _parse(span, timeout_s, True)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred, timeout_seconds=timeout_s))
