import argparse
import json
from pathlib import Path

import pytest

from bmc.config import ConfigError, QAData, job_settings
from bmc.data.qa import load_questions, load_sft, subsample
from bmc.data.records import QUESTION, SFT_EXAMPLE, TEST_ITEM
from bmc.data.schemas import options_of
from bmc.io import InputError, read_jsonl
from bmc.stages.data_qa import run

SHIPPED = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "data" / "qa"
GOOD = {"problem": "Sky colour?\nOptions:\nblue\nred", "solution": "The answer is blue", "answer": "blue"}


def sft_row(i: int, answer: str = "blue") -> dict:
    return {
        "prompt_id": f"qa_{i}",
        "messages": [
            {"role": "user", "content": f"Sky colour {i}?\nOptions:\nblue\nred"},
            {"role": "assistant", "content": f"Let's think step by step.\nThe answer is {answer}"},
        ],
    }


def write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))


def make_resources(tmp_path, extra_train=(), n_train=6, folders=("ECQA", "OBQA")):
    res = tmp_path / "res"
    write(res / "sft.jsonl", [sft_row(i) for i in range(10)])
    for ds in folders:
        write(res / ds / "train.jsonl", [GOOD] * n_train + list(extra_train))
        write(res / ds / "test.jsonl", [GOOD] * 5)
    return res


def run_stage(res, out, **params):
    params = {"seed": 0, "datasets": ["ECQA", "OBQA"], "sft_n": 4, "prefs_n": 3, "test_n": 2, **params}
    run(argparse.Namespace(resources=str(res), out=str(out), params=json.dumps(params)))
    # each file read as the stages downstream read it
    records = {"sft.jsonl": SFT_EXAMPLE, "prefs.jsonl": QUESTION} | {
        f"test/{d}.jsonl": TEST_ITEM for d in params["datasets"]
    }
    return {name: read_jsonl(out / name, required=record) for name, record in records.items()}


@pytest.mark.parametrize(
    "bad, message",
    [
        ("{not json", "invalid JSON"),
        ({"problem": GOOD["problem"], "answer": "blue"}, "missing field 'solution'"),
        ({**GOOD, "answer": "green"}, "'green' is not one of the options"),
        ({**GOOD, "problem": "Sky colour?"}, "no 'Options:' list"),
        ({**GOOD, "solution": 3}, "'solution' should be str"),
        ({**GOOD, "solution": "  "}, "'solution' is empty"),
        ({**GOOD, "line": "7"}, "'line' should be a positive integer"),
    ],
)
def test_malformed_row_names_file_and_line(tmp_path, bad, message):
    res = make_resources(tmp_path, extra_train=["", bad])  # a blank line does not shift the count
    with pytest.raises(InputError, match=message) as err:
        load_questions(res, "ECQA", "train")
    assert err.value.line == 8 and err.value.path.endswith("ECQA/train.jsonl")
    assert str(err.value).startswith(f"{res / 'ECQA' / 'train.jsonl'}:8: ")


@pytest.mark.parametrize(
    "bad, message",
    [
        ({"prompt_id": "x", "messages": []}, "one user turn then one assistant turn"),
        ({"messages": sft_row(0)["messages"]}, "missing field 'prompt_id'"),
        (sft_row(99, answer="green"), "'green' is not one of the options"),
        (
            {**sft_row(99), "messages": [sft_row(0)["messages"][0], {"role": "assistant", "content": "hi"}]},
            "end with",
        ),
        (sft_row(3), "duplicate id 'qa_3'"),
    ],
)
def test_malformed_sft_row_is_refused(tmp_path, bad, message):
    res = make_resources(tmp_path)
    write(res / "sft.jsonl", [sft_row(i) for i in range(10)] + [bad])
    with pytest.raises(InputError, match=message) as err:
        load_sft(res)
    assert err.value.path.endswith("sft.jsonl")


def test_answer_matching_ignores_case_and_ids_use_released_lines(tmp_path):
    res = make_resources(tmp_path, extra_train=[{**GOOD, "answer": "Blue", "line": 4242}])
    rows = load_questions(res, "OBQA", "train")
    assert len(rows) == 7 and options_of(GOOD["problem"]) == ["blue", "red"]
    assert rows[0]["id"] == "OBQA-train-1" and rows[0]["source"] == {
        "file": "OpenbookQA/train.jsonl",
        "line": 1,
    }
    assert rows[-1]["id"] == "OBQA-train-4242"


def test_release_folder_names_are_accepted(tmp_path):
    res = make_resources(tmp_path, folders=("OpenbookQA",))
    assert len(load_questions(res, "OBQA", "test")) == 5
    with pytest.raises(InputError, match="no folder for dataset 'ARC'"):
        load_questions(res, "ARC", "test")


def test_subsample_is_seeded_keeps_order_and_all_means_all():
    assert subsample(list(range(5)), 0, 1, "x") == []  # 0 means none, as in the math and IF splits
    rows = list(range(100))
    a, b = subsample(rows, 10, 1, "ECQA-train"), subsample(rows, 10, 1, "ECQA-train")
    assert a == b == sorted(a) and len(set(a)) == 10
    assert subsample(rows, 10, 2, "ECQA-train") != a and subsample(rows, 10, 1, "QASC-train") != a
    assert subsample(rows, None, 1, "x") == subsample(rows, 1000, 1, "x") == rows


def test_stage_writes_every_file_and_is_deterministic(tmp_path):
    res = make_resources(tmp_path, n_train=40)
    first = run_stage(res, tmp_path / "a")
    assert first == run_stage(res, tmp_path / "b")
    # a dataset's subset does not depend on which other datasets are listed
    assert run_stage(res, tmp_path / "c", datasets=["ECQA"])["prefs.jsonl"] == first["prefs.jsonl"][:3]
    assert run_stage(res, tmp_path / "d", seed=1)["prefs.jsonl"] != first["prefs.jsonl"]
    summary = json.loads((tmp_path / "a" / "summary.json").read_text())
    assert summary["sft"] == {"n": 4, "available": 10}
    assert summary["prefs"]["OBQA"] == {"n": 3, "available": 40} and summary["test"]["ECQA"]["n"] == 2
    prefs = first["prefs.jsonl"]
    assert [p["dataset"] for p in prefs] == ["ECQA"] * 3 + ["OBQA"] * 3 and len({p["id"] for p in prefs}) == 6
    assert set(prefs[0]) == {"id", "task", "dataset", "question", "solution", "answer", "source"}
    assert set(first["sft.jsonl"][0]) == {"id", "messages"}


def test_nothing_is_written_when_a_later_file_is_bad(tmp_path):
    res = make_resources(tmp_path)
    write(res / "OBQA" / "test.jsonl", [GOOD, {**GOOD, "answer": "green"}])
    with pytest.raises(InputError, match=r"OBQA/test.jsonl:2: "):
        run_stage(res, tmp_path / "out")
    assert not (tmp_path / "out").exists()


SIZES = {"seed": 0, "sft_n": None, "prefs_n": None, "test_n": None}


@pytest.mark.parametrize(
    "params, message",
    [
        ({"datasets": ["ECQA"], "sft": 3}, r"data\.qa\.sft: unknown key"),
        ({"datasets": []}, r"data\.qa\.datasets: List should have at least 1 item"),
        ({"datasets": ["ECQA", "ECQA"]}, r"data\.qa\.datasets: .*twice"),
        (
            {"datasets": ["ECQA"], "test_n": -1},
            r"data\.qa\.test_n: Input should be greater than or equal to 0",
        ),
        (
            {"datasets": ["ECQA", "GSM8K"]},
            r"data\.qa\.datasets\.1: Input should be 'ECQA', 'QASC', 'OBQA' or 'ARC'",
        ),
    ],
)
def test_bad_params_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        job_settings(QAData, json.dumps({**SIZES, **params}), "data.qa")


def test_shipped_subsets_are_valid_and_small():
    assert len(load_sft(SHIPPED)) == 2000
    for ds in ("ECQA", "QASC", "OBQA", "ARC"):
        assert len(load_questions(SHIPPED, ds, "train")) == 300
        assert len(load_questions(SHIPPED, ds, "test")) == 200
    assert sum(f.stat().st_size for f in SHIPPED.rglob("*") if f.is_file()) < 3_000_000
    assert (SHIPPED / "LICENSE-bmc-repo").is_file() and "seed" in (SHIPPED / "README.md").read_text()
