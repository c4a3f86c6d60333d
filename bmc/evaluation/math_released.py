"""The authors' released math grading rule, re-implemented (the `released` rule when their code is not at hand).

The paper's math numbers come from the ToRA evaluation harness the authors ship (eval/math/eval: `parser.py`'s
`extract_answer`/`strip_string`/`parse_ground_truth`, `grader.py`'s `math_equal`, driven by `math_eval.py` with
`--prompt_type platypus_fs`). At paper scale the evaluate stage runs that code itself
(`bmc.evaluation.released_code`); this module follows the same semantics step by step for the scales without it,
and a test compares the two on thousands of responses. In order:

- prediction: the last `\\boxed{...}` (braces matched; a brace-less `\\boxed x` up to the next "$"), else all
  that follows the last "he answer is" (line breaks and the spaces after them removed, so "The answer is:
  $18$.\\nSo the result is 18." predicts "18So the result is 18"), else "final answer is", else the last number
  of the response (commas dropped); then one leading ":", one trailing "." and one trailing "/" go, and the
  span is normalised by `normalize` twice (once by the extraction, once by the driver);
- gold: normalised twice as well, except MATH (`math-oai`), whose gold the harness extracts from the solution's
  last box, normalised once (the suite's gold is the box's content, so the same path applies);
- comparison (`math_equal`): equal text ignoring case; else both numbers (commas dropped, a trailing "%" read as
  /100), equal within a relative 1e-4 to the gold, the gold / 100 or the gold * 100; else brackets, tuples,
  matrices and one-equation forms compared part by part; else symbolic equality of the two parsed with sympy's
  LaTeX parser, sympy's expression parser, then a latex2sympy parser, within 3 seconds (the harness's
  per-answer limit; past it the answer is wrong).

Where it departs from the harness, by necessity: the third parser is latex2sympy2_extended (the maintained
descendant of the harness's bundled latex2sympy, which is not published); sympy's expression parser gets no
Python builtins that reach the system (`eval`, `open`, `__import__`, ...) and no dunder names, where the harness
hands model text to `eval` unguarded; an answer left unparsed is compared as text only, where sympy would
re-parse it; the time limit is a timer in the process, not a separate process.

Environment: sympy's LaTeX parser needs ANTLR 4.11 (the harness's own pin is 4.11.1), but math-verify reads
percentages only with the suite's 4.13.2, so the suite keeps 4.13.2 and sympy's LaTeX parser fails here (this
module goes on to the next parser); only the harness's own worker gets the pinned 4.11.1
(`bmc.evaluation.released_code`). Measured on the agreement test's 2,400 math responses, all differences on
MATH answers sympy's expression parser cannot read: this module differs from the harness on 6 with the
harness under 4.13.2, on 8 under its 4.11.1, and on none when the harness is given latex2sympy2_extended in
place of its bundled latex2sympy under 4.13.2.
"""

from __future__ import annotations

import builtins
import math
import re
import signal
import threading
import types
from contextlib import contextmanager

TIMEOUT_S = 3  # the harness's per-answer limit (pebble's map timeout in its evaluate.py)
MATH_SETS = ("math", "math-oai")  # gold extracted from the solution's last box: normalised once
CUE = "he answer is"

# Unit words dropped from an answer, in the harness's order (mostly MathQA's), each also as a plural; they are
# matched as regular expressions, unescaped, between non-word characters or the ends.
_UNITS = (
    "east|degree|mph|kmph|ft|m sqaure| m east|sq m|deg|mile|q .|monkey|prime|ratio|profit of rs|rd|o|gm|p . m|"
    "lb|tile|per|dm|lt|gain|ab|way|west|a .|b .|c .|d .|e .|f .|g .|h .|t|a|h|no change|men|soldier|pie|bc|"
    "excess|st|inches|noon|percent|by|gal|kmh|c|acre|rise|a . m|th|π r 2|sq|mark|l|toy|coin|sq . m|gallon|° f|"
    "profit|minw|yr|women|feet|am|pm|hr|cu cm|square|v â € ™|are|rupee|rounds|cubic|cc|mtr|s|ohm|number|kmph|"
    "day|hour|minute|min|second|man|woman|sec|cube|mt|sq inch|mp|∏ cm ³|hectare|more|sec|unit|cu . m|cm 2|"
    "rs .|rs|kg|g|month|km|m|cm|mm|apple|liter|loss|yard|pure|year|increase|decrease|d|less|Surface|litre|"
    "pi sq m|s .|metre|meter|inch"
).split("|")
_UNIT_PATTERNS = [re.compile(rf"(^|\W){unit}($|\W)") for unit in _UNITS + [u + "s" for u in _UNITS]]
_NUMBER = re.compile(r"-?\d*\.?\d+")
_TRAILING_TEXT = re.compile(r"\\text{.*?}$")
_TEXT = re.compile(r"\\text\{(.*?)\}")
_MBOX = re.compile(r"\\mbox{.*?}")
_ARRAY_BEGIN = re.compile(r"\\begin\{array\}\{.*?\}")
_ZEROS_BEFORE_NON_DIGIT = re.compile(r"(\d+)\.0*([^\d])")
_ZEROS_AT_END = re.compile(r"(\d+)\.0*$")
_SQRT_ARGUMENT = re.compile(r"\\sqrt(\w+)")
_BRACKETED = re.compile(r"(\(|\[).+(\)|\])")
_DROPPED_VARIABLES = ("x=", "y=", "z=", "x\\in", "y\\in", "z\\in", "x\\to", "y\\to", "z\\to")


# ---- extraction ------------------------------------------------------------------------------------------------
def _boxed_content(text: str) -> str:
    """What follows the last "boxed": a braced group's inside (to the end when unbalanced), else up to a "$"."""
    after = text[text.rfind("boxed") + len("boxed") :]
    if not after:
        return ""
    if after[0] != "{":
        return after.split("$")[0].strip()
    depth = 1
    for i, char in enumerate(after[1:], 1):
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth == 0:
            return after[1:i]
    return after[1:]


def extract_span(response: str) -> str:
    """The raw answer span of a response, before any normalisation (see the module docstring)."""
    text = response.replace("\u043a\u0438", "")
    if "final answer is $" in text and "$. I hope" in text:
        return text.split("final answer is $", 1)[1].split("$. I hope", 1)[0].strip()
    if "boxed" in text:
        return _boxed_content(text)
    for cue in (CUE, "final answer is"):
        if cue in text:
            return text[text.rfind(cue) + len(cue) :].strip()
    numbers = _NUMBER.findall(text.replace(",", ""))
    return numbers[-1] if numbers else ""


def _tidy(span: str) -> str:
    """Line breaks (and the spaces after them) out, then one leading ":" and one trailing "." and "/"."""
    span = re.sub(r"\n\s*", "", span)
    span = span[1:] if span.startswith(":") else span
    span = span[:-1] if span.endswith(".") else span
    return span[:-1] if span.endswith("/") else span


def released_prediction(response: str) -> str | None:
    """The released rule's normalised prediction; None for an empty response (graded wrong).

    The driver strips the response and skips an empty one (or one that reads "error") before extracting.
    """
    response = response.strip()
    if not response or response == "error":
        return None
    return normalize(normalize(_tidy(extract_span(response))))


def released_gold(answer: str, dataset: str) -> str:
    """The released rule's gold from the suite's gold string (`math_answers.gold_answer`) of `dataset`."""
    if dataset in MATH_SETS:
        return normalize(_tidy(answer))
    if dataset == "tabmwp" and re.fullmatch(r"\d+/\d+", answer):  # the harness divides a fraction out
        numerator, denominator = answer.split("/")
        answer = str(int(numerator) / int(denominator))
    return normalize(normalize(answer))


# ---- normalisation (strip_string) ------------------------------------------------------------------------------
def _spell_out_number(text: str) -> str:
    """Number words as digits ("twelve" -> "12"), by word2number as the harness; other text unchanged."""
    from word2number import w2n

    try:
        return str(w2n.word_to_num(text))
    except Exception:  # noqa: BLE001 - word2number raises ValueError, IndexError, ... on non-numbers
        return text


def _fix_fracs(text: str) -> str:
    """Braces around one-character \\frac arguments: "\\frac12" -> "\\frac{1}{2}", "\\frac1{2}" -> "\\frac{1}{2}"."""
    head, *parts = text.split("\\frac")
    out = head
    for part in parts:
        out += "\\frac"
        if part.startswith("{"):
            out += part
        elif len(part) < 2:
            return text
        elif part[1] != "{":
            out += "{" + part[0] + "}{" + part[1] + "}" + part[2:]
        else:
            out += "{" + part[0] + "}" + part[1:]
    return out


def _fix_slash(text: str) -> str:
    """ "a/b" of two integers (or square roots) as "\\frac{a}{b}"; anything else unchanged."""
    if text.count("/") != 1:
        return text
    num, den = text.split("/")
    try:
        num = num if "sqrt" in num else int(num)
        den = den if "sqrt" in den else int(den)
    except ValueError:
        return text
    return f"\\frac{{{num}}}{{{den}}}" if text == f"{num}/{den}" else text


def normalize(text: str, skip_unit: bool = False) -> str:
    """The harness's `strip_string`, step by step: LaTeX spellings unified, units, dollars, percent signs,
    `\\text`, variable names and spaces dropped, number words as digits, fractions braced."""
    s = str(text).strip().replace("\n", "").rstrip(".").replace("\\!", "")
    s = _ARRAY_BEGIN.sub(r"\\begin{pmatrix}", s)
    s = s.replace("\\end{array}", "\\end{pmatrix}").replace("bmatrix", "pmatrix")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\neq", "\\ne").replace("\\leq", "\\le").replace("\\geq", "\\ge")
    s = s.replace("\\left", "").replace("\\right", "").replace("\\{", "{").replace("\\}", "}")
    without_unit = _TRAILING_TEXT.sub("", s).strip()  # a trailing \text{...} is a unit, unless it is all
    if without_unit:
        s = without_unit
    if not skip_unit:
        for _ in range(2):
            for pattern in _UNIT_PATTERNS:
                s = pattern.sub(r"\1\2", s) or s
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "").replace("$", "").replace("\\(", "").replace("\\)", "")
    s = _TEXT.sub(r"\1", _spell_out_number(s))
    for variable in _DROPPED_VARIABLES:
        s = s.replace(variable, "")
    s = s.replace("\\emptyset", "{}").replace("(-\\infty,\\infty)", "\\mathbb{R}")
    s = s.replace("\\%", "").replace("%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    # (the harness's unwrapping of "{x}", "(x)", "[x]" tests isalnum() on the bracketed text, so never applies)
    s = s.replace("infinity", "\\infty")
    if "\\infty" not in s:
        s = s.replace("inf", "\\infty")
    s = s.replace("+\\inity", "\\infty").replace("and", "").replace("\\mathbf", "")
    s = _MBOX.sub("", s)
    if "j" in s and "i" not in s:
        s = s.replace("j", "i")
    s = _ZEROS_AT_END.sub(r"\1", _ZEROS_BEFORE_NON_DIGIT.sub(r"\1\2", s))
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        s = sides[1]
    s = _SQRT_ARGUMENT.sub(r"\\sqrt{\1}", s).replace(" ", "")
    return _fix_slash(_fix_fracs(s))


# ---- comparison (math_equal) -----------------------------------------------------------------------------------
def _number(text: str) -> float | None:
    """A number (commas dropped; "12%" and "12\\%" read as 0.12), or None."""
    text = str(text).replace(",", "")
    try:
        return float(text)
    except ValueError:
        if text.endswith("%"):
            text = text[:-1].removesuffix("\\")
            try:
                return float(text) / 100
            except ValueError:
                pass
    return None


def _close(prediction: float, reference: float) -> bool:
    return math.isclose(reference, prediction, rel_tol=1e-4)


_UNSAFE_BUILTINS = {
    "eval", "exec", "compile", "open", "__import__", "getattr", "setattr", "delattr", "globals", "locals",
    "vars", "input", "breakpoint", "exit", "quit",
}  # fmt: skip


def _expression_namespace() -> dict:
    """sympy's default namespace for parse_expr (sympy's names, the builtin functions, max and min as Max and Min)
    without the builtins that reach outside the expression."""
    import sympy

    namespace = {name: getattr(sympy, name) for name in sympy.__all__}
    for name, value in vars(builtins).items():
        if isinstance(value, types.BuiltinFunctionType) and name not in _UNSAFE_BUILTINS:
            namespace[name] = value
    namespace.update(max=sympy.Max, min=sympy.Min, __builtins__={})
    return namespace


_NAMESPACE: dict | None = None


def _parse_expression(text: str):
    global _NAMESPACE
    from sympy.parsing.sympy_parser import parse_expr

    if "__" in text:
        raise ValueError("dunder names are not parsed")
    if _NAMESPACE is None:
        _NAMESPACE = _expression_namespace()
    return parse_expr(text, global_dict=dict(_NAMESPACE))


def _parse_latex(text: str):
    from sympy.parsing.latex import parse_latex

    return parse_latex(text)


def _latex2sympy(text: str):
    from latex2sympy2_extended.latex2sympy2 import latex2sympy

    return latex2sympy(text)


def _parse(text: str):
    """The first parse of sympy's LaTeX parser, its expression parser, then latex2sympy (each tried with "\\\\"
    as "\\" first); the text itself when none parses."""
    for parser in (_parse_latex, _parse_expression, _latex2sympy):
        for candidate in (text.replace("\\\\", "\\"), text):
            try:
                return parser(candidate)
            except Exception:  # noqa: BLE001, S112 - a parser that fails leaves the next one to try
                continue
    return text


def symbolic_equal(a: str, b: str) -> bool:
    """Whether two answers parse to equal expressions: same text or structure, a difference that simplifies to
    0, equations with the same |lhs - rhs|, numerically equal values, or matrices equal to 3 decimals."""
    from sympy import N, simplify

    x, y = _parse(a), _parse(b)
    if str(x) == str(y):
        return True
    if isinstance(x, str) or isinstance(y, str):  # an unparsed side is compared as text only
        return False
    checks = (
        lambda: x == y,
        lambda: x.equals(y) or simplify(x - y) == 0,
        lambda: abs(x.lhs - x.rhs).equals(abs(y.lhs - y.rhs)),
        lambda: _close(float(N(x)), float(N(y))),
        lambda: (
            x.shape == y.shape
            and x.applyfunc(lambda v: round(v, 3)).equals(y.applyfunc(lambda v: round(v, 3)))
        ),
    )
    for check in checks:
        try:
            if check():
                return True
        except Exception:  # noqa: BLE001, S112 - a comparison sympy cannot make is not a match
            continue
    return False


def _pmatrix(text: str) -> str:
    """ "{1,2}" groups as pmatrix rows, for a gold written as sets against a matrix prediction."""
    rows = re.findall(r"\{.*,.*\}", text.strip())
    return ", ".join(r"\begin{pmatrix}" + m.strip("{}").replace(",", "\\") + r"\end{pmatrix}" for m in rows)


def _matrix_rows(text: str) -> list[list[str]]:
    body = text[len("\\begin{pmatrix}") : -len("\\end{pmatrix}")]
    return [line.strip().split("&") for line in body.split("\\\\") if line.strip()]


def _is_matrix(text: str) -> bool:
    return text.startswith(("\\begin{pmatrix}", "\\begin{bmatrix}")) and text.endswith(
        ("\\end{pmatrix}", "\\end{bmatrix}")
    )


def _matrices_equal(prediction: str, reference: str) -> bool:
    pred_rows, ref_rows = _matrix_rows(prediction), _matrix_rows(reference)
    if len(pred_rows) != len(ref_rows):
        return False
    for pred_row, ref_row in zip(pred_rows, ref_rows, strict=True):
        if len(pred_row) != len(ref_row):
            return False
        if not all(math_equal(p, r) for p, r in zip(pred_row, ref_row, strict=True)):
            return False
    return True


def _difference(equation: str) -> str:
    left, right = equation.split("=")
    return f"{left.strip()} - ({right.strip()})"


def math_equal(prediction: str | None, reference: str | None) -> bool:
    """The harness's comparison of a normalised prediction with a normalised gold (see the module docstring)."""
    if prediction is None or reference is None:
        return False
    if prediction.strip().lower() == reference.strip().lower():
        return True
    pred_number, ref_number = _number(prediction), _number(reference)
    if pred_number is not None and ref_number is not None:
        return any(_close(pred_number, r) for r in (ref_number / 100, ref_number, ref_number * 100))
    if not prediction:
        return False
    reference, prediction = str(reference).strip(), str(prediction).strip()
    if "pmatrix" in prediction and "pmatrix" not in reference:
        reference = _pmatrix(reference)
    pred_text, ref_text = prediction, reference
    if (prediction.startswith("[") and prediction.endswith("]") and not reference.startswith("(")) or (
        prediction.startswith("(") and prediction.endswith(")") and not reference.startswith("[")
    ):
        pred_text, ref_text = pred_text.strip("[]()"), ref_text.strip("[]()")
    for bracket in "{}()":
        pred_text, ref_text = pred_text.replace(bracket, ""), ref_text.replace(bracket, "")
    if pred_text.lower() == ref_text.lower():
        return True
    if _BRACKETED.match(prediction) and _BRACKETED.match(reference):
        pred_parts, ref_parts = prediction[1:-1].split(","), reference[1:-1].split(",")
        if len(pred_parts) == len(ref_parts) and all(
            math_equal(p, r) for p, r in zip(pred_parts, ref_parts, strict=True)
        ):
            return True
    if _is_matrix(prediction) and _is_matrix(reference) and _matrices_equal(prediction, reference):
        return True
    if prediction.count("=") == 1 and reference.count("=") == 1:
        pred, ref = _difference(prediction), _difference(reference)
        if symbolic_equal(pred, ref) or symbolic_equal(f"-({pred})", ref):
            return True
    elif prediction.count("=") == 1 and len(prediction.split("=")[0].strip()) <= 2 and "=" not in reference:
        if math_equal(prediction.split("=")[1], reference):
            return True
    elif reference.count("=") == 1 and len(reference.split("=")[0].strip()) <= 2 and "=" not in prediction:
        if math_equal(prediction, reference.split("=")[1]):
            return True
    return symbolic_equal(prediction, reference)


class _OutOfTime(BaseException):
    """Raised by the timer; a BaseException so that no `except Exception` on the way swallows it."""


@contextmanager
def _time_limit(seconds: float):
    """Raise _OutOfTime after `seconds` (a real-time timer; only in the main thread, where signals arrive)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise _OutOfTime

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def is_correct(response: str, answer: str, dataset: str, timeout_s: float = TIMEOUT_S) -> tuple[str, bool]:
    """(prediction, correct) of a response against the suite's gold `answer` of `dataset` under the released rule;
    the prediction is "" for an empty response, and an answer whose comparison outlasts `timeout_s` is wrong."""
    prediction = released_prediction(response)
    if prediction is None:
        return "", False
    try:
        with _time_limit(timeout_s):
            return prediction, math_equal(prediction, released_gold(answer, dataset))
    except _OutOfTime:
        return prediction, False
