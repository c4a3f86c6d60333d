import argparse
import importlib.util
import json
import random
import sys
from pathlib import Path

import pytest

from bmc.config import ConfigError, MathData, job_settings
from bmc.data.math import load_test, load_training, parse_cot, split_pool
from bmc.data.records import QUESTION, SFT_EXAMPLE, TEST_ITEM
from bmc.data.schemas import check_conversation
from bmc.evaluation.math_answers import is_correct
from bmc.io import InputError, read_jsonl
from bmc.stages.data_math import run

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "workflow" / "resources" / "data" / "math"
FINETUNE, COT = "math/finetune_data_sampled.jsonl", "math/cot_pretrain_data_sampled.jsonl"
TESTS = {
    "gsm8k": lambda i: {"question": f"Ducks {i}?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1:,}", "idx": i},
    "math-oai": lambda i: {"problem": f"Find $x$ {i}.", "solution": "...", "answer": f"\\frac{{{i}}}{{7}}"},
    "mawps": lambda i: {"input": f"Joan found {i} shells.", "target": i + 0.5, "type": "x"},
    "svamp": lambda i: {"Body": f"Paul has {i} crayons.", "Question": "How many? ", "Answer": float(i)},
    "asdiv": lambda i: {
        "body": f"{i} red apples.",
        "question": "How many apples?",
        "answer": f"{i} (apples)",
    },
}
PARAMS = {"seed": 0, "datasets": ["gsm8k", "svamp"], "sft_n": 5, "prefs_n": 4, "test_n": 3}


def cot_row(i: int, header: str = "## Solution") -> dict:
    return {
        "input": f"## Question\nWhat is {i} + 1?\n\n{header}\n",
        "output": f"{i} + 1 = {i + 1}\nThe answer is: ${i + 1}$.",
    }


def code_row(i: int) -> dict:
    return {
        "input": f"## Question\nWhat is {i}?\n\n## Code Solution\n",
        "output": "```python\nprint(1)\n```\nThe answer is $1$.",
    }


def no_cue_row(i: int) -> dict:
    return {"input": f"## Question\nWhy {i}?\n\n## Solution\n", "output": "Because. So it is 3."}


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def make_release(tmp_path, finetune=None, cot=None, n_test=8) -> Path:
    """A release-layout `math/` folder; returns the release root."""
    release = tmp_path / "release"
    if finetune is None:
        finetune = [cot_row(i) if i % 3 else code_row(i) for i in range(1, 13)] + [
            cot_row(99, "## Step-by-Step Solution")
        ]
    write(release / FINETUNE, finetune)
    write(release / COT, cot if cot is not None else [no_cue_row(1), cot_row(50), no_cue_row(2), cot_row(51)])
    for name, make in TESTS.items():
        write(release / "math" / name / "test.jsonl", [make(i) for i in range(1, n_test + 1)])
    (release / "LICENSE-bmc-repo").write_text("Apache License 2.0\n")
    return release


def make_shipped(release: Path, out: Path) -> Path:
    """The shipped layout: every answered chain-of-thought row of `release` and its even test rows."""
    rows = []
    for file in (FINETUNE, COT):
        for line, text in enumerate((release / file).read_text().splitlines(), 1):
            row = json.loads(text)
            if "Code" not in row["input"] and "The answer is" in row["output"]:
                rows.append({**row, "file": file, "line": line})
    write(out / "train.jsonl", rows)
    for name in TESTS:  # every other test row, so shipped and released line numbers differ
        lines = (release / "math" / name / "test.jsonl").read_text().splitlines()
        write(
            out / name / "test.jsonl",
            [{**json.loads(t), "line": i} for i, t in enumerate(lines, 1) if i % 2 == 0],
        )
    return out


def run_stage(res, out, **params):
    params = {**PARAMS, **params}
    run(argparse.Namespace(resources=str(res), out=str(out), params=json.dumps(params)))
    # each file read as the stages downstream read it
    records = {"sft.jsonl": SFT_EXAMPLE, "prefs.jsonl": QUESTION} | {
        f"test/{d}.jsonl": TEST_ITEM for d in params["datasets"]
    }
    files = {name: read_jsonl(out / name, required=record) for name, record in records.items()}
    return files, json.loads((out / "summary.json").read_text())


def test_split_is_disjoint_seeded_and_deterministic(tmp_path):
    release = make_release(tmp_path)
    first, summary = run_stage(release / "math", tmp_path / "a")
    assert first == run_stage(release / "math", tmp_path / "b")[0]
    sft_ids, prefs_ids = {r["id"] for r in first["sft.jsonl"]}, {r["id"] for r in first["prefs.jsonl"]}
    assert len(sft_ids) == 5 and len(prefs_ids) == 4 and not sft_ids & prefs_ids
    other = run_stage(release / "math", tmp_path / "c", seed=1)[0]
    assert {r["id"] for r in other["sft.jsonl"]} != sft_ids
    assert summary["pool"] == {"n": 11, "skipped_code": 4, "skipped_no_answer": 2}
    assert summary["sft"] == {"n": 5, "available": 11}
    assert summary["prefs"]["math-train"] == {"n": 4, "available": 6}
    assert summary["test"]["svamp"] == {"n": 3, "available": 8} and set(summary["test"]) == {"gsm8k", "svamp"}


def test_null_sizes_split_the_whole_pool_and_too_small_a_pool_is_refused():
    pool = [{"id": str(i)} for i in range(9)]
    sft, prefs = split_pool(pool, None, None, 0)
    assert len(sft) == 4 and len(prefs) == 5 and {q["id"] for q in sft + prefs} == {str(i) for i in range(9)}
    assert split_pool(pool, 2, None, 0)[1] == [q for q in pool if q not in split_pool(pool, 2, None, 0)[0]]
    assert split_pool(pool, 3, 2, 7) == split_pool(pool, 3, 2, 7) != split_pool(pool, 3, 2, 8)
    assert sft == sorted(sft, key=lambda q: int(q["id"]))  # kept in pool order
    with pytest.raises(ValueError, match="sft_n 5 \\+ prefs_n 5 .* only 9"):
        split_pool(pool, 5, 5, 0)


def test_rows_are_parsed_into_question_solution_answer(tmp_path):
    pool, _ = load_training(make_release(tmp_path) / "math")
    by_id = {q["id"]: q for q in pool}
    first = by_id["math-finetune-2"]
    assert first["question"] == "What is 2 + 1?" and first["answer"] == "3"
    assert first["solution"] == cot_row(2)["output"] and first["source"] == {"file": FINETUNE, "line": 2}
    assert by_id["math-finetune-13"]["question"] == "What is 99 + 1?"  # Step-by-Step header
    assert [q["id"] for q in pool][-2:] == ["math-cot_pretrain-2", "math-cot_pretrain-4"]
    assert not any(q["id"] == "math-finetune-3" for q in pool)  # a code row
    boxed = parse_cot({"input": "## Question\nq\n\n## Solution\n", "output": "The answer is: \\boxed{6}"})
    assert boxed["answer"] == "6"  # the released extraction order: the boxed content first


def test_ids_are_the_same_from_the_shipped_layout_and_the_release(tmp_path):
    release = make_release(tmp_path)
    shipped = make_shipped(release, tmp_path / "shipped")
    params = {"datasets": list(TESTS), "test_n": None}
    from_release, summary = run_stage(release / "math", tmp_path / "a", **params)
    from_shipped, shipped_summary = run_stage(shipped, tmp_path / "b", **params)
    for name, rows in from_release.items():
        expected = [r for r in rows if r["source"]["line"] % 2 == 0] if name.startswith("test/") else rows
        assert from_shipped[name] == expected
    assert from_shipped["test/gsm8k.jsonl"][0]["id"] == "gsm8k-test-2" and summary["pool"]["n"] == 11
    assert shipped_summary["pool"] == {"n": 11, "skipped_code": 0, "skipped_no_answer": 0}
    assert run_stage(release, tmp_path / "c", **params)[0] == from_release  # the release's root works too
    asdiv = from_release["test/asdiv.jsonl"][0]
    assert asdiv["id"] == f"asdiv-test-{asdiv['source']['line']}" and asdiv["answer"] == str(
        asdiv["source"]["line"]
    )
    assert from_release["test/svamp.jsonl"][0]["question"].endswith("crayons. How many?")


def test_ship_script_output_is_byte_identical_and_read_like_the_release(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("ship_math_data", ROOT / "scripts" / "ship_math_data.py")
    ship = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ship)
    release = make_release(tmp_path, cot=[no_cue_row(1)] + [cot_row(50 + i) for i in range(6)])
    monkeypatch.setattr(ship, "TEST_N", 5)
    monkeypatch.setattr(ship, "TRAIN_FILES", {FINETUNE: None, COT: 4})
    contents = []
    for out in (tmp_path / "s1", tmp_path / "s2"):
        monkeypatch.setattr(ship, "OUT", out)
        monkeypatch.setattr(sys, "argv", ["ship_math_data.py", str(release), "--seed", "3"])
        ship.main()
        contents.append({p.relative_to(out): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()})
    assert contents[0] == contents[1] and len(contents[0]) == 6
    rows = [json.loads(t) for t in (tmp_path / "s1" / "train.jsonl").read_text().splitlines()]
    assert len(rows) == 9 + 4 and {r["file"] for r in rows[9:]} == {COT}
    shipped_pool, _ = load_training(tmp_path / "s1")
    release_pool = {q["id"]: q for q in load_training(release / "math")[0]}
    assert all(release_pool[q["id"]] == q for q in shipped_pool)


def test_code_and_unanswered_rows_are_skipped_in_the_release_but_not_in_the_shipped_folder(tmp_path):
    release = make_release(tmp_path, finetune=[code_row(1), cot_row(2), no_cue_row(3)], cot=[code_row(4)])
    pool, skipped = load_training(release / "math")
    assert [q["id"] for q in pool] == ["math-finetune-2"]
    assert skipped == {"skipped_code": 2, "skipped_no_answer": 1}
    shipped = tmp_path / "shipped"
    write(
        shipped / "train.jsonl",
        [{**cot_row(2), "file": FINETUNE, "line": 2}, {**no_cue_row(3), "file": FINETUNE, "line": 3}],
    )
    with pytest.raises(InputError, match="final answer") as err:
        load_training(shipped)
    assert err.value.line == 2 and err.value.path.endswith("train.jsonl")


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "invalid JSON"),
        ({"input": "## Question\nq\n\n## Solution\n"}, "missing field 'output'"),
        ({"input": "What is 2?\n\n## Solution\n", "output": "The answer is: $2$."}, "'## Question\\\\n'"),
        ({"input": "## Question\nWhat is 2?\n", "output": "The answer is: $2$."}, "## Solution"),
        (
            {"input": "## Question\n \n\n## Solution\n", "output": "The answer is: $2$."},
            "question .* is empty",
        ),
        ({"input": "## Question\nq\n\n## Solution\n", "output": "The answer is: $$."}, "non-empty X"),
        ({"input": "## Question\nq\n\n## Solution\n", "output": 2}, "'output' should be str"),
    ],
)
def test_malformed_training_row_names_file_and_line(tmp_path, bad, message):
    release = make_release(tmp_path, cot=[cot_row(1), "", bad])  # a blank line does not shift the count
    with pytest.raises(InputError, match=message) as err:
        load_training(release / "math")
    assert err.value.line == 3 and err.value.path.endswith("cot_pretrain_data_sampled.jsonl")
    assert str(err.value).startswith(f"{release / COT}:3: ")


@pytest.mark.parametrize(
    "row, message",
    [
        ({**cot_row(1), "file": "math/other.jsonl", "line": 1}, "'file' should be one of"),
        ({**cot_row(1), "file": FINETUNE, "line": 0}, "'line' should be a positive integer"),
        ({**cot_row(1), "file": FINETUNE}, "missing field 'line'"),
        ({**cot_row(2), "file": FINETUNE, "line": 1}, "duplicate id 'math-finetune-1'"),
    ],
)
def test_bad_shipped_training_row_is_refused(tmp_path, row, message):
    write(tmp_path / "train.jsonl", [{**cot_row(1), "file": FINETUNE, "line": 1}, row])
    with pytest.raises(InputError, match=message):
        load_training(tmp_path)


@pytest.mark.parametrize(
    "name, bad, message",
    [
        ("gsm8k", {"question": "q", "answer": "no marker"}, "no gold answer"),
        ("gsm8k", {"question": " ", "answer": "#### 3"}, "empty question"),
        ("mawps", {"input": "q", "target": "3"}, "'target' should be int or float"),
        ("svamp", {"Body": "b", "Answer": 3.0}, "missing field 'Question'"),
        ("math-oai", {"problem": "p", "answer": "3", "line": -2}, "'line' should be a positive integer"),
    ],
)
def test_malformed_test_row_names_file_and_line(tmp_path, name, bad, message):
    release = make_release(tmp_path)
    path = release / "math" / name / "test.jsonl"
    write(path, [TESTS[name](1), bad])
    with pytest.raises(InputError, match=message) as err:
        load_test(release / "math", name)
    assert err.value.line == 2 and err.value.path == str(path)


def test_missing_test_set_and_missing_training_files_are_reported(tmp_path):
    with pytest.raises(InputError, match="missing test set svamp"):
        load_test(SHIPPED, "svamp")
    with pytest.raises(InputError, match="neither train.jsonl"):
        load_training(tmp_path)


def test_nothing_is_written_when_a_later_file_is_bad(tmp_path):
    release = make_release(tmp_path)
    write(release / "math" / "svamp" / "test.jsonl", [TESTS["svamp"](1), {"Body": "b"}])
    with pytest.raises(InputError, match=r"svamp/test.jsonl:2: "):
        run_stage(release / "math", tmp_path / "out")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    "params, message",
    [
        ({"datasets": ["gsm8k"], "train_n": 3}, r"data\.math\.train_n: unknown key"),
        ({"datasets": ["gsm8k", "aqua"]}, r"data\.math\.datasets\.1: Input should be 'gsm8k'"),
        ({"datasets": ["GSM8K"]}, r"data\.math\.datasets\.0: Input should be 'gsm8k'"),
        ({"datasets": []}, r"data\.math\.datasets: List should have at least 1 item"),
        ({"datasets": ["mawps", "mawps"]}, "twice"),
        (
            {"datasets": ["mawps"], "sft_n": -1},
            r"data\.math\.sft_n: Input should be greater than or equal to 0",
        ),
        ({"datasets": ["mawps"], "seed": "0"}, r"data\.math\.seed: Input should be a valid integer"),
        ({"datasets": ["mawps"], "seed": None}, r"data\.math\.seed: Input should be a valid integer"),
    ],
)
def test_bad_params_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        job_settings(
            MathData, json.dumps({"seed": 0, "sft_n": 1, "prefs_n": 1, "test_n": 1, **params}), "data.math"
        )


def test_sizes_may_be_null_and_source_is_accepted():
    params = {
        "datasets": ["gsm8k"],
        "source": "somewhere",
        "seed": 0,
        "sft_n": None,
        "prefs_n": 2,
        "test_n": None,
    }
    settings = job_settings(MathData, json.dumps(params), "data.math")
    assert settings.sft_n is None and settings.test_n is None and settings.prefs_n == 2


def test_shipped_subsets_are_valid_and_small():
    pool, skipped = load_training(SHIPPED)
    assert len(pool) == 370 and skipped == {"skipped_code": 0, "skipped_no_answer": 0}
    assert {q["source"]["file"] for q in pool} == {FINETUNE, COT}
    for name in ("gsm8k", "math-oai", "mawps"):
        questions = load_test(SHIPPED, name)
        assert len(questions) == 200 and all(q["answer"].strip() and q["question"].strip() for q in questions)
    assert sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) < 2_500_000
    assert (SHIPPED / "LICENSE-bmc-repo").is_file() and "seed 0" in (SHIPPED / "README.md").read_text()


def test_shipped_answers_grade_their_own_solutions_as_correct(tmp_path):
    files, _ = run_stage(SHIPPED, tmp_path / "out", datasets=["gsm8k"], sft_n=30, prefs_n=30, test_n=2)
    pool = {q["id"]: q for q in load_training(SHIPPED)[0]}
    prefs = files["prefs.jsonl"]
    assert all(check_conversation(row) is None for row in files["sft.jsonl"])
    sampled = prefs[:15] + [pool[row["id"]] for row in files["sft.jsonl"][:15]]
    sampled += random.Random(0).sample(list(pool.values()), 20)
    wrong = [q["id"] for q in sampled if not is_correct(q["solution"], q["answer"])]
    assert not wrong
    assert not is_correct(prefs[0]["solution"], "-987654321")  # the check can fail
