"""Reference answers of the instruction-following test sets (the paper's GPT-4 Turbo / GPT-4-0314 baselines)."""

import json

import pytest

from bmc.config import ConfigError, IFData, job_settings
from bmc.data.instruct import load_tests
from bmc.data.references import attach
from bmc.io import iter_jsonl, read_json

from ..test_smoke_dag import REPO

RESOURCES = REPO / "workflow" / "resources" / "data" / "if"


def reference_files(tmp_path, drop_last=False):
    alpaca = [
        {"instruction": r["instruction"], "output": f"turbo {i}", "generator": "gpt4_turbo"}
        for i, r in enumerate(read_json(RESOURCES / "alpaca_eval.json"))
    ]
    arena = [
        {
            "question_id": r["question_id"],
            "model_id": "gpt-4-0314",
            "choices": [{"turns": [{"content": f"old {i}"}]}],
        }
        for i, r in enumerate(iter_jsonl(RESOURCES / "arena_hard.jsonl"))
    ]
    (tmp_path / "alpaca.json").write_text(json.dumps(alpaca[:-1] if drop_last else alpaca))
    (tmp_path / "arena.jsonl").write_text("".join(json.dumps(r) + "\n" for r in arena))
    return {
        "alpaca_eval": {"data_files": str(tmp_path / "alpaca.json")},
        "arena_hard": {"data_files": str(tmp_path / "arena.jsonl")},
    }


def test_references_replace_the_shipped_baselines(tmp_path):
    tests = load_tests(RESOURCES)
    assert tests["alpaca_eval"][0]["baseline_generator"] == "text_davinci_003"
    generators = attach(tests, reference_files(tmp_path))
    assert generators == {"alpaca_eval": ["gpt4_turbo"], "arena_hard": ["gpt-4-0314"]}
    assert [r["baseline"] for r in tests["alpaca_eval"][:2]] == ["turbo 0", "turbo 1"]
    assert tests["arena_hard"][3]["baseline"] == "old 3"
    assert all(r["baseline_generator"] == "gpt-4-0314" for r in tests["arena_hard"])


def test_a_question_without_a_reference_fails(tmp_path):
    with pytest.raises(ValueError, match="1 of 805 questions have no reference"):
        attach(load_tests(RESOURCES), reference_files(tmp_path, drop_last=True))


def if_settings(references: dict) -> IFData:
    base = {"datasets": ["alpaca_eval"], "seed": 0, "sft_n": 1, "prefs_n": 1, "test_n": 1}
    return job_settings(IFData, json.dumps({**base, "references": references}), "data.if")


def test_reference_settings_are_checked():
    with pytest.raises(ConfigError, match=r"data\.if\.references\.mt_bench: Input should be 'alpaca_eval'"):
        if_settings({"mt_bench": {"dataset": "x"}})
    with pytest.raises(ConfigError, match=r"data\.if\.references\.alpaca_eval: needs `dataset`"):
        if_settings({"alpaca_eval": {"split": "eval"}})
    with pytest.raises(ConfigError, match=r"data\.if\.references\.alpaca_eval\.branch: unknown key"):
        if_settings({"alpaca_eval": {"dataset": "x", "branch": "main"}})
    settings = if_settings({"alpaca_eval": {"dataset": "tatsu-lab/alpaca_eval"}})
    assert settings.references["alpaca_eval"].dataset == "tatsu-lab/alpaca_eval"
