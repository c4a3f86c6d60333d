"""Stage `judge`: AlpacaEval and Arena-Hard scores of one model's answers, judged pairwise against a baseline.

Baseline per test set (config `judge.baselines`): `reference` = the outputs shipped with the test set
(AlpacaEval's `baseline` field: text-davinci-003 offline), or a method name whose generations are given
with --baseline-generations (offline Arena-Hard: the SFT model's answers). Scores:
- AlpacaEval: raw win rate (ties count half), length-controlled win rate (`bmc.evaluation.length_control`,
  no instruction-difficulty term offline) and the model's mean answer length in characters;
- Arena-Hard: Bradley-Terry win rate with a bootstrap 95% CI (`bmc.evaluation.arena_hard`) and the
  length-controlled win rate.
`score` (the number the tables average) is the LC win rate for AlpacaEval and the win rate for Arena-Hard.
Judgments go to `judgments.jsonl` beside `scores.json`, the judge's cost into the scores. With
`judge.alpaca_eval_annotator` (paper scale) AlpacaEval is scored by the `alpaca_eval` library itself
(`bmc.evaluation.alpaca_eval_library`); Arena-Hard still uses the suite's judge.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path
from statistics import mean

from bmc.evaluation import arena_hard
from bmc.evaluation.judge import judge, judge_keys, model_preference
from bmc.evaluation.length_control import lc_win_rate
from bmc.io import InputError, file_sha256, read_jsonl, write_json, write_jsonl
from bmc.llm import ledger
from bmc.llm.cache import ResponseCache
from bmc.llm.clients import check_client_config, client_identity, legacy_identity, request_chunk
from bmc.llm.server import ClientFactory
from bmc.records import GENERATION, TEST_ITEM

log = logging.getLogger(__name__)
JUDGE_KEYS = {"template_version", "baselines", "bootstrap_rounds", "alpaca_eval_annotator"}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--generations", required=True, help="the model's generations.jsonl")
    p.add_argument("--tests", required=True, help="the test set (test/<SET>.jsonl)")
    p.add_argument("--baseline-generations", default=None, help="the baseline model's generations.jsonl")
    p.add_argument("--out", required=True, help="scores.json (judgments.jsonl is written beside it)")
    p.add_argument("--cache", required=True, help="judge cache folder (kept across runs)")
    p.add_argument("--base-model", default=None, help="model folder used when judge.model is 'base'")
    p.add_argument("--params", required=True, help="JSON: the config's `judge` section")
    p.add_argument("--method", required=True)
    p.add_argument("--seed", required=True, type=int)
    p.add_argument("--dataset", required=True, choices=["alpaca_eval", "arena_hard"])
    p.add_argument(
        "--server-log", default=None, help="log of a served judge's server (default: beside --out)"
    )


def split_params(params: dict) -> tuple[dict, dict]:
    """(stage settings, the judge model's editor settings), the latter checked like a bridging editor."""
    stage = {k: params[k] for k in JUDGE_KEYS if k in params}
    model = {k: v for k, v in params.items() if k not in JUDGE_KEYS}
    check_client_config(model, section="judge")
    return stage, model


def judge_items(
    tests: list[dict], generations: list[dict], baseline: dict[str, str], path: str
) -> list[dict]:
    """One item per test question: question, the model's response and the baseline's."""
    responses = {g["id"]: g["response"] for g in generations}
    items = []
    for q in tests:
        if q["id"] not in responses:
            raise InputError(path, None, f"no generation for test question {q['id']!r}")
        if q["id"] not in baseline:
            raise InputError(path, None, f"no baseline answer for test question {q['id']!r}")
        items.append(
            {
                "id": q["id"],
                "question": q["question"],
                "response": responses[q["id"]],
                "baseline": baseline[q["id"]],
            }
        )
    return items


def mean_lengths(items: list[dict]) -> dict:
    """Mean length in characters of the model's answers and of the baseline's."""
    return {
        "avg_length": round(mean(len(it["response"]) for it in items), 1),
        "baseline_avg_length": round(mean(len(it["baseline"]) for it in items), 1),
    }


def scores_of(items: list[dict], judgments: list[dict], dataset: str, method: str, rounds: int) -> dict:
    """The test set's scores from the judgments (see the module docstring)."""
    by_id = {it["id"]: it for it in items}
    prefs = [model_preference(j) for j in judgments]
    deltas = [len(by_id[j["id"]]["response"]) - len(by_id[j["id"]]["baseline"]) for j in judgments]
    out = {
        "win_rate": round(100.0 * mean(prefs), 2),
        "lc_win_rate": round(lc_win_rate(prefs, deltas), 2),
        **mean_lengths(items),
        "judgments": len(judgments),
        "unparsed": sum(not j["parsed"] for j in judgments),
        "failed": sum("error" in j for j in judgments),
    }
    if dataset == "arena_hard":
        battles = [
            {"model": method, "model_first": j["model_first"], "verdict": j["verdict"]} for j in judgments
        ]
        bt = arena_hard.score(battles, baseline="baseline", rounds=rounds)[method]
        out |= {"win_rate": bt["win_rate"], "ci_low": bt["ci_low"], "ci_high": bt["ci_high"]}
        out["score"] = out["win_rate"]
    else:
        out["score"] = out["lc_win_rate"]
    return out


def run(args: argparse.Namespace) -> None:
    stage, judge_config = split_params(json.loads(args.params))
    tests = read_jsonl(args.tests, required=TEST_ITEM)
    generations = read_jsonl(args.generations, required=GENERATION)
    if not tests or not generations:
        raise InputError(args.tests if not tests else args.generations, None, "empty file")
    if args.baseline_generations:
        baseline = {
            g["id"]: g["response"] for g in read_jsonl(args.baseline_generations, required=GENERATION)
        }
        baseline_name = "generations " + args.baseline_generations
    else:
        baseline = {q["id"]: q["baseline"] for q in tests if isinstance(q.get("baseline"), str)}
        baseline_name = "reference outputs of " + args.tests
    items = judge_items(tests, generations, baseline, args.generations)
    scores = {
        "method": args.method,
        "seed": args.seed,
        "task": "if",
        "dataset": args.dataset,
        "metric": "lc_win_rate" if args.dataset == "alpaca_eval" else "bt_win_rate",
        "n": len(items),
        "baseline": baseline_name,
    }
    annotator = stage.get("alpaca_eval_annotator")
    if annotator and args.dataset == "alpaca_eval":  # the official AlpacaEval 2 protocol (paper scale)
        from bmc.evaluation.alpaca_eval_library import library_scores

        found, judgments = library_scores(
            items, args.method, annotator, Path(args.out).with_name("alpaca_eval")
        )
        scores |= {"judge": {"kind": "alpaca_eval", "model": annotator}, **found, **mean_lengths(items)}
        write_jsonl(Path(args.out).with_name("judgments.jsonl"), judgments)
        write_json(args.out, scores)
        log.info("%s seed %d on alpaca_eval (%s): %s", args.method, args.seed, annotator, json.dumps(found))
        return
    identity = client_identity(judge_config, args.base_model, "judge")
    version = stage.get("template_version", "v1")
    cache = ResponseCache(args.cache)
    sources = [args.generations, args.tests, args.baseline_generations]
    inputs = [file_sha256(path) if path else None for path in sources]
    cache.check_inputs(args.out, {"inputs_sha256": inputs, "judge": identity, "template": version}, "judging")
    server_log = args.server_log or f"{args.out}.server.log"
    with ClientFactory(judge_config, args.base_model, "judge", server_log) as judge_factory:
        judgments, usage = judge(
            items,
            identity,
            judge_factory,
            cache,
            version,
            chunk=request_chunk(judge_config),
            legacy=legacy_identity(judge_config),
        )
    this_run = {k: v for k, v in usage.items() if k != "cache_hits"}
    spent = ledger.totals(args.cache, judge_keys(items, identity, version))
    scores |= {
        "judge": {k: judge_config[k] for k in ("kind", "model")},
        "judge_usage": {**spent, "cache_hits": usage["cache_hits"], "this_run": this_run},
        **scores_of(items, judgments, args.dataset, args.method, int(stage.get("bootstrap_rounds", 100))),
    }
    write_jsonl(Path(args.out).with_name("judgments.jsonl"), judgments)
    write_json(args.out, scores)
    log.info(
        "%s seed %d on %s: %s",
        args.method,
        args.seed,
        args.dataset,
        json.dumps({k: scores[k] for k in ("score", "win_rate", "lc_win_rate", "avg_length", "unparsed")}),
    )
