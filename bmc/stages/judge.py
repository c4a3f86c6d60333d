"""Rule `judge`: AlpacaEval or Arena-Hard scores of one model's answers, judged pairwise against a baseline.

One test set's answers (`bmc.evaluation.instruction_following`, `bmc.evaluation.judge`).

Judgments go to `judgments.jsonl` beside `scores.json`, the judge's cost into the scores. Each verdict is
cached as it arrives (`bmc.llm.cache`), so a killed run resumes; requests that fail after their retries are
tried again by a plain rerun: the job fails, naming them, when they are more than `judge.max_failed_share` of
the requests (default 0), and the scores count them (`failed`); a judge with a `serve` section is served by
the job itself (`bmc.llm.server`). The judge is asked with Arena-Hard v0.1's own prompt when `--judge-prompt`
gives the folder the `arena_hard_judge` rule lays out (config `judge.arena_hard_prompt`), else with the
suite's (`judge.template_version`); scores.json names it (`judge_prompt`). With `judge.alpaca_eval_annotator`
(paper scale) AlpacaEval is scored by the `alpaca_eval` library itself (`bmc.evaluation.alpaca_eval_library`).
With `judge.verdict_from: label_likelihood` a local judge replies with the label it finds most likely
(`bmc.llm.label_choice`); scores.json's `judge` says where its verdicts came from (`verdict_from`).
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from bmc.config import Judge, job_settings
from bmc.data.records import GENERATION, TEST_ITEM
from bmc.evaluation.instruction_following import (
    baseline_answers,
    judge_items,
    mean_lengths,
    scores_of,
    unparsed_counts,
)
from bmc.evaluation.judge import (
    JudgePrompt,
    arena_hard_prompt,
    judge,
    judge_keys,
    label_texts,
    suite_prompt,
)
from bmc.io import InputError, file_sha256, read_jsonl, write_json, write_jsonl
from bmc.llm import ledger
from bmc.llm.cache import ResponseCache, check_failed_share
from bmc.llm.clients import client_identity, legacy_identity, request_chunk
from bmc.llm.factory import ClientFactory

log = logging.getLogger(__name__)


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
    p.add_argument(
        "--judge-prompt", default=None, help="Arena-Hard v0.1's judge files (default: the suite's prompt)"
    )


def run(args: argparse.Namespace) -> None:
    settings = job_settings(Judge, args.params, "judge")
    tests = read_jsonl(args.tests, required=TEST_ITEM)
    generations = read_jsonl(args.generations, required=GENERATION)
    if not tests or not generations:
        raise InputError(args.tests if not tests else args.generations, None, "empty file")
    baseline, baseline_name = baseline_answers(tests, args.tests, args.baseline_generations)
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
    annotator = settings.alpaca_eval_annotator
    if annotator and args.dataset == "alpaca_eval":  # the official AlpacaEval 2 protocol (paper scale)
        judgments = library_scores(args, items, settings, scores)
    else:
        judgments = judged_scores(args, items, settings, scores)
    failed = [j["error"] for j in judgments if j.get("error")]
    where, bound = f"judging {args.out}", settings.max_failed_share
    check_failed_share(failed, len(judgments), bound, where, "judge.max_failed_share")  # raises above it
    scores["max_failed_share"] = bound
    write_jsonl(Path(args.out).with_name("judgments.jsonl"), judgments)
    write_json(args.out, scores)
    if scores["unparsed_share"] > settings.max_unparsed_share:
        log.warning(
            "%s: %.1f%% of the judgments have no verdict, above judge.max_unparsed_share %.1f%%: the tables "
            "will refuse this file",
            args.out,
            100 * scores["unparsed_share"],
            100 * settings.max_unparsed_share,
        )


def library_scores(args: argparse.Namespace, items: list[dict], settings: Judge, scores: dict) -> list[dict]:
    """Scores AlpacaEval with the `alpaca_eval` library's annotator into `scores`; returns its judgments."""
    from bmc.evaluation.alpaca_eval_library import library_scores as score_with_library

    annotator = settings.alpaca_eval_annotator
    endpoint = {"base_url": settings.base_url, "api_key_env": settings.api_key_env}
    found, judgments = score_with_library(
        items, args.method, annotator, Path(args.out).with_name("alpaca_eval"), endpoint
    )
    scores |= {
        "judge": {"kind": "alpaca_eval", "model": annotator},
        "judge_prompt": {"name": annotator, "source": f"the alpaca_eval library's annotator {annotator}"},
        **found,
        **mean_lengths(items),
        **unparsed_counts(judgments, settings.max_unparsed_share),
    }
    log.info("%s seed %d on alpaca_eval (%s): %s", args.method, args.seed, annotator, json.dumps(found))
    return judgments


def judge_prompt(args: argparse.Namespace, settings: Judge) -> JudgePrompt:
    """Arena-Hard v0.1's prompt from --judge-prompt, else the suite's; warns where the judge's settings differ
    from those Arena-Hard's protocol names."""
    if not args.judge_prompt:
        return suite_prompt(settings.template_version)
    prompt = arena_hard_prompt(args.judge_prompt)
    ours = {"judge_model": settings.model, "temperature": settings.temperature}
    ours["max_tokens"] = settings.max_new_tokens
    differ = {k: (ours[k], v) for k, v in (prompt.settings or {}).items() if v is not None and ours[k] != v}
    if differ:
        log.warning("the judge's settings differ from %s's (ours, theirs): %s", prompt.name, differ)
    return prompt


def judged_scores(args: argparse.Namespace, items: list[dict], settings: Judge, scores: dict) -> list[dict]:
    """Scores the test set with the suite's pairwise judge into `scores`; returns the judgments."""
    # the judge model's options as given (its identity keys the cache), without the stage's own
    judge_config = settings.model_dump(exclude_unset=True, exclude=set(Judge.extra_options))
    identity = client_identity(judge_config, args.base_model, "judge")
    prompt = judge_prompt(args, settings)
    labels = None
    if settings.verdict_from == "label_likelihood":  # chosen labels are cached apart from written replies
        labels = label_texts(prompt)
        identity = {**identity, "verdict_from": settings.verdict_from, "labels": labels}
    cache = ResponseCache(args.cache)
    sources = [args.generations, args.tests, args.baseline_generations]
    inputs = [file_sha256(path) if path else None for path in sources]
    fingerprint = {"inputs_sha256": inputs, "judge": identity, "template": settings.template_version}
    if args.judge_prompt:
        fingerprint["prompt_sha256"] = prompt.sha256
    cache.check_inputs(args.out, fingerprint, "judging")
    server_log = args.server_log or f"{args.out}.server.log"
    with ClientFactory(judge_config, args.base_model, "judge", server_log, labels) as judge_factory:
        judgments, usage = judge(
            items,
            identity,
            judge_factory,
            cache,
            prompt,
            chunk=request_chunk(judge_config),
            legacy=legacy_identity(judge_config),
        )
    this_run = {k: v for k, v in usage.items() if k != "cache_hits"}
    spent = ledger.totals(args.cache, judge_keys(items, identity, prompt, cache))
    bound = settings.max_unparsed_share
    scores |= {
        "judge": {**{k: judge_config[k] for k in ("kind", "model")}, "verdict_from": settings.verdict_from},
        "judge_prompt": prompt.record(),
        "judge_usage": {**spent, "cache_hits": usage["cache_hits"], "this_run": this_run},
        **scores_of(items, judgments, args.dataset, args.method, settings.bootstrap_rounds, bound),
    }
    log.info(
        "%s seed %d on %s: %s",
        args.method,
        args.seed,
        args.dataset,
        json.dumps(
            {k: scores[k] for k in ("score", "win_rate", "lc_win_rate", "avg_length", "unparsed_share")}
        ),
    )
    return judgments
