"""Bad source files at every data stage (data, data-math, data-if): each fails at the data stage with an
InputError that names the source file (and the line where there is one), and writes nothing."""

import argparse
import json
from pathlib import Path

import pytest

from bmc.io import InputError
from bmc.stages import data_if, data_math, data_qa

QA_ROW = {"problem": "Sky colour?\nOptions:\nblue\nred", "solution": "The answer is blue", "answer": "blue"}
CONV = {
    "conversations": [{"from": "human", "value": "Question {}?"}, {"from": "gpt", "value": "Answer {}."}],
}


def jsonl(rows) -> bytes:
    return b"".join((r if isinstance(r, bytes) else json.dumps(r).encode()) + b"\n" for r in rows)


def sft_row(i: int) -> dict:
    user = f"Sky colour {i}?\nOptions:\nblue\nred"
    reply = "Let's think step by step.\nThe answer is blue"
    return {"prompt_id": f"qa_{i}", "messages": [{"role": "user", "content": user}, {"role": "assistant", "content": reply}]}  # fmt: skip


def qa_files() -> dict[str, bytes]:
    files = {"sft.jsonl": jsonl(sft_row(i) for i in range(6))}
    for ds in ("ECQA", "OBQA"):
        files[f"{ds}/train.jsonl"] = jsonl([QA_ROW] * 6)
        files[f"{ds}/test.jsonl"] = jsonl([QA_ROW] * 4)
    return files


def math_files() -> dict[str, bytes]:
    train = [
        {
            "input": f"## Question\nWhat is {i} + 1?\n\n## Solution\n",
            "output": f"{i} + 1 = {i + 1}\nThe answer is: ${i + 1}$.",
            "file": "math/finetune_data_sampled.jsonl",
            "line": i,
        }
        for i in range(1, 9)
    ]
    test = [{"question": f"Ducks {i}?", "answer": f"{i} + 1 = {i + 1}\n#### {i + 1}"} for i in range(4)]
    return {"train.jsonl": jsonl(train), "gsm8k/test.jsonl": jsonl(test)}


def if_files() -> dict[str, bytes]:
    alpaca = [
        {"instruction": f"Say {i}.", "output": f"{i}", "generator": "g", "dataset": "d"} for i in range(3)
    ]
    arena = [
        {"question_id": f"a{i}", "turns": [{"content": f"Explain {i}."}], "cluster": "c"} for i in range(3)
    ]
    convs = [{"id": f"c{i}", **json.loads(json.dumps(CONV).replace("{}", str(i)))} for i in range(8)]
    return {
        "alpaca_eval.json": json.dumps(alpaca, indent=1).encode(),
        "arena_hard.jsonl": jsonl(arena),
        "sharegpt.json": json.dumps(convs).encode(),
    }


def uf_files() -> dict[str, bytes]:
    files = if_files()
    rows = []
    for i in range(4):
        user = {"role": "user", "content": f"Write {i}."}
        rows.append({"prompt_id": f"p{i}", "chosen": [user, {"role": "assistant", "content": f"Good {i}."}],
                     "rejected": [user, {"role": "assistant", "content": f"Bad {i}."}]})  # fmt: skip
    return {**files, "uf.jsonl": jsonl(rows)}


def run_qa(res: Path, out: Path) -> None:
    params = {"seed": 0, "datasets": ["ECQA", "OBQA"], "sft_n": 3, "prefs_n": 3, "test_n": 2}
    data_qa.run(argparse.Namespace(resources=str(res), out=str(out), params=json.dumps(params)))


def run_math(res: Path, out: Path) -> None:
    params = {"seed": 0, "datasets": ["gsm8k"], "sft_n": 3, "prefs_n": 3, "test_n": 2}
    data_math.run(argparse.Namespace(resources=str(res), out=str(out), params=json.dumps(params)))


def run_if(res: Path, out: Path, **source) -> None:
    params = {"seed": 0, "datasets": ["alpaca_eval", "arena_hard"], "sft_n": 2, "prefs_n": 2, "test_n": 2}
    params |= source or {"max_prompt_chars": 100, "max_reply_chars": 100, "min_ascii": 0.9}
    args = dict(resources=str(res), out=str(out), params=json.dumps(params), cache=None)
    data_if.run(argparse.Namespace(**args, sharegpt=None if source else str(res / "sharegpt.json")))


def run_uf(res: Path, out: Path) -> None:
    run_if(res, out, source="ultrafeedback", data_files=str(res / "uf.jsonl"), sft_n=0)


STAGES = {
    "qa": (qa_files, run_qa),
    "math": (math_files, run_math),
    "if": (if_files, run_if),
    "uf": (uf_files, run_uf),
}
BAD_ROW = b'{"problem": "Sky caf\xe9?", "solution": "x", "answer": "blue"}'  # a Latin-1 byte
# (stage, file, its new bytes (None: removed), the error text naming the file and the line)
CASES = {
    "qa non-UTF-8 train row": ("qa", "ECQA/train.jsonl", jsonl([QA_ROW, BAD_ROW]),
                               r"ECQA/train.jsonl:2: not UTF-8: byte 0xe9 at column 21$"),
    "qa non-UTF-8 sft row": ("qa", "sft.jsonl", jsonl([sft_row(0), sft_row(1), sft_row(2), BAD_ROW]),
                             r"/sft.jsonl:4: not UTF-8: byte 0xe9"),
    "qa non-UTF-8 after blank lines": ("qa", "OBQA/test.jsonl", b"\n\n" + BAD_ROW + b"\n",
                                       r"OBQA/test.jsonl:3: not UTF-8"),
    "qa empty test split": ("qa", "OBQA/test.jsonl", b"", r"OBQA/test.jsonl: the test split of OBQA has no rows"),
    "qa blank train split": ("qa", "ECQA/train.jsonl", b"\n \n", r"ECQA/train.jsonl: the train split of ECQA has no rows"),
    "qa missing test split": ("qa", "OBQA/test.jsonl", None, r"OBQA/test.jsonl: missing test split of OBQA"),
    "qa empty sft file": ("qa", "sft.jsonl", b"", r"/sft.jsonl: no SFT examples"),
    "qa truncated row": ("qa", "ECQA/train.jsonl", jsonl([QA_ROW]) + json.dumps(QA_ROW).encode()[:30],
                         r"ECQA/train.jsonl:2: invalid JSON"),
    "qa row is a list": ("qa", "ECQA/test.jsonl", jsonl([QA_ROW, [1, 2]]), r"ECQA/test.jsonl:2: expected a JSON object, got list"),
    "qa missing dataset folder": ("qa", "OBQA/train.jsonl", None, r"OBQA/train.jsonl: missing train split of OBQA"),
    "qa damaged parquet": ("qa", "qa_sft/train.parquet", b"PAR1 not really", r"qa_sft/train.parquet: not a readable parquet file"),
    "math non-UTF-8 test row": ("math", "gsm8k/test.jsonl", jsonl([{"question": "q", "answer": "#### 1"}, b'{"question": "\xff"}']),
                                r"gsm8k/test.jsonl:2: not UTF-8: byte 0xff at column 15$"),
    "math empty test set": ("math", "gsm8k/test.jsonl", b"\n", r"gsm8k/test.jsonl: test set gsm8k has no rows"),
    "math non-UTF-8 train row": ("math", "train.jsonl", b'{"input": "\xc3("}\n', r"/train.jsonl:1: not UTF-8: byte 0xc3"),
    "math empty train file": ("math", "train.jsonl", b"", r"/train.jsonl: no usable training questions"),
    "math missing test set": ("math", "gsm8k/test.jsonl", None, r"gsm8k/test.jsonl: missing test set gsm8k"),
    "if non-UTF-8 alpaca_eval": ("if", "alpaca_eval.json", b'[\n {"instruction": "a",\n  "output": "\xe9"}]',
                                 r"alpaca_eval.json:3: not UTF-8: byte 0xe9 at column 14$"),
    "if alpaca_eval not JSON": ("if", "alpaca_eval.json", b'[\n {"instruction": "a",\n', r"alpaca_eval.json:3: invalid JSON"),
    "if alpaca_eval empty": ("if", "alpaca_eval.json", b"[]", r"alpaca_eval.json: no test instructions"),
    "if arena_hard empty": ("if", "arena_hard.jsonl", b"", r"arena_hard.jsonl: no test questions"),
    "if arena_hard row without turns": ("if", "arena_hard.jsonl", jsonl([{"question_id": "a", "turns": [{"content": "x"}]},
                                                                         {"question_id": "b", "turns": []}]),
                                        r"arena_hard.jsonl:2: field 'turns' should start with a \{'content'"),
    "if non-UTF-8 arena_hard": ("if", "arena_hard.jsonl", b'{"question_id": "\xfe"}\n', r"arena_hard.jsonl:1: not UTF-8"),
    "if non-UTF-8 ShareGPT file": ("if", "sharegpt.json", b'[{"id": "\xe9"}]', r"sharegpt.json:1: not UTF-8"),
    "if ShareGPT file not an array": ("if", "sharegpt.json", b'{"id": 1}', r"sharegpt.json:1: expected a JSON array"),
    "if ShareGPT without a usable conversation": ("if", "sharegpt.json", b'[{"conversations": [{"from": "gpt"}]}]',
                                                  r"sharegpt.json: no usable conversation \(skipped: \{'not a user turn"),
    "uf empty data file": ("uf", "uf.jsonl", b"", r"uf.jsonl: cannot be read as json \(StopIteration"),
    "uf without a usable pair": ("uf", "uf.jsonl", jsonl([{"prompt_id": "p", "chosen": [], "rejected": []}]),
                                 r"uf.jsonl: no usable preference rows in split train_prefs \(skipped"),
    "uf non-UTF-8 data file": ("uf", "uf.jsonl", b'{"prompt_id": "\xe9"}\n', r"uf.jsonl: cannot be read as json"),
}  # fmt: skip


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_bad_source_file_fails_at_the_data_stage_naming_it(case, tmp_path):
    stage, name, data, message = CASES[case]
    make, run = STAGES[stage]
    res = tmp_path / "res"
    for path, content in make().items():
        (res / path).parent.mkdir(parents=True, exist_ok=True)
        (res / path).write_bytes(content)
    if data is None:
        (res / name).unlink()
    else:
        (res / name).parent.mkdir(parents=True, exist_ok=True)
        if name.endswith(".parquet"):
            (res / "sft.jsonl").unlink()
        (res / name).write_bytes(data)
    with pytest.raises(InputError, match=message) as err:
        run(res, tmp_path / "out")
    assert err.value.path.endswith(name) and str(tmp_path) in str(err.value)
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_the_good_files_pass(stage, tmp_path):
    make, run = STAGES[stage]
    for path, content in make().items():
        (tmp_path / "res" / path).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "res" / path).write_bytes(content)
    run(tmp_path / "res", tmp_path / "out")
    assert (tmp_path / "out" / "prefs.jsonl").stat().st_size > 0
