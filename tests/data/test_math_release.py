"""Paper-scale math data: TabMWP's test set and the authors' math SFT set (`math_sft/*.parquet`)."""

import argparse
import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from bmc.data.math import load_math_sft, load_test
from bmc.evaluation.math_answers import gold_answer, is_correct
from bmc.io import InputError
from bmc.stages.data_math import run

from .test_math import PARAMS, make_release, make_shipped, write

TABLE = "Name | Stamps\nAnn | 1,200\nBob | 800"
# hand-made rows in TabMWP's schema (the real test file is only in the full release)
TABMWP = [
    {
        "question": "How many more stamps does Ann have than Bob?",
        "choices": None,
        "answer": "400",
        "unit": None,
        "table_title": "Stamp collections",
        "table": TABLE,
        "table_for_pd": {"Name": ["Ann", "Bob"], "Stamps": ["1,200", "800"]},
        "row_num": 3,
        "column_num": 2,
        "solution": "1,200 - 800 = 400.",
        "ans_type": "integer_number",
        "grade": 3,
        "split": "test",
    },
    {
        "question": "Who has more stamps?",
        "choices": ["Ann", "Bob"],
        "answer": "Ann",
        "table_title": None,
        "table": TABLE,
        "solution": "Ann has 1,200.",
        "ans_type": "extractive_text",
    },
    {
        "question": "How many stamps do they have together?",
        "choices": None,
        "answer": "2,000",
        "table_title": "",
        "table": TABLE,
        "solution": "2,000.",
        "ans_type": "integer_number",
    },
    {
        "question": "What fraction of the stamps are Bob's?",
        "choices": None,
        "answer": "2/5",
        "table_title": "Stamps",
        "table": TABLE,
        "solution": "800/2,000 = 2/5.",
        "ans_type": "decimal_number",
    },
    {
        "question": "What percent of the stamps are Ann's?",
        "choices": None,
        "answer": "60%",
        "table_title": "Stamps",
        "table": TABLE,
        "solution": "60%.",
        "ans_type": "decimal_number",
    },
]


def run_stage(resources: Path, out: Path, **params) -> tuple[dict, dict]:
    params = {**PARAMS, **params}
    run(argparse.Namespace(resources=str(resources), out=str(out), params=json.dumps(params)))
    names = ["sft.jsonl", "prefs.jsonl"] + [f"test/{d}.jsonl" for d in params["datasets"]]
    files = {name: [json.loads(line) for line in (out / name).read_text().splitlines()] for name in names}
    return files, json.loads((out / "summary.json").read_text())


def sft_rows(n: int, **extra) -> list[dict]:
    return [
        {
            "prompt_id": f"s{i}",
            "messages": [
                {"role": "user", "content": f"Compute {i} * 2."},
                {"role": "assistant", "content": f"{i} * 2 = {2 * i}. The answer is: ${2 * i}$."},
            ],
            **extra,
        }
        for i in range(1, n + 1)
    ]


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_tabmwp_questions_are_worded_as_the_released_evaluation(tmp_path):
    release = make_release(tmp_path)
    write(release / "math" / "tabmwp" / "test.jsonl", TABMWP)
    questions = load_test(release, "tabmwp")
    assert questions[0]["question"] == (
        'Read the following table regarding "Stamp collections" and answer a question:\n'
        f"{TABLE}\nHow many more stamps does Ann have than Bob?"
    )
    assert questions[1]["question"] == (
        f"Read the following table and answer a question:\n{TABLE}\nWho has more stamps?"
        " Please select from the following options: ['Ann', 'Bob']"
    )
    assert questions[2]["question"].startswith("Read the following table and answer")  # empty title
    assert [q["answer"] for q in questions] == ["400", "Ann", "2000", "2/5", "0.6"]
    assert questions[0]["id"] == "tabmwp-test-1" and questions[0]["source"] == {
        "file": "math/tabmwp/test.jsonl",
        "line": 1,
    }


@pytest.mark.parametrize(
    "answer, ans_type, gold",
    [
        ("1,000", "integer_number", "1000"),
        ("3/4", "decimal_number", "3/4"),
        ("12%", "decimal_number", "0.12"),
        ("2.50", "decimal_number", "2.5"),
        ("-7", "integer_number", "-7"),
        ("yes", "boolean_text", "yes"),
        ("Mr. Lee's class", "other_text", "Mr. Lee's class"),
    ],
)
def test_tabmwp_gold_answers(answer, ans_type, gold):
    assert gold_answer({"answer": answer, "ans_type": ans_type}, "tabmwp") == gold


def test_tabmwp_gold_answers_grade_as_the_released_numbers():
    assert is_correct(
        "So 3 / 4 of them. The answer is 0.75.",
        gold_answer({"answer": "3/4", "ans_type": "decimal_number"}, "tabmwp"),
    )
    assert is_correct("The answer is 1,000.", "1000") and is_correct("The answer is 12%.", "0.12")
    assert not is_correct("The answer is 0.7.", "3/4") and not is_correct("The answer is Bob.", "Ann")
    with pytest.raises(ValueError, match="is not a number"):
        gold_answer({"answer": "many", "ans_type": "integer_number"}, "tabmwp")


def test_a_bad_tabmwp_row_names_file_and_line(tmp_path):
    release = make_release(tmp_path)
    path = release / "math" / "tabmwp" / "test.jsonl"
    write(path, [TABMWP[0], {**TABMWP[1], "choices": "Ann, Bob"}])
    with pytest.raises(InputError, match="'choices' should be list or NoneType") as err:
        load_test(release, "tabmwp")
    assert err.value.line == 2 and err.value.path == str(path)


def test_math_sft_gives_the_sft_set_and_the_whole_pool_the_preference_questions(tmp_path):
    release = make_release(tmp_path)
    write_parquet(release / "math_sft" / "train-00000-of-00001.parquet", sft_rows(7, extra_column=1))
    files, summary = run_stage(release, tmp_path / "a", sft_n=None, prefs_n=None)
    assert [r["id"] for r in files["sft.jsonl"]] == [f"math_sft-s{i}" for i in range(1, 8)]
    assert files["sft.jsonl"][0]["messages"][1]["content"] == "1 * 2 = 2. The answer is: $2$."
    assert len(files["prefs.jsonl"]) == 11  # the whole pool: SFT does not draw from it
    assert summary["sft"] == {"n": 7, "available": 7, "source": str(release / "math_sft")}
    assert summary["prefs"]["math-train"] == {"n": 11, "available": 11}
    # sizes subsample each set; the math/ folder itself finds its sibling math_sft/ too
    files, summary = run_stage(release / "math", tmp_path / "b", sft_n=3, prefs_n=4)
    assert (
        len(files["sft.jsonl"]) == 3 and len(files["prefs.jsonl"]) == 4 and summary["sft"]["available"] == 7
    )


def test_without_math_sft_and_in_the_shipped_layout_the_pool_is_split_as_before(tmp_path):
    release = make_release(tmp_path)
    without, summary = run_stage(release, tmp_path / "a")
    assert "source" not in summary["sft"] and summary["sft"] == {"n": 5, "available": 11}
    shipped = make_shipped(release, tmp_path / "shipped")
    write_parquet(shipped / "math_sft" / "train-00000-of-00001.parquet", sft_rows(3))
    shutil.copytree(shipped / "math_sft", tmp_path / "math_sft")
    from_shipped, shipped_summary = run_stage(shipped, tmp_path / "b")
    assert from_shipped["sft.jsonl"] == without["sft.jsonl"] and "source" not in shipped_summary["sft"]


@pytest.mark.parametrize(
    "rows, message, line",
    [
        ([{"prompt": "q", "completion": "a"}], r"expected a `messages` column .*columns: \['prompt', 'completion'\]", None),
        (
            [{"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "q"}]}],
            "one user turn then one assistant turn",
            1,
        ),
        ([{"prompt_id": "a", "messages": sft_rows(1)[0]["messages"]}] * 2, "duplicate id 'math_sft-a'", None),
    ],
)  # fmt: skip
def test_a_math_sft_file_in_another_layout_is_refused(tmp_path, rows, message, line):
    path = write_parquet(tmp_path / "math_sft" / "train-00000-of-00001.parquet", rows)
    with pytest.raises(InputError, match=message) as err:
        load_math_sft(tmp_path / "math_sft")
    assert err.value.line == line and str(path.parent) in err.value.path
