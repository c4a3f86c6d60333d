"""Instruction-following scores (rule `judge`, `bmc.stages.judge`): AlpacaEval and Arena-Hard scores of one
model's answers, judged pairwise against a baseline.

Baseline per test set (config `judge.baselines`): `reference` = the outputs shipped with the test set
(AlpacaEval's `baseline` field: text-davinci-003 offline), or a method name whose generations are given
with --baseline-generations (offline Arena-Hard: the SFT model's answers). Scores:
- AlpacaEval: raw win rate (ties count half), length-controlled win rate (`bmc.evaluation.length_control`,
  no instruction-difficulty term offline) and the model's mean answer length in characters;
- Arena-Hard: Bradley-Terry win rate with a bootstrap 95% CI (`bmc.evaluation.arena_hard`) and the
  length-controlled win rate.
`score` (the number the tables average) is the LC win rate for AlpacaEval and the win rate for Arena-Hard.
Judgments without a verdict (`bmc.evaluation.judge`: unparsed or failed) are left out of every rate and
counted (`unparsed`, `unparsed_share`); `max_unparsed_share` (config `judge.max_unparsed_share`) is recorded
beside them, and `bmc.evaluation.judge.check_unparsed_shares` (called by the table stage) fails on a scores file above it. With no
verdict at all the rates are null. Judgments go to `judgments.jsonl` beside `scores.json`, the judge's cost
into the scores. With `judge.alpaca_eval_annotator` (paper scale) AlpacaEval is scored by the `alpaca_eval`
library itself (`bmc.evaluation.alpaca_eval_library`); Arena-Hard still uses the suite's judge.
"""

from __future__ import annotations

from statistics import mean

from bmc.data.records import GENERATION
from bmc.evaluation import arena_hard
from bmc.evaluation.judge import model_preference, unparsed_counts
from bmc.evaluation.length_control import lc_win_rate
from bmc.io import InputError, read_jsonl


def baseline_answers(
    tests: list[dict], tests_path: str, generations: str | None
) -> tuple[dict[str, str], str]:
    """(test id -> the baseline's answer, what the baseline is): a baseline model's generations if given, else
    the reference outputs shipped with the test set (AlpacaEval's `baseline` field)."""
    if generations:
        answers = {g["id"]: g["response"] for g in read_jsonl(generations, required=GENERATION)}
        return answers, "generations " + generations
    answers = {q["id"]: q["baseline"] for q in tests if isinstance(q.get("baseline"), str)}
    return answers, "reference outputs of " + tests_path


def judge_items(
    tests: list[dict], generations: list[dict], baseline: dict[str, str], path: str
) -> list[dict]:
    """One item per test question: question, the model's response and the baseline's (and `index`, the
    question's position in its source file, when the test set records it)."""
    responses = {g["id"]: g["response"] for g in generations}
    items = []
    for q in tests:
        if q["id"] not in responses:
            raise InputError(path, None, f"no generation for test question {q['id']!r}")
        if q["id"] not in baseline:
            raise InputError(path, None, f"no baseline answer for test question {q['id']!r}")
        item = {"id": q["id"], "question": q["question"], "response": responses[q["id"]]}
        item["baseline"] = baseline[q["id"]]
        source = q.get("source")
        if isinstance(source, dict) and isinstance(source.get("index"), int):
            item["index"] = source["index"]
        items.append(item)
    return items


def mean_lengths(items: list[dict]) -> dict:
    """Mean length in characters of the model's answers and of the baseline's."""
    return {
        "avg_length": round(mean(len(it["response"]) for it in items), 1),
        "baseline_avg_length": round(mean(len(it["baseline"]) for it in items), 1),
    }


def scores_of(
    items: list[dict], judgments: list[dict], dataset: str, method: str, rounds: int, bound: float = 1.0
) -> dict:
    """The test set's scores from the judgments (see the module docstring); `bound`: judge.max_unparsed_share."""
    by_id = {it["id"]: it for it in items}
    parsed = [j for j in judgments if j["verdict"] is not None]
    out = {"win_rate": None, "lc_win_rate": None, **mean_lengths(items), **unparsed_counts(judgments, bound)}
    if parsed:
        prefs = [model_preference(j) for j in parsed]
        deltas = [len(by_id[j["id"]]["response"]) - len(by_id[j["id"]]["baseline"]) for j in parsed]
        out |= {
            "win_rate": round(100.0 * mean(prefs), 2),
            "lc_win_rate": round(lc_win_rate(prefs, deltas), 2),
        }
    if dataset == "arena_hard":
        out |= {"win_rate": None, "ci_low": None, "ci_high": None}
        if parsed:
            battles = [
                {"model": method, "model_first": j["model_first"], "verdict": j["verdict"]} for j in parsed
            ]
            bt = arena_hard.score(battles, baseline="baseline", rounds=rounds)[method]
            out |= {"win_rate": bt["win_rate"], "ci_low": bt["ci_low"], "ci_high": bt["ci_high"]}
        out["score"] = out["win_rate"]
    else:
        out["score"] = out["lc_win_rate"]
    return out
