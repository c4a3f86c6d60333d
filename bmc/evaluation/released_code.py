"""The authors' grading code, run as released: the `released` rule wherever the release folder holds it.

The `release` rule lays the code out beside the data (workflow/resources/bmc_release.yaml):
- `eval/QA/<folder>/eval.py` (ECQA, QASC, OpenbookQA, ARC): the QA script, which prompts a vLLM model test item by
  test item and grades each answer inside its `main()`;
- `eval/math/{parser,grader,utils,examples}.py` and `eval/math/latex2sympy/` (latex2sympy2.py and its generated
  parser `gen/`): the math harness (ToRA's) the authors' `math_eval.py` drives.

QA: eval.py runs unchanged in a subprocess, in a temporary folder (it writes `--result_file` and
`../output.txt`), on the released test rows of the generated items, with `bmc.evaluation.vllm_replay` as its
`vllm`: the model's answers are the suite's generations, served in order for exactly the prompts eval.py builds
(any other prompt fails naming the item). Each item's verdict is eval.py's `pred_ans == real_ans` read back
from its result file, and their sum must equal the count eval.py printed.

Math: one worker process per call (`python -m bmc.evaluation.released_code`) imports the harness and follows the
driver for the paper's `--prompt_type platypus_fs` on each released test row: `parse_ground_truth` as
`math_eval.py` calls it, again as `evaluate.py` does, the response cut from the prompt as the driver does,
`run_execute` (answer extraction only: this prompt type never runs code), then `math_equal_process` in one
pebble process with the harness's 3-second limit per answer (past it, wrong). The driver's tool loop (a
response ending in a code block is run and the model asked again) belongs to generation and is not replayed.
The worker also builds the harness's prompt and counts the items the suite prompted otherwise.

ANTLR: the harness's grader tries sympy's LaTeX parser first, which works only with ANTLR 4.11 (the authors pin
4.11.1), while the suite's environment has 4.13.2 (math-verify needs it). The `release` rule unpacks the pinned
4.11.1 wheel into `eval/math/_antlr4_4.11.1` (manifest `wheels`) and the worker puts that folder first on its
path, so the harness runs as the authors ran it and nothing else changes version. Without the folder (the wheel
could not be downloaded) the worker runs with the environment's ANTLR, and says so: a warning in the log and, in
scores.json, `released_antlr` (the version their code ran with) and `released_sympy_latex` (whether sympy's
LaTeX parser worked).
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

from bmc.io import InputError, iter_lines, read_text, write_jsonl, write_text

log = logging.getLogger(__name__)

AUTHORS_CODE, REIMPLEMENTATION = "authors_code", "reimplementation"  # scores.json `released_rule`
QA_FOLDERS = {"ECQA": "ECQA", "QASC": "QASC", "OBQA": "OpenbookQA", "ARC": "ARC"}
MATH_CODE = (
    "parser.py",
    "grader.py",
    "utils.py",
    "examples.py",
    "latex2sympy/latex2sympy2.py",
    "latex2sympy/gen/__init__.py",
    "latex2sympy/gen/PSLexer.py",
    "latex2sympy/gen/PSParser.py",
    "latex2sympy/gen/PSListener.py",
)
ANTLR_PIN = "4.11.1"  # the authors' pin (eval/math/eval/latex2sympy/requirements.txt)
ANTLR_DIR = f"_antlr4_{ANTLR_PIN}"  # in eval/math, unpacked by the `release` rule
PROMPT_TYPE = "platypus_fs"  # eval/math/sh/eval/cot_model.sh
TIMEOUT_S = 3  # evaluate.py: pool.map(math_equal_process, params, timeout=3)


class ReleasedCodeError(RuntimeError):
    """The authors' code failed or disagreed with its own count."""


def code_files(release: str | Path, task: str, dataset: str) -> list[Path]:
    """The authors' files that grade `dataset` of `task`."""
    release = Path(release)
    if task == "qa":
        if dataset not in QA_FOLDERS:
            raise ValueError(f"unknown QA test set {dataset!r}; expected one of {list(QA_FOLDERS)}")
        return [release / "eval" / "QA" / QA_FOLDERS[dataset] / "eval.py"]
    if task == "math":
        return [release / "eval" / "math" / name for name in MATH_CODE]
    raise ValueError(f"task {task!r} has no released grading code")


def released_test_file(release: str | Path, task: str, dataset: str) -> Path:
    """The released test set the authors' code reads the gold answers from."""
    release = Path(release)
    return (
        release / QA_FOLDERS[dataset] / "test.jsonl"
        if task == "qa"
        else release / "math" / dataset / "test.jsonl"
    )


def missing(release: str | Path, task: str, dataset: str) -> list[str]:
    """The files the authors' code needs for `dataset` that the release folder lacks ([] when it can run)."""
    needed = [*code_files(release, task, dataset), released_test_file(release, task, dataset)]
    return [str(path) for path in needed if not path.is_file()]


def released_rows(release: str | Path, task: str, dataset: str, ids: list[str]) -> list[dict]:
    """The released test row of each item id (`<dataset>-test-<line>`, the line in the released test file)."""
    path = released_test_file(release, task, dataset)
    lines = dict(iter_lines(path))
    pattern = re.compile(rf"{re.escape(dataset)}-test-(\d+)")
    rows = []
    for item_id in ids:
        match = pattern.fullmatch(item_id)
        line = int(match.group(1)) if match else None
        if line not in lines or not lines[line].strip():
            raise InputError(
                path, line, f"item {item_id!r} names no row of this file ({dataset}-test-<line>)"
            )
        try:
            rows.append(json.loads(lines[line]))
        except json.JSONDecodeError as e:
            raise InputError(path, line, f"invalid JSON: {e.msg}") from None
    return rows


def _run(cmd: list[str], cwd: Path, env: dict[str, str], what: str) -> str:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    output = (proc.stdout + proc.stderr).strip()
    if proc.returncode != 0:
        tail = "\n".join(output.splitlines()[-15:])
        raise ReleasedCodeError(f"{what} failed (exit code {proc.returncode}):\n{tail}")
    return output


def _python_path(*folders: str | Path) -> str:
    return os.pathsep.join([*map(str, folders), *filter(None, [os.environ.get("PYTHONPATH")])])


def run_qa(script: str | Path, rows: list[dict], items: list[dict]) -> list[tuple[str, bool]]:
    """(pred_ans, correct) of eval.py `script` on released test `rows`, answered by `items` (`id`, `prompt`,
    `response`: the suite's prompt and answer of each row, in the same order)."""
    if len(rows) != len(items):
        raise ValueError(f"{len(rows)} test rows but {len(items)} answers")
    script = Path(script).resolve()
    with tempfile.TemporaryDirectory(prefix="bmc-released-qa-") as tmp:
        work = Path(tmp) / script.parent.name
        work.mkdir()
        write_jsonl(work / "test.jsonl", rows)
        write_text(work / "train.jsonl", "")  # read by eval.py, unused at 0 shots
        write_jsonl(Path(tmp) / "replay.jsonl", items)
        write_text(Path(tmp) / "vllm.py", "from bmc.evaluation.vllm_replay import *  # noqa: F403\n")
        env = {**os.environ, "BMC_REPLAY": str(Path(tmp) / "replay.jsonl"), "PYTHONPATH": _python_path(tmp)}
        cmd = [sys.executable, str(script), "--model", "replay", "--n_shot", "0"]
        cmd += ["--train_file", "train.jsonl", "--dev_file", "test.jsonl", "--result_file", "result.jsonl"]
        _run(cmd, work, env, f"{script}")
        results = [json.loads(line) for _, line in iter_lines(work / "result.jsonl") if line.strip()]
        printed = re.findall(r"\( (\d+) / (\d+) \)", read_text(Path(tmp) / "output.txt"))
    if len(results) != len(items):
        raise ReleasedCodeError(f"{script} graded {len(results)} of {len(items)} answers")
    verdicts = [(r["pred_ans"], r["pred_ans"] == r["real_ans"]) for r in results]
    counted = sum(correct for _, correct in verdicts)
    if not printed or printed[-1] != (str(counted), str(len(items))):
        raise ReleasedCodeError(f"{script} printed {printed[-1:]} correct, its result file gives {counted}")
    return verdicts


def run_math(code: str | Path, dataset: str, rows: list[dict], items: list[dict]) -> tuple[list[dict], dict]:
    """The harness in `code` (eval/math) on released test `rows` of `dataset`, answered by `items` (`response`,
    and `prompt` when known): per item `pred`, `gt`, `correct`, `timeout` and `prompt_matches` (None without
    a prompt); and the worker's runtime (`_runtime`)."""
    if len(rows) != len(items):
        raise ValueError(f"{len(rows)} test rows but {len(items)} answers")
    code = Path(code).resolve()
    with tempfile.TemporaryDirectory(prefix="bmc-released-math-") as tmp:
        request = {
            "code": str(code),
            "dataset": dataset,
            "out": str(Path(tmp) / "out.jsonl"),
            "runtime": str(Path(tmp) / "runtime.json"),
        }
        write_jsonl(Path(tmp) / "in.jsonl", [{"row": r, **i} for r, i in zip(rows, items, strict=True)])
        write_text(Path(tmp) / "request.json", json.dumps(request))
        # the package's own folder first on the path: the worker is `bmc` run from a folder without it
        package_root = Path(__file__).resolve().parents[2]
        env = {**os.environ, "PYTHONPATH": _python_path(package_root)}
        cmd = [sys.executable, "-m", "bmc.evaluation.released_code", str(Path(tmp) / "request.json")]
        output = _run(cmd, Path(tmp), env, f"the math harness in {code}")
        results = [json.loads(line) for _, line in iter_lines(Path(tmp) / "out.jsonl") if line.strip()]
        runtime = json.loads(read_text(Path(tmp) / "runtime.json"))
    if len(results) != len(items):
        raise ReleasedCodeError(
            f"the math harness graded {len(results)} of {len(items)} answers:\n{output[-2000:]}"
        )
    return results, runtime


def grade(release: str | Path, task: str, dataset: str, generations: list[dict]) -> tuple[list, dict]:
    """(prediction, correct) per generation (`id`, `response`, `prompt`, `answer`) under the authors' code, and
    notes for scores.json (math: `released_timeouts`, `released_prompt_mismatches`, `released_antlr`,
    `released_sympy_latex`)."""
    rows = released_rows(release, task, dataset, [g["id"] for g in generations])
    if task == "qa" and (unprompted := [g["id"] for g in generations if "prompt" not in g]):
        raise ValueError(f"generations without the prompt eval.py's answer is replayed for: {unprompted[:5]}")
    _check_gold(release, task, dataset, generations, rows)
    items = [{"id": g["id"], "prompt": g.get("prompt"), "response": g["response"]} for g in generations]
    if task == "qa":
        return run_qa(code_files(release, task, dataset)[0], rows, items), {}
    code = Path(release) / "eval" / "math"
    results, runtime = run_math(code, dataset, rows, items)
    if runtime["sympy_latex"]:
        log.info("the authors' math code ran with ANTLR %s (%s)", runtime["antlr"], runtime["antlr_path"])
    else:
        pinned = code / ANTLR_DIR
        log.warning(
            "the authors' math code ran with ANTLR %s, without sympy's LaTeX parser (it needs 4.11; their pin is "
            "%s): %s",
            runtime["antlr"],
            ANTLR_PIN,
            f"although {pinned} is there"
            if pinned.is_dir()
            else f"{pinned} is absent, the `release` rule unpacks it there when PyPI can be reached",
        )
    notes = {
        "released_timeouts": sum(r["timeout"] for r in results),
        "released_prompt_mismatches": sum(r["prompt_matches"] is False for r in results),
        "released_antlr": runtime["antlr"],
        "released_sympy_latex": runtime["sympy_latex"],
    }
    return [(r["pred"] or "", r["correct"]) for r in results], notes


def authors_verdicts(
    release: str | Path | None, task: str, dataset: str, generations: list[dict]
) -> tuple[list | None, dict]:
    """The authors' (prediction, correct) per generation when `release` holds their code for `dataset` (None
    otherwise), and what scores.json records of it: `released_rule` (AUTHORS_CODE or REIMPLEMENTATION) and
    the notes of `grade`."""
    if release is None:
        return None, {"released_rule": REIMPLEMENTATION}
    absent = missing(release, task, dataset)
    if absent:
        log.warning(
            "%s lacks %s: the released rule is graded by the re-implementation", release, ", ".join(absent)
        )
        return None, {"released_rule": REIMPLEMENTATION}
    verdicts, notes = grade(release, task, dataset, generations)
    return verdicts, {"released_rule": AUTHORS_CODE, **notes}


def _check_gold(release, task: str, dataset: str, generations: list[dict], rows: list[dict]) -> None:
    """Each generation's gold is its released row's (a generations file graded against another release fails)."""
    from bmc.evaluation.math_answers import gold_answer

    path = released_test_file(release, task, dataset)
    for g, row in zip(generations, rows, strict=True):
        gold = row["answer"] if task == "qa" else gold_answer(row, dataset).strip()
        if gold != g["answer"]:
            raise InputError(
                path, None, f"item {g['id']}: released gold {gold!r}, generation's {g['answer']!r}"
            )


# ---- the math worker (runs with the harness on its path) ------------------------------------------------------
def _math_worker(request_path: str) -> None:
    import importlib
    from concurrent.futures import TimeoutError as PoolTimeout
    from types import SimpleNamespace

    from pebble import ProcessPool

    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - its messages (ANTLR's version notice on every parse)
    request = json.loads(Path(request_path).read_text(encoding="utf-8"))
    code, dataset = Path(request["code"]), request["dataset"]
    if "antlr4" in sys.modules:
        raise ReleasedCodeError("antlr4 was imported before the harness's path was set")
    pinned_antlr = [str(code / ANTLR_DIR)] if (code / ANTLR_DIR).is_dir() else []
    # the pinned ANTLR first, then the harness, then its bundled latex2sympy as installed by its setup.py
    sys.path[:0] = [*pinned_antlr, str(code), str(code / "latex2sympy")]
    parser, grader, utils = (importlib.import_module(name) for name in ("parser", "grader", "utils"))
    Path(request["runtime"]).write_text(json.dumps(_runtime(code, grader)), encoding="utf-8")
    parse_ground_truth, parse_question, run_execute = (
        parser.parse_ground_truth,
        parser.parse_question,
        parser.run_execute,
    )
    construct_prompt, math_equal_process = utils.construct_prompt, grader.math_equal_process
    args = SimpleNamespace(prompt_type=PROMPT_TYPE, num_shots=0)
    items = [json.loads(line) for line in Path(request_path).with_name("in.jsonl").read_text().splitlines()]
    params, prompt_matches = [], []
    for idx, item in enumerate(items):
        example = dict(item["row"])
        example["question"] = parse_question(example, dataset)  # math_eval.py
        prompt = construct_prompt(example, dataset, args)
        gt_cot, gt = parse_ground_truth(example, dataset)
        sample = {"idx": idx, "gt_cot": gt_cot, "gt": gt}
        sample["gt_cot"], sample["gt"] = parse_ground_truth(sample, dataset)  # evaluate.py, again
        answer = (prompt + item["response"].rstrip()).split(prompt)[-1].strip()  # math_eval.py's `codes`
        pred, _ = run_execute(None, answer, PROMPT_TYPE, dataset, execute=True)
        params.append((idx, pred, sample["gt"]))
        prompt_matches.append(None if item.get("prompt") is None else item["prompt"] == prompt)
    scores, timeouts = [], []
    with ProcessPool(max_workers=1) as pool:
        iterator = pool.map(math_equal_process, params, timeout=TIMEOUT_S).result()
        for _ in params:
            try:
                scores.append(bool(next(iterator)))
                timeouts.append(False)
            except PoolTimeout:
                scores.append(False)
                timeouts.append(True)
    with open(request["out"], "w", encoding="utf-8") as f:
        for (_, pred, gt), correct, timeout, matches in zip(
            params, scores, timeouts, prompt_matches, strict=True
        ):
            row = {"pred": pred, "gt": gt, "correct": correct, "timeout": timeout, "prompt_matches": matches}
            f.write(json.dumps(row) + "\n")


def _runtime(code: Path, grader) -> dict:
    """What the harness runs with: ANTLR's version (`antlr`, as sympy reads it) and folder (`antlr_path`),
    whether sympy's LaTeX parser works with it (`sympy_latex`), and the file of the `latex2sympy2` module its
    grader imported (`latex2sympy`)."""
    import importlib.metadata

    import antlr4

    antlr_path = Path(antlr4.__file__).resolve().parent
    if (code / ANTLR_DIR).is_dir() and antlr_path.parent != (code / ANTLR_DIR).resolve():
        raise ReleasedCodeError(f"antlr4 was imported from {antlr_path}, not from {code / ANTLR_DIR}")
    try:
        grader.parse_latex("1")
        sympy_latex = True
    except ImportError:  # sympy refuses an ANTLR other than 4.11
        sympy_latex = False
    return {
        "antlr": importlib.metadata.version("antlr4-python3-runtime"),
        "antlr_path": str(antlr_path),
        "sympy_latex": sympy_latex,
        "latex2sympy": sys.modules["latex2sympy2"].__file__,
    }


if __name__ == "__main__":
    _math_worker(sys.argv[1])
