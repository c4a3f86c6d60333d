"""Math test questions are worded as the authors' evaluation words them (`parse_question` of their
eval/math/parser.py): small cases that always run, and every released row against their own code when a release
folder with it is here (/work/shared/data/bmc-release, then resources/bmc-release; skipped, saying why, without)."""

import json
import sys
from pathlib import Path

import pytest

from bmc.data.math import load_test, question_text
from bmc.evaluation.released_code import released_test_file

from .test_math import make_release

ROOT = Path(__file__).resolve().parents[2]
RELEASES = [Path("/work/shared/data/bmc-release"), ROOT / "resources/bmc-release"]


@pytest.mark.parametrize(
    ("name", "row", "question"),
    [
        # SVAMP: the body gets a "." when it has none
        ("svamp", {"Body": "Paul has 3 crayons ", "Question": " How many? ", "Answer": 3.0}, "Paul has 3 crayons. How many?"),
        ("svamp", {"Body": "Paul has 3 crayons.", "Question": "How many?", "Answer": 3.0}, "Paul has 3 crayons. How many?"),
        # ASDiv: body and question stripped before they are joined; a yes/no gold asks for "(Yes or No)"
        ("asdiv", {"body": "Tessa has 4 apples, ", "question": "how many?", "answer": "4 (apples)"}, "Tessa has 4 apples, how many?"),
        ("asdiv", {"body": "Tessa has 4 apples.", "question": "Does she have enough?", "answer": "No"}, "Tessa has 4 apples. Does she have enough? (Yes or No)"),
        ("asdiv", {"body": "A.", "question": "Is it?", "answer": "Yes (it is)"}, "A. Is it? (Yes or No)"),
        # any set: a true/false gold asks for "(True or False)"
        ("gsm8k", {"question": "Is 4 even?", "answer": "4 = 2 * 2\n#### True"}, "Is 4 even? (True or False)"),
        ("gsm8k", {"question": " Ducks? ", "answer": "1 + 1\n#### 2"}, "Ducks?"),
    ],
)  # fmt: skip
def test_questions_are_worded_as_the_released_evaluation(name, row, question):
    assert question_text(row, name) == question


def test_the_test_set_carries_the_released_wording(tmp_path):
    release = make_release(tmp_path, n_test=2)
    svamp = release / "math" / "svamp" / "test.jsonl"
    svamp.write_text(
        json.dumps({"Body": "Paul has 3 crayons", "Question": "How many?", "Answer": 3.0}) + "\n"
    )
    assert [q["question"] for q in load_test(release, "svamp")] == ["Paul has 3 crayons. How many?"]


@pytest.mark.parametrize("dataset", ["gsm8k", "math-oai", "mawps", "svamp", "asdiv", "tabmwp"])
def test_every_released_question_equals_the_authors_wording(dataset, monkeypatch):
    usable = [
        r
        for r in RELEASES
        if (r / "eval/math/parser.py").is_file() and released_test_file(r, "math", dataset).is_file()
    ]
    if not usable:
        pytest.skip(f"no release folder with eval/math/parser.py and math/{dataset}/test.jsonl ({RELEASES})")
    monkeypatch.syspath_prepend(str(usable[0] / "eval" / "math"))
    for name in ("parser", "utils", "examples"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    from parser import parse_question  # the authors' own

    lines = released_test_file(usable[0], "math", dataset).read_text(encoding="utf-8").splitlines()
    rows = [(line, json.loads(text)) for line, text in enumerate(lines, 1) if text.strip()]
    differ = [
        (line, ours, theirs)
        for line, row in rows
        if (ours := question_text(row, dataset)) != (theirs := parse_question(dict(row), dataset))
    ]
    assert rows and not differ, differ[:10]
