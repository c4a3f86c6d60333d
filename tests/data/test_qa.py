import argparse
import json

import pytest

from bmc.data.qa import load_questions, options_of, run, subsample
from bmc.io import InputError

GOOD = {"problem": "Sky colour?\nOptions:\nblue\nred", "solution": "The answer is blue", "answer": "blue"}


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def make_resources(tmp_path, extra_train=()):
    res = tmp_path / "res"
    write(
        res / "sft.jsonl",
        [
            {
                "prompt_id": f"qa_{i}",
                "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
            }
            for i in range(10)
        ],
    )
    for ds in ("ECQA", "OBQA"):
        write(res / ds / "train.jsonl", [GOOD] * 6 + list(extra_train))
        write(res / ds / "test.jsonl", [GOOD] * 5)
    return res


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "invalid JSON"),
        ({"problem": GOOD["problem"], "answer": "blue"}, "missing field 'solution'"),
        ({**GOOD, "answer": "green"}, "not one of the options"),
        ({**GOOD, "problem": "Sky colour?"}, "no 'Options:' list"),
        ({**GOOD, "solution": 3}, "should be str"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, bad, message):
    res = make_resources(tmp_path, extra_train=[bad])
    with pytest.raises(InputError, match=message) as err:
        load_questions(res, "ECQA", "train")
    assert err.value.line == 7 and err.value.path.endswith("ECQA/train.jsonl")


def test_answer_matching_ignores_case(tmp_path):
    res = make_resources(tmp_path, extra_train=[{**GOOD, "answer": "Blue"}])
    assert len(load_questions(res, "ECQA", "train")) == 7
    assert options_of(GOOD["problem"]) == ["blue", "red"]


def test_subsample_is_seeded_and_keeps_order():
    import random

    rows = list(range(100))
    a, b = subsample(rows, 10, random.Random(1)), subsample(rows, 10, random.Random(1))
    assert a == b == sorted(a) and len(a) == 10
    assert subsample(rows, None, random.Random(1)) == rows
    assert subsample(rows, 1000, random.Random(1)) == rows


def test_stage_writes_every_file(tmp_path):
    res = make_resources(tmp_path)
    out = tmp_path / "out"
    params = {"seed": 0, "datasets": ["ECQA", "OBQA"], "sft_n": 4, "prefs_n": 3, "test_n": 2}
    run(argparse.Namespace(resources=str(res), out=str(out), params=json.dumps(params)))
    summary = json.loads((out / "summary.json").read_text())
    assert summary == {"sft": 4, "prefs": {"ECQA": 3, "OBQA": 3}, "test": {"ECQA": 2, "OBQA": 2}}
    prefs = [json.loads(line) for line in (out / "prefs.jsonl").read_text().splitlines()]
    assert prefs[0]["id"].startswith("ECQA-train-") and prefs[0]["source"]["file"] == "ECQA/train.jsonl"
    assert len({p["id"] for p in prefs}) == 6


def test_shipped_subsets_are_valid():
    from pathlib import Path

    res = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "data" / "qa"
    for ds in ("ECQA", "QASC", "OBQA", "ARC"):
        assert len(load_questions(res, ds, "train")) == 300
        assert len(load_questions(res, ds, "test")) == 200
