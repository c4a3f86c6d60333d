"""UltraFeedback pairs (paper-scale instruction following): rows checked, pairs given, not sampled."""

import json

import pytest

from bmc.cli import main
from bmc.config import ConfigError, IFData, job_settings
from bmc.data.pairs import given_pairs
from bmc.data.ultrafeedback import preference_rows
from bmc.io import read_jsonl

from ..test_smoke_dag import REPO

RESOURCES = REPO / "workflow" / "resources" / "data" / "if"


def row(i, prompt="Write a haiku {}.", chosen="Good haiku {}.", rejected="Bad haiku {}.", **extra):
    p = prompt.format(i)
    return {
        "prompt": p,
        "prompt_id": f"p{i}",
        "chosen": [{"role": "user", "content": p}, {"role": "assistant", "content": chosen.format(i)}],
        "rejected": [{"role": "user", "content": p}, {"role": "assistant", "content": rejected.format(i)}],
        "score_chosen": 8.0,
        "score_rejected": 3.0,
        **extra,
    }


def test_rows_become_preference_rows_with_their_rejected_reply():
    bad_turns = row(3)
    bad_turns["rejected"] = bad_turns["rejected"][:1]  # no assistant turn
    other_prompt = row(4)
    other_prompt["rejected"][0]["content"] = "another prompt"
    rows = [row(0), row(1, rejected="Good haiku {}."), row(2, chosen="  "), bad_turns, other_prompt, row(0)]
    prefs, skipped = preference_rows(rows, "uf.jsonl")
    assert [p["id"] for p in prefs] == ["ultrafeedback-p0"]
    assert prefs[0]["solution"] == "Good haiku 0." and prefs[0]["rejected"] == "Bad haiku 0."
    assert prefs[0]["question"] == "Write a haiku 0." and prefs[0]["source"]["score_chosen"] == 8.0
    assert skipped == {
        "chosen and rejected replies are the same": 1,
        "empty chosen turn": 1,
        "rejected is not one user turn then one assistant turn": 1,
        "chosen and rejected answer different prompts": 1,
        "duplicate prompt_id": 1,
    }


def if_settings(**params) -> IFData:
    base = {"datasets": ["alpaca_eval"], "seed": 0, "sft_n": 0, "prefs_n": None, "test_n": None}
    return job_settings(IFData, json.dumps(base | params), "data.if")


def test_source_settings_are_checked():
    settings = if_settings(source="ultrafeedback")
    assert settings.dataset == "HuggingFaceH4/ultrafeedback_binarized" and settings.split == "train_prefs"
    with pytest.warns(UserWarning, match=r"\['max_reply_chars'\] are not settings of source ultrafeedback"):
        switched = if_settings(source="ultrafeedback", max_reply_chars=9)
    assert "max_reply_chars" not in switched.model_fields_set
    with pytest.raises(ConfigError, match=r"data\.if\.source: Input should be 'sharegpt' or 'ultrafeedback'"):
        if_settings(source="hh-rlhf")


def test_given_pairs_keep_the_datasets_y_l():
    prefs = [
        {
            "id": "a",
            "task": "if",
            "dataset": "uf",
            "question": "Q",
            "solution": "W",
            "answer": "",
            "rejected": "L",
        },
        {
            "id": "b",
            "task": "if",
            "dataset": "uf",
            "question": "Q",
            "solution": "W",
            "answer": "",
            "rejected": " ",
        },
        {
            "id": "c",
            "task": "if",
            "dataset": "uf",
            "question": "Q",
            "solution": "W",
            "answer": "",
            "rejected": "W",
        },
    ]
    pairs, summary = given_pairs(prefs)
    assert pairs == [
        {
            "id": "a",
            "task": "if",
            "dataset": "uf",
            "prompt": [{"role": "user", "content": "Q"}],
            "chosen": "W",
            "rejected": "L",
            "answer": "",
            "source": None,
        }
    ]
    assert summary["asked"] == 3 and summary["kept"] == 1 and summary["empty"] == 1
    assert summary["same as chosen"] == 1


def test_stage_reads_local_files_and_pairs_follow(tmp_path):
    files = tmp_path / "train_prefs.jsonl"
    files.write_text("".join(json.dumps(row(i)) + "\n" for i in range(12)))
    params = {
        "seed": 0,
        "datasets": ["alpaca_eval"],
        "sft_n": 0,  # the SFT model is given
        "prefs_n": 5,
        "test_n": 2,
        "source": "ultrafeedback",
        "data_files": str(files),
    }
    out = tmp_path / "out"
    main(["data-if", "--resources", str(RESOURCES), "--out", str(out), "--params", json.dumps(params)])
    prefs = read_jsonl(out / "prefs.jsonl")
    assert len(prefs) == 5 and read_jsonl(out / "sft.jsonl") == []
    assert all(p["rejected"].startswith("Bad haiku") for p in prefs)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["source"] == "ultrafeedback" and summary["prefs"]["ultrafeedback"] == {
        "n": 5,
        "available": 12,
    }
    pairs_out = tmp_path / "pairs.jsonl"
    main(
        [
            "pairs-given",
            "--prefs",
            str(out / "prefs.jsonl"),
            "--out",
            str(pairs_out),
            "--summary",
            str(tmp_path / "s.json"),
        ]
    )
    pairs = read_jsonl(pairs_out)
    assert [p["id"] for p in pairs] == [p["id"] for p in prefs]
    assert all(p["chosen"].startswith("Good") and p["rejected"].startswith("Bad") for p in pairs)
