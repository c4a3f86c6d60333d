import json

import pytest

from bmc.cli import main
from bmc.data.prompt_format import EVAL_RESPONSE_PREFIX, training_prompt
from bmc.io import InputError


def _question(qid, dataset, answer="bank"):
    return {
        "id": qid,
        "task": "qa",
        "dataset": dataset,
        "question": f"Where is money kept? ({qid})\nOptions:\n- bank\n- river",
        "solution": f"Money is kept in banks. The answer is {answer}.",
        "answer": answer,
        "source": {"file": f"{dataset}.jsonl", "line": 1},
    }


def _sample(q, k, response, correct):
    return {**q, "id": f"{q['id']}#{k}", "question_id": q["id"], "sample": k, "prompt": "p",
            "response": response, "prediction": "", "correct": correct}  # fmt: skip


def _write_jsonl(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_pairs_keep_first_wrong_answer_and_count(tmp_path):
    q1, q2, q3, q4 = (
        _question("e1", "ECQA"),
        _question("e2", "ECQA"),
        _question("a1", "ARC"),
        _question("a2", "ARC"),
    )
    samples = [
        _sample(q1, 0, "Let's think step by step.\nThe answer is bank.", True),
        _sample(q1, 1, "Let's think step by step.\nThe answer is river.", False),
        _sample(q2, 0, "Rivers flow. The answer is river.", False),
        _sample(q2, 1, "No idea.", False),
        _sample(q3, 0, "The answer is bank", True),  # all correct: no pair
        _sample(q4, 0, "  \n", False),  # empty: skipped, counted
    ]
    _write_jsonl(tmp_path / "samples.jsonl", samples)
    out, summary_path = tmp_path / "pairs.jsonl", tmp_path / "summary.json"
    main(
        [
            "pairs",
            "--samples",
            str(tmp_path / "samples.jsonl"),
            "--out",
            str(out),
            "--summary",
            str(summary_path),
        ]
    )

    pairs = _read_jsonl(out)
    assert [p["id"] for p in pairs] == ["e1", "e2"]
    assert pairs[0] == {
        "id": "e1",
        "task": "qa",
        "dataset": "ECQA",
        "prompt": [{"role": "user", "content": q1["question"]}],
        "chosen": EVAL_RESPONSE_PREFIX + q1["solution"],
        "rejected": "Let's think step by step.\nThe answer is river.",
        "answer": "bank",
        "source": q1["source"],
    }
    assert pairs[1]["rejected"] == "Rivers flow. The answer is river."

    summary = json.loads(summary_path.read_text())
    assert summary["per_dataset"] == {
        "ARC": {"questions": 2, "asked": 2, "answered": 1, "empty": 1, "correct": 1, "wrong": 0, "kept": 0},
        "ECQA": {"questions": 2, "asked": 4, "answered": 4, "empty": 0, "correct": 1, "wrong": 3, "kept": 2},
    }
    assert {k: v for k, v in summary.items() if k != "per_dataset"} == {
        "questions": 4, "asked": 6, "answered": 5, "empty": 1, "correct": 2, "wrong": 3, "kept": 2,
    }  # fmt: skip


def test_pairs_reject_ungraded_samples(tmp_path):
    row = _sample(_question("e1", "ECQA"), 0, "The answer is x", False)
    del row["correct"]
    _write_jsonl(tmp_path / "samples.jsonl", [row])
    with pytest.raises(InputError, match=r"samples.jsonl:1: missing field 'correct'"):
        main(["pairs", "--samples", str(tmp_path / "samples.jsonl"), "--out", str(tmp_path / "p.jsonl"),
              "--summary", str(tmp_path / "s.json")])  # fmt: skip


def test_sample_stage_answers_every_question_num_samples_times(tmp_path, tiny_model_dir):
    questions = [_question("e1", "ECQA"), _question("o1", "OBQA", answer="river")]
    _write_jsonl(tmp_path / "prefs.jsonl", questions)
    out = tmp_path / "samples.jsonl"
    params = {"backend": "transformers", "max_new_tokens": 4, "batch_size": 4, "do_sample": True,
              "temperature": 1.0, "top_p": 1.0, "num_samples": 2, "seed": 0}  # fmt: skip
    main(["sample", "--model", str(tiny_model_dir), "--data", str(tmp_path / "prefs.jsonl"), "--out", str(out),
          "--params", json.dumps(params)])  # fmt: skip

    rows = _read_jsonl(out)
    assert [r["id"] for r in rows] == ["e1#0", "e1#1", "o1#0", "o1#1"]
    assert [r["question_id"] for r in rows] == ["e1", "e1", "o1", "o1"]
    for r, q in zip(rows, [questions[0]] * 2 + [questions[1]] * 2, strict=True):
        assert r["prompt"] == training_prompt(q["question"])
        assert {k: r[k] for k in q if k != "id"} == {k: v for k, v in q.items() if k != "id"}
        assert isinstance(r["response"], str) and r["response"]
        assert r["prediction"] == "" and r["correct"] is False  # a random model never says "The answer is"
    assert not (tmp_path / "samples.jsonl.partial.jsonl").exists()


def test_sample_stage_rejects_unknown_params(tmp_path, tiny_model_dir):
    _write_jsonl(tmp_path / "prefs.jsonl", [_question("e1", "ECQA")])
    with pytest.raises(ValueError, match=r"invalid sample settings:\n  sample\.temprature: unknown key"):
        main(["sample", "--model", str(tiny_model_dir), "--data", str(tmp_path / "prefs.jsonl"),
              "--out", str(tmp_path / "s.jsonl"), "--params", json.dumps({"temprature": 0.7})])  # fmt: skip
