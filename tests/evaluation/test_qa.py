import json

import pytest

from bmc.cli import main
from bmc.evaluation.qa import extract_prediction, is_correct
from bmc.io import InputError


@pytest.mark.parametrize(
    ("response", "expected"),
    [
        ("Let's think step by step.\nBanks keep money. The answer is bank.", "bank"),
        # the last cue wins, even when an earlier one names another option
        ("The answer is river. No wait, rivers do not hold money. The answer is Bank", "bank"),
        ("Stars emit light.\nThe answer is   Sun.  \n", "sun"),
        ('The answer is: "Sound waves".', "sound waves"),
        ("The answer is “electricity”.", "electricity"),
        # ARC answers are full option texts with capitals and inner punctuation
        ("The answer is The Sun's gravity pulls on the Earth.", "the sun's gravity pulls on the earth"),
        ("Plants need sunlight, so the answer is water.", ""),  # the cue is case-sensitive
        ("I am not sure which one it is.", ""),
        ("", ""),
        ("The answer is", ""),
    ],
)
def test_extract_prediction(response, expected):
    assert extract_prediction(response) == expected


def test_is_correct_exact_match_after_normalising_gold():
    assert is_correct("bank", "Bank ")
    assert is_correct(extract_prediction("The answer is Photosynthesis."), "photosynthesis")
    assert not is_correct("bank account", "bank")
    assert not is_correct("", "")  # a missing answer never counts
    assert not is_correct(extract_prediction("no cue here: bank"), "bank")


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def test_evaluate_stage_writes_scores_and_records(tmp_path):
    gens = tmp_path / "generations.jsonl"
    _write_jsonl(
        gens,
        [
            {
                "id": "a",
                "dataset": "ARC",
                "prompt": "p",
                "response": "The answer is Gravity.",
                "answer": "gravity",
            },
            {
                "id": "b",
                "dataset": "ARC",
                "prompt": "p",
                "response": "The answer is wind",
                "answer": "Erosion",
            },
            {"id": "c", "dataset": "ARC", "prompt": "p", "response": "erosion, I think", "answer": "erosion"},
            {
                "id": "d",
                "dataset": "ARC",
                "prompt": "p",
                "response": "So The answer is erosion",
                "answer": "Erosion",
            },
        ],
    )
    out = tmp_path / "eval" / "scores.json"
    main(["evaluate", "--generations", str(gens), "--out", str(out), "--model-name", "tiny",
          "--method", "DPO-BMC", "--seed", "3", "--task", "qa", "--dataset", "ARC"])  # fmt: skip
    scores = json.loads(out.read_text())
    assert scores == {
        "model": "tiny",
        "method": "DPO-BMC",
        "seed": 3,
        "task": "qa",
        "dataset": "ARC",
        "metric": "exact_match",
        "score": 50.0,
        "n": 4,
        "correct": 2,
        # the released rule keeps the prediction's period and compares with the gold as written
        "score_released": 0.0,
        "correct_released": 0,
        "parsed": 3,
        "released_rule": "reimplementation",  # no release folder given
    }
    records = [json.loads(line) for line in (out.parent / "records.jsonl").read_text().splitlines()]
    assert [(r["id"], r["prediction"], r["correct"], r["prediction_released"], r["correct_released"])
            for r in records] == [
        ("a", "gravity", True, "gravity.", False),
        ("b", "wind", False, "wind", False),
        ("c", "", False, "", False),
        ("d", "erosion", True, "erosion", False),
    ]  # fmt: skip
    assert records[1]["answer"] == "Erosion"


def test_evaluate_stage_rejects_bad_rows(tmp_path):
    gens = tmp_path / "generations.jsonl"
    _write_jsonl(
        gens,
        [
            {"id": "a", "dataset": "ARC", "response": "The answer is x", "answer": "x"},
            {"id": "b", "dataset": "ARC"},
        ],
    )
    args = ["evaluate", "--generations", str(gens), "--out", str(tmp_path / "s.json"), "--model-name", "m",
            "--method", "SFT", "--seed", "0", "--task", "qa", "--dataset", "ARC"]  # fmt: skip
    with pytest.raises(InputError, match=r"generations.jsonl:2: missing field 'response'"):
        main(args)
    _write_jsonl(gens, [{"id": "a", "dataset": "OBQA", "response": "The answer is x", "answer": "x"}])
    with pytest.raises(InputError, match=r":1: row is from dataset 'OBQA', expected 'ARC'"):
        main(args)
    assert not (tmp_path / "s.json").exists()
