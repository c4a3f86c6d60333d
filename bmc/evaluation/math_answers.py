"""Grading of math responses under the suite's `corrected` rule, compared symbolically with `math-verify`.

The final answer is the content of the last `\\boxed{...}` if there is one, else the first sentence after the
last "he answer is" (so "The answer is" and "the answer is" both count; the math SFT data end every solution
with "The answer is: $X$."), else the last number in the response. The span and the gold answer are compared
first as plain text (dollar signs, spaces and case ignored, so "$p - q$" matches "p - q"), then parsed by
math-verify (LaTeX and plain expressions; fractions, \\boxed, units and thousands separators normalised) and
compared symbolically, with a time limit per item, so no model text is ever `eval`-ed or `exec`-ed.

This is the suite's own rule, not the authors': the paper's numbers come from their harness (the `released`
rule: `bmc.evaluation.math_released`, or their code itself, `bmc.evaluation.released_code`), which takes
everything after the cue ("The answer is 16 dollars." predicts "16dollars", wrong there, right here) and
accepts numbers within a relative 1e-4 (14001 for 14000, wrong here). `gold_answer` gives both rules their
gold string.
"""

from __future__ import annotations

import re

ANSWER_CUE = "he answer is"  # "The answer is" or "the answer is", as the released extraction
TIMEOUT_S = 5
# a currency sign before a number is not a LaTeX delimiter: "$18" -> "18", "\\$1,000" -> "1,000"
_CURRENCY = re.compile(r"\\?\$(?=\s*-?\d)(?![^$]*\$)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_SENTENCE_END = re.compile(r"\n|\.\s")
_LATEX = re.compile(r"[\\^_{}$]")
_UNIT_NOTE = re.compile(r"\s*\([^()]*\)\s*$")  # ASDiv's "9 (apples)"
_NUMBER = re.compile(r"-?\d*\.?\d+")


def last_boxed(text: str) -> str | None:
    """The content of the last `\\boxed{...}` (nested braces kept), or the text after a brace-less
    `\\boxed ` up to the next "$"; None when the response has no "boxed"."""
    cut = text.rfind("boxed")
    if cut < 0:
        return None
    rest = text[cut + len("boxed") :]
    if not rest.startswith("{"):
        return rest.split("$")[0].strip()
    depth = 0
    for i, char in enumerate(rest):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return rest[1:i].strip()
    return rest[1:].strip()  # unbalanced: everything after the brace


def extract_answer_span(text: str) -> str:
    """The final answer in the released order: last boxed, else the first sentence after the last cue
    (and its ":"), else the last number; "" when there is none.

    A sentence ends at a line break or at a "." followed by a space, so "2.5" and "$x.$" stay whole.
    """
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    cut = text.rfind(ANSWER_CUE)
    if cut >= 0:
        span = text[cut + len(ANSWER_CUE) :].strip().removeprefix(":").strip()
        return _SENTENCE_END.split(span, maxsplit=1)[0].strip().removesuffix(".").strip()
    numbers = _NUMBER.findall(text.replace(",", ""))
    return numbers[-1] if numbers else ""


def gold_answer(row: dict, dataset: str) -> str:
    """The reference answer of a released test row, as a string math-verify can parse; the released rule derives
    the authors' gold from it (`math_released.released_gold`: the same on every released test row)."""
    if dataset == "gsm8k":
        return row["answer"].rsplit("####", 1)[1].strip()  # as written ("1,600"), as the released evaluation
    if dataset == "math-oai":
        return row["answer"]
    if dataset in {"mawps", "svamp"}:
        value = float(row["target"] if dataset == "mawps" else row["Answer"])
        return str(int(value)) if value.is_integer() else repr(value)
    if dataset == "asdiv":
        return _UNIT_NOTE.sub("", row["answer"]).strip()
    if dataset == "tabmwp":  # numbers as the released evaluation reads them; text answers as written
        from decimal import Decimal, InvalidOperation

        answer = row["answer"].strip()
        if row["ans_type"] not in {"integer_number", "decimal_number"}:
            return answer
        number = answer.replace(",", "")
        if "/" in number:
            return number  # a fraction ("3/4"), which math-verify parses
        try:
            value = Decimal(number.removesuffix("%")) / (100 if number.endswith("%") else 1)
        except InvalidOperation:
            raise ValueError(f"{row['ans_type']} answer {answer!r} is not a number") from None
        return format(value.normalize(), "f")  # "1,000" -> "1000", "12%" -> "0.12", "2.50" -> "2.5"
    raise ValueError(
        f"unknown math test set {dataset!r}; expected gsm8k, math-oai, mawps, svamp, asdiv or tabmwp"
    )


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


def _plain(text: str) -> str:
    """Text without dollar signs, spaces, case or a final period: "$p - q$." -> "p-q"."""
    return re.sub(r"\s+", "", text.replace("$", "")).lower().removesuffix(".")


def is_correct(response: str, gold: str, timeout_s: int = TIMEOUT_S) -> bool:
    """Whether the response's final answer equals `gold` (as text, else symbolically within `timeout_s`).

    Only the first expression of the span counts, so "18. Wait, it is 20" predicts 18. A gold answer
    with a word and neither digits nor LaTeX ("Yes", a name) is matched as text, case-insensitively.
    """
    from math_verify import verify

    span = extract_answer_span(response)
    if not span:
        return False
    if _plain(span) == _plain(gold):
        return True
    if not re.search(r"\d", gold) and not _LATEX.search(gold) and re.search(r"[A-Za-z]{2,}", gold):
        cut = response.rfind(ANSWER_CUE)  # a word answer may run past the first sentence
        whole = response[cut + len(ANSWER_CUE) :].strip().removeprefix(":") if cut >= 0 else ""
        return _plain(gold) == _plain(whole.strip())
    parsed_gold, parsed_pred = _parse(gold, timeout_s, False), _parse(span, timeout_s, True)
    if not parsed_gold or not parsed_pred:
        return False
    return bool(verify(parsed_gold, parsed_pred, timeout_seconds=timeout_s))
