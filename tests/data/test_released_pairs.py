"""The authors' released bridged pairs (parquet, alignment-handbook's layout) as bridged pairs."""

import json
from pathlib import Path

import pandas as pd
import pytest

from bmc.cli import main
from bmc.data.released_pairs import EDITOR, released_pairs
from bmc.io import InputError


def turns(user: str, reply: str) -> list[dict]:
    return [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]


def handbook_row(i: int, chosen: str, rejected: str) -> dict:
    question = f"What is {i} + 1?"
    return {
        "prompt": question,
        "prompt_id": f"p{i}",
        "chosen": turns(question, chosen),
        "rejected": turns(question, rejected),
        "messages": turns(question, chosen),
        "score_chosen": 8.0,
        "score_rejected": 2.0,
    }


def write_parquet(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_parquet(path)
    return path


def test_handbook_pairs_become_bridged_pairs(tmp_path):
    rows = [
        handbook_row(1, "1 + 1 = 2. The answer is 2", "1 + 1 = 3. The answer is 3"),
        handbook_row(2, "same", "same"),  # no preference: skipped
        handbook_row(3, "3 + 1 = 4. The answer is 4", " "),  # empty reply: skipped
        handbook_row(4, "4 + 1 = 5. The answer is 5", "4 + 1 = 6. The answer is 6"),
    ]
    write_parquet(tmp_path / "release/qa_dpo_bmc/train-00000-of-00001.parquet", rows)
    out, summary_path = tmp_path / "bridged/pairs.jsonl", tmp_path / "bridged/summary.json"
    main(["released-pairs", "--task", "qa", "--release", str(tmp_path / "release")]
         + ["--out", str(out), "--summary", str(summary_path)])  # fmt: skip
    pairs = [json.loads(line) for line in out.read_text().splitlines()]
    assert [p["id"] for p in pairs] == ["qa-released-1", "qa-released-2"]
    first = pairs[0]
    assert first["prompt"] == [{"role": "user", "content": "What is 1 + 1?"}]
    assert (first["chosen"], first["rejected"]) == (
        "1 + 1 = 2. The answer is 2",
        "1 + 1 = 3. The answer is 3",
    )
    assert first["task"] == "qa" and first["answer"] is None and first["chosen_original"] is None
    assert first["bridge"] == {
        "strategy": "released",
        "editor": EDITOR,
        "status": "given",
        "reason": None,
        "cache_key": None,
    }
    assert first["source"]["row"] == 1 and first["source"]["prompt_id"] == "p1"
    assert pairs[1]["source"]["row"] == 4
    summary = json.loads(summary_path.read_text())
    assert summary["pairs"] == 2 and summary["rows"] == 4 and summary["status"] == {"given": 2}
    assert summary["skipped"] == {"same as chosen": 1, "empty reply": 1} and summary["strategy"] == "released"


def test_instruction_following_reads_every_train_shard_and_not_the_test_split(tmp_path):
    folder = tmp_path / "ultrafeedback_dpo_bmc"
    write_parquet(folder / "train-00000-of-00002.parquet", [handbook_row(1, "a", "b")])
    write_parquet(
        folder / "train-00001-of-00002.parquet", [handbook_row(2, "c", "d"), handbook_row(3, "e", "f")]
    )
    write_parquet(folder / "test-00000-of-00001.parquet", [handbook_row(9, "x", "y")])
    pairs, summary = released_pairs(tmp_path, "if")
    assert [(p["id"], p["chosen"]) for p in pairs] == [
        ("if-released-1", "a"),
        ("if-released-2", "c"),
        ("if-released-3", "e"),
    ]
    assert all(p["task"] == "if" for p in pairs) and len(summary["files"]) == 2


def test_plain_strings_with_a_prompt_column_are_read_too(tmp_path):
    rows = [{"prompt": "Solve 2x = 4.", "chosen": "x = 2. The answer is: $2$.", "rejected": "x = 3."}]
    write_parquet(tmp_path / "math_dpo_bmc/train-00000-of-00001.parquet", rows)
    (pair,), _ = released_pairs(tmp_path, "math")
    assert pair["prompt"][0]["content"] == "Solve 2x = 4." and pair["rejected"] == "x = 3."


@pytest.mark.parametrize(
    "rows, message",
    [
        ([{"question": "q", "good": "a", "bad": "b"}], r"missing columns \['chosen', 'rejected'\].*found \['question', 'good', 'bad'\]"),
        ([{"chosen": [{"role": "user", "content": "q"}], "rejected": "b"}], "ending with the assistant's"),
        ([{"chosen": [{"role": "assistant", "content": "a"}], "rejected": "b"}], r"no user turn .*columns: \['chosen', 'rejected'\]"),
        (
            [{"chosen": turns("q1", "a"), "rejected": turns("q2", "b")}],
            "chosen and rejected answer different user turns",
        ),
        (
            [{"chosen": [{"role": "system", "content": "s"}, *turns("q", "a")], "rejected": turns("q", "b")}],
            "at most one user turn",
        ),
    ],
)  # fmt: skip
def test_other_layouts_fail_naming_the_file_and_columns(tmp_path, rows, message):
    path = write_parquet(tmp_path / "qa_dpo_bmc/train-00000-of-00001.parquet", rows)
    with pytest.raises(InputError, match=message) as err:
        released_pairs(tmp_path, "qa")
    assert err.value.path == str(path)


def test_a_missing_folder_is_reported(tmp_path):
    with pytest.raises(InputError, match=r"no train-\*.parquet .*training_data/math_dpo_bmc"):
        released_pairs(tmp_path, "math")
