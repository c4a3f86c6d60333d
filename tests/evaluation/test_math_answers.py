"""The corrected math grader (the suite's own rule; the released one is tested in test_math_released.py): answers
in LaTeX, fractions, units, currency and separators; gold answers per test set."""

import pytest

from bmc.evaluation.math_answers import extract_answer_span, gold_answer, is_correct


@pytest.mark.parametrize(
    "response,gold",
    [
        ("Half of it.\nThe answer is: $\\frac{1}{2}$.", "0.5"),
        ("The answer is: 1/2", "\\frac{1}{2}"),
        ("The answer is: $\\dfrac{3}{4}$.", "0.75"),
        ("She makes 9 * 2 = 18.\nThe answer is: $18.", "18"),
        ("The answer is: \\$1,000", "1000"),
        ("The answer is: 18 dollars.", "18"),
        ("The answer is: $\\boxed{5}$", "5"),
        ("The answer is: $(3, \\pi/2)$.", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("The answer is: $2\\sqrt{2}$", "\\sqrt{8}"),
        ("First try: The answer is 3. No, recount.\nThe answer is: 43", "43"),
        ("The answer is: (6, 31, -1)", "(6,31,-1)"),
        ("The answer is: $(a+5)(b+2)$", "(a+5)(b+2)"),
        ("The answer is: yes.", "Yes"),
    ],
)
def test_equivalent_answers_are_correct(response, gold):
    assert is_correct(response, gold)


@pytest.mark.parametrize(
    "response,gold",
    [
        ("The answer is: 17", "18"),
        ("The answer is: $(3, \\pi)$", "\\left( 3, \\frac{\\pi}{2} \\right)"),
        ("The total is 18.", "17"),  # no cue: the last number counts
        ("The answer is: ", "18"),
        ("The answer is: 18. Wait, the answer is 20", "18"),  # the last cue (either case) counts
        ("The answer is 18, so $\\boxed{20}$", "18"),  # a boxed answer comes first
        ("The answer is: No", "Yes"),
        ("The answer is: __import__('os').system('exit 1')", "0"),
    ],
)
def test_other_answers_are_wrong(response, gold):
    assert not is_correct(response, gold)


def test_corrected_answer_span_is_box_then_first_sentence_after_the_cue_then_last_number():
    assert extract_answer_span("x\nThe answer is: $\\frac{1}{2}$.") == "$\\frac{1}{2}$"
    assert extract_answer_span("The answer is 3. The answer is 4.") == "4"
    assert extract_answer_span("so the answer is 7.") == "7"  # lower-case cue
    # boxed first (nested braces kept, the last box), then the cue, then the last number
    assert extract_answer_span("The answer is 3, i.e. $\\boxed{\\frac{1}{2}}$ or \\boxed{x^{2}}") == "x^{2}"
    assert extract_answer_span("$\\boxed 5$ apples") == "5"
    assert extract_answer_span("She has 1,200 and gives -3.5 away") == "-3.5"
    assert extract_answer_span("no answer at all") == ""


@pytest.mark.parametrize(
    "response,gold",
    [
        ("The total is 18 pages.", "18"),  # no cue, no box: the last number
        ("Therefore the answer is: 18", "18"),  # lower-case cue
        ("So $\\boxed{18}$.", "18"),
        ("The answer is: $p - q$.", "p - q"),  # gold without dollars, prediction with
        ("The answer is: p-q", "$p - q$"),
        ("The answer is: 18. Wait, the answer is 20", "20"),  # the last cue counts
    ],
)
def test_corrected_extraction_finds_the_answer(response, gold):
    assert is_correct(response, gold)


def test_gold_answers_of_the_released_test_sets():
    assert gold_answer({"answer": "9 * 2 = $<<9*2=18>>18.\n#### 1,018"}, "gsm8k") == "1,018"  # as written
    assert gold_answer({"answer": "\\frac{14}{3}"}, "math-oai") == "\\frac{14}{3}"
    assert gold_answer({"target": 43.0}, "mawps") == "43"
    assert gold_answer({"target": 2.5}, "mawps") == "2.5"
    assert gold_answer({"Answer": 145.0}, "svamp") == "145"
    assert gold_answer({"answer": "9 (apples)"}, "asdiv") == "9"
    with pytest.raises(ValueError, match="unknown math test set"):
        gold_answer({}, "tabmwp-missing")
