"""Stage data-if: ShareGPT pool (truncated file, filters, no test prompts), disjoint split, test sets."""

import json

import pytest

from bmc.cli import main
from bmc.config import ConfigError, IFData, job_settings
from bmc.data.instruct import build_pool, iter_json_array, split_pool
from bmc.data.records import QUESTION, SFT_EXAMPLE, TEST_ITEM
from bmc.io import read_jsonl

from ..test_smoke_dag import REPO

RESOURCES = REPO / "workflow" / "resources" / "data" / "if"
LIMITS = {"max_prompt_chars": 60, "max_reply_chars": 80, "min_ascii": 0.9}


def conv(i, human="Question {}?", gpt="Answer {}.", first="human"):
    second = "gpt" if first == "human" else "human"
    return {
        "id": f"c{i}",
        "conversations": [
            {"from": first, "value": human.format(i)},
            {"from": second, "value": gpt.format(i)},
        ],
    }


def test_a_truncated_array_yields_every_complete_object():
    text = json.dumps([conv(0), conv(1), conv(2)])
    assert [r["id"] for r in iter_json_array(text)] == ["c0", "c1", "c2"]
    assert [r["id"] for r in iter_json_array(text[:-20])] == ["c0", "c1"]  # cut inside the last object


def test_pool_filters_and_excludes_test_prompts_and_duplicates():
    records = [
        conv(0),
        conv(1, first="gpt"),  # starts with the assistant
        conv(2, gpt="x" * 200),  # reply too long
        conv(3, human="Quelle est la capitale ? 日本語日本語日本語"),  # mostly non-ASCII
        conv(4, human="What is 2+2?"),  # a test prompt (case and spaces ignored)
        conv(5, human="Question 0?"),  # duplicate of c0's prompt
        conv(6, gpt="   "),
    ]
    limits = IFData.model_validate(
        {"datasets": ["alpaca_eval"], "seed": 0, "sft_n": 1, "prefs_n": 1, "test_n": 1, **LIMITS}
    )
    pool, skipped = build_pool(iter(records), limits, exclude={"what is 2+2?"})
    assert [p["id"] for p in pool] == ["sharegpt-c0"]
    assert skipped == {
        "not a user turn then an assistant turn": 1,
        "too long": 1,
        "mostly non-ASCII": 1,
        "duplicate or test prompt": 2,
        "empty turn": 1,
    }


def test_split_is_disjoint_seeded_and_checks_size():
    pool = [{"id": str(i)} for i in range(20)]
    sft, prefs = split_pool(pool, 8, 5, seed=0)
    assert len(sft) == 8 and len(prefs) == 5 and not {p["id"] for p in sft} & {p["id"] for p in prefs}
    assert (sft, prefs) == split_pool(pool, 8, 5, seed=0) != split_pool(pool, 8, 5, seed=1)
    with pytest.raises(ValueError, match="only 20 are usable"):
        split_pool(pool, 15, 6, seed=0)


def test_params_are_checked():
    base = {"seed": 0, "sft_n": 1, "prefs_n": 1, "test_n": 1}
    with pytest.raises(
        ConfigError, match=r"data\.if\.datasets\.0: Input should be 'alpaca_eval' or 'arena_hard'"
    ):
        job_settings(IFData, json.dumps({**base, "datasets": ["mt_bench"]}), "data.if")
    with pytest.raises(
        ConfigError, match=r"data\.if\.max_reply_chars: Input should be greater than or equal to 1"
    ):
        job_settings(
            IFData, json.dumps({**base, "datasets": ["arena_hard"], "max_reply_chars": 0}), "data.if"
        )


def test_stage_writes_pairs_inputs_and_both_test_sets(tmp_path):
    sharegpt = tmp_path / "sharegpt.json"
    sharegpt.write_text(json.dumps([conv(i) for i in range(30)])[:-10])  # truncated like the packaged file
    params = {
        "seed": 0,
        "datasets": ["alpaca_eval", "arena_hard"],
        "sft_n": 10,
        "prefs_n": 5,
        "test_n": 3,
        **LIMITS,
    }
    out = tmp_path / "out"
    main(
        [
            "data-if",
            "--resources",
            str(RESOURCES),
            "--out",
            str(out),
            "--params",
            json.dumps(params),
            "--sharegpt",
            str(sharegpt),
        ]
    )
    sft, prefs = read_jsonl(out / "sft.jsonl", SFT_EXAMPLE), read_jsonl(out / "prefs.jsonl", QUESTION)
    assert len(sft) == 10 and len(prefs) == 5
    assert not {r["id"] for r in sft} & {r["id"] for r in prefs}
    assert all(p["task"] == "if" and p["answer"] == "" and p["solution"].startswith("Answer") for p in prefs)
    assert [m["role"] for m in sft[0]["messages"]] == ["user", "assistant"]
    alpaca, arena = (
        read_jsonl(out / "test" / "alpaca_eval.jsonl", TEST_ITEM),
        read_jsonl(out / "test" / "arena_hard.jsonl", TEST_ITEM),
    )
    assert len(alpaca) == len(arena) == 3
    assert all(r["baseline"] and r["question"] for r in alpaca) and all(r["question"] for r in arena)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["pool"]["n"] == 29 and summary["test"]["alpaca_eval"] == {"n": 3, "available": 805}
    assert summary["test"]["arena_hard"]["available"] == 500
