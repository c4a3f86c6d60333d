"""The released math rule's re-implementation (bmc.evaluation.math_released) on the cases that tell it from the
corrected rule; test_released_agreement.py compares it with the authors' harness itself."""

import json
import sys
from pathlib import Path

import pytest

from bmc.data.tasks import grade
from bmc.evaluation import math_released
from bmc.evaluation.math_answers import gold_answer
from bmc.evaluation.released_code import released_test_file


@pytest.mark.parametrize(
    ("response", "gold", "prediction", "correct"),
    [
        # everything after the last cue, line breaks removed: trailing text spoils the answer
        ("The answer is: $18$.\nSo the result is 18.", "18", "18Sotheresultis18", False),
        ("The answer is 16 dollars.", "16", "16dollars", False),  # "dollars" is not among its unit words
        ("The answer is 16 feet.", "16", "16", True),  # "feet" is
        ("The answer is: $18$.", "18", "18", True),
        ("the answer is 7", "7", "7", True),
        ("The answer is 3. Actually the answer is 4.", "4", "4", True),  # the last cue
        ("14001", "14000", "14001", True),  # relative tolerance 1e-4
        ("14002", "14000", "14002", False),
        ("The answer is 25%", "0.25", "25", True),  # the gold, / 100 or * 100
        ("The answer is 0.25", "25", "0.25", True),
        ("The answer is 1,600", "1600", "1,600", True),
        ("The answer is: $\\dfrac{1}{2}$", "0.5", "\\frac{1}{2}", True),  # symbolic, via sympy
        ("The answer is 1/2", "\\frac12", "\\frac{1}{2}", True),
        ("So $\\boxed{\\frac{x+2}{7}}$ and more", "\\frac{x}{7}+\\frac{2}{7}", "\\frac{x+2}{7}", True),
        ("The answer is twelve", "12", "12", True),  # number words (word2number)
        ("The answer is $x = 5$", "5", "5", True),
        ("The answer is (1, 2)", "(1,2)", "(1,2)", True),
        ("We get 3 + 4 = 7 and so 8", "8", "8", True),  # no cue: the last number
        ("", "0", "", False),
        ("The answer is \\boxed{", "5", "", False),
    ],
)
def test_released_rule(response, gold, prediction, correct):
    assert math_released.is_correct(response, gold, "gsm8k") == (prediction, correct)
    assert grade("math", response, gold, rule="released", dataset="gsm8k") == (prediction, correct)


def test_corrected_and_released_rules_differ_where_the_authors_code_does():
    assert grade("math", "The answer is 16 dollars.", "16") == ("16 dollars", True)
    assert grade("math", "The answer is 16 dollars.", "16", rule="released")[1] is False
    assert grade("math", "14001", "14000")[1] is False
    assert grade("math", "14001", "14000", rule="released")[1] is True


def test_math_gold_is_normalised_once_the_others_twice():
    # normalising "x \\in [-2,7]" drops its spaces; a second pass drops "x\\in" too
    assert math_released.released_gold("x \\in [-2,7]", "math-oai") == "x\\in[-2,7]"
    assert math_released.released_gold("x \\in [-2,7]", "gsm8k") == "[-2,7]"
    assert math_released.released_gold("3/4", "tabmwp") == "0.75"  # the harness divides a fraction out


def test_a_comparison_past_the_time_limit_is_wrong(monkeypatch):
    def slow(prediction, reference):
        import time

        time.sleep(5)
        return True

    monkeypatch.setattr(math_released, "math_equal", slow)
    assert math_released.is_correct("The answer is 5", "5", "gsm8k", timeout_s=0.2) == ("5", False)


def test_model_text_reaches_no_builtin_that_leaves_the_expression(tmp_path):
    # the harness hands text sympy's LaTeX parser rejects to sympy's expression parser, i.e. to eval()
    marker = tmp_path / "written"
    for attack in (
        f"open('{marker}','w').write('x')",
        "__import__('os').system('touch " + str(marker) + "')",
    ):
        try:
            math_released._parse_expression(attack)
        except Exception:  # noqa: BLE001, S110 - refused or failed, either way nothing ran
            pass
        assert math_released.is_correct(f"The answer is {attack}", "1", "gsm8k")[1] is False
    assert not marker.exists()
    assert math_released._parse_expression("max(3,4)") == 4  # sympy's default namespace: max is Max


# ---- the gold answers against the authors' parse_ground_truth on every released test row -------------------------
RELEASES = [
    Path("/work/shared/data/bmc-release"),
    Path(__file__).resolve().parents[2] / "resources/bmc-release",
]


@pytest.mark.parametrize("dataset", ["gsm8k", "math-oai", "mawps", "svamp", "asdiv", "tabmwp"])
def test_released_gold_equals_the_authors_on_every_released_test_row(dataset, monkeypatch):
    usable = [
        r
        for r in RELEASES
        if (r / "eval/math/parser.py").is_file() and released_test_file(r, "math", dataset).is_file()
    ]
    if not usable:
        pytest.skip(f"no release folder with eval/math/parser.py and math/{dataset}/test.jsonl ({RELEASES})")
    release = usable[0]
    monkeypatch.syspath_prepend(str(release / "eval" / "math"))
    for name in ("parser", "utils", "examples"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    from parser import parse_ground_truth  # the authors' (their parser.py needs no latex2sympy)

    lines = released_test_file(release, "math", dataset).read_text(encoding="utf-8").splitlines()
    differ = []
    for line, text in enumerate(lines, 1):
        if not text.strip():
            continue
        row = json.loads(text)
        gt_cot, gt = parse_ground_truth(dict(row), dataset)
        theirs = parse_ground_truth({"gt_cot": gt_cot, "gt": gt}, dataset)[1]  # as their evaluate.py does
        ours = math_released.released_gold(gold_answer(row, dataset).strip(), dataset)
        if ours != theirs:
            differ.append((line, ours, theirs))
    assert not differ, differ[:20]
