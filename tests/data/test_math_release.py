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

from .test_math import PARAMS, cot_row, make_release, make_shipped, write

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


def handbook_row(question: str, prompt_id: str | None = None, **columns) -> dict:
    """A row of the release's preference sets in alignment-handbook's layout (ỹ_w chosen, y_l rejected)."""
    row = {
        "prompt": question,
        "chosen": [{"role": "user", "content": question}, {"role": "assistant", "content": "fixed"}],
        "rejected": [{"role": "user", "content": question}, {"role": "assistant", "content": "wrong"}],
        "score_chosen": 10.0,
        **columns,
    }
    return row if prompt_id is None else {**row, "prompt_id": prompt_id}


def prefs_release(tmp_path, prompts: list[str]) -> Path:
    release = make_release(tmp_path)
    write_parquet(release / "math_sft" / "train-00000-of-00001.parquet", sft_rows(4))
    rows = [handbook_row(q, prompt_id=f"h{i}") for i, q in enumerate(prompts, 1)]
    write_parquet(release / "math_dpo_bmc" / "train-00000-of-00001.parquet", rows)
    return release


def test_preference_questions_are_those_of_math_dpo_bmc_with_their_gold_solutions(tmp_path):
    prompts = ["Compute 3 * 2.", "What is 50 + 1?", "  Compute 3 *\n2. ", "Compute 1 * 2."]
    release = prefs_release(tmp_path, prompts)
    files, summary = run_stage(release, tmp_path / "out", sft_n=None, prefs_n=None)
    prefs = files["prefs.jsonl"]
    # each distinct question once (whitespace aside), in row order; y_w and the answer from math_sft or the pool
    assert [q["question"] for q in prefs] == ["Compute 3 * 2.", "What is 50 + 1?", "Compute 1 * 2."]
    assert [q["id"] for q in prefs] == ["math_dpo_bmc-1", "math_dpo_bmc-2", "math_dpo_bmc-4"]
    assert prefs[0]["solution"] == "3 * 2 = 6. The answer is: $6$." and prefs[0]["answer"] == "6"
    assert prefs[1]["solution"] == cot_row(50)["output"] and prefs[1]["answer"] == "51"
    assert prefs[0]["source"] == {
        "file": "math_dpo_bmc/train-00000-of-00001.parquet",
        "row": 1,
        "prompt_id": "h1",
        "gold": "math_sft-s3",
    }
    assert prefs[1]["source"]["gold"] == "math-cot_pretrain-2"
    assert summary["prefs"]["math-train"] == {
        "n": 3,
        "available": 3,
        "source": str(release / "math_dpo_bmc"),
        "rows": 4,
        "repeated": 1,
        "gold_from": {"math_sft": 2, "pool": 1},
        "without_gold": 0,
    }
    assert len(files["sft.jsonl"]) == 4  # SFT stays the math SFT set
    sub, _ = run_stage(release, tmp_path / "sub", sft_n=None, prefs_n=2)
    assert len(sub["prefs.jsonl"]) == 2 and {q["id"] for q in sub["prefs.jsonl"]} <= {q["id"] for q in prefs}


def test_a_boxed_reference_gives_the_gold_answer_and_a_bare_number_does_not():
    from bmc.data.math import reference_answer

    assert reference_answer("So $x = 2$, and $\\boxed{\\frac{1}{2}}$.") == "\\frac{1}{2}"
    assert reference_answer("Thus the answer is: $12$.") == "12"
    assert reference_answer("It is 12.") == ""


def test_a_question_without_gold_fails_naming_it_unless_skipped(tmp_path):
    release = prefs_release(tmp_path, ["Compute 3 * 2.", "Prove that 7 is prime.", "Compute 9 * 2."])
    with pytest.raises(
        InputError, match=r"2 of 3 questions have no gold solution .*row 2: 'Prove that 7"
    ) as err:
        run_stage(release, tmp_path / "a", sft_n=None, prefs_n=None)
    assert err.value.path == str(release / "math_dpo_bmc")
    files, summary = run_stage(release, tmp_path / "b", sft_n=None, prefs_n=None, prefs_without_gold="skip")
    assert [q["question"] for q in files["prefs.jsonl"]] == ["Compute 3 * 2."]
    assert summary["prefs"]["math-train"]["without_gold"] == 2


@pytest.mark.parametrize(
    "row, message",
    [
        ({"question": "q", "answer": "a"}, r"missing columns \['chosen', 'rejected'\].*found \['question', 'answer'\]"),
        (handbook_row("q", rejected=[{"role": r, "content": "x"} for r in ("system", "user", "assistant")]),
         r"`rejected` should hold at most one user turn .*columns: \['prompt', 'chosen', 'rejected', 'score_chosen'\]"),
    ],
)  # fmt: skip
def test_a_preference_file_in_another_layout_fails_naming_file_and_columns(tmp_path, row, message):
    release = make_release(tmp_path)
    path = write_parquet(release / "math_dpo_bmc" / "train-00000-of-00001.parquet", [row])
    with pytest.raises(InputError, match=message) as err:
        run_stage(release, tmp_path / "out", sft_n=None, prefs_n=None)
    assert err.value.path == str(path)
