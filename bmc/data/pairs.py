"""Preference pairs: graded samples of the SFT model, and pairs built from them or given with the data.

Sampling (rule `sample_losing`): the SFT model answers each training question (training template, so it
answers the way it learned) `num_samples` times; each answer is graded with the task's evaluation grader
(`bmc.data.tasks`). Building (rule `build_pairs`): y_w = the ground-truth solution (`bmc.data.tasks.winning_response`),
y_l = the first wrong, non-empty sample. Given pairs (rule `given_pairs`): pairs whose y_l is given with the
data (a `rejected` field of each preference row, e.g. the paper's UltraFeedback pairs for instruction
following); nothing is sampled.
"""

from __future__ import annotations

from collections import Counter, defaultdict

from bmc.data.prompt_format import prompt_messages
from bmc.data.tasks import grade, winning_response


def sample_items(questions: list[dict], num_samples: int) -> list[dict]:
    """`num_samples` items per question, `<question id>#<k>`, each carrying its question and its index `sample`."""
    return [
        {**q, "id": f"{q['id']}#{k}", "question_id": q["id"], "sample": k}
        for q in questions
        for k in range(num_samples)
    ]


def grade_row(row: dict) -> dict:
    """Add `prediction` and `correct` (the row's task's grader against `answer`) to a row with a `response`."""
    prediction, correct = grade(row["task"], row["response"], row["answer"])
    return {**row, "prediction": prediction, "correct": correct}


def make_pair(pair_id: str, question: dict, rejected: str) -> dict:
    """A preference pair of a question row: y_w from its solution (`bmc.data.tasks.winning_response`), y_l given."""
    return {
        "id": pair_id,
        "task": question["task"],
        "dataset": question["dataset"],
        "prompt": prompt_messages(question["question"]),
        "chosen": winning_response(question["task"], question["solution"]),
        "rejected": rejected,
        "answer": question["answer"],
        "source": question.get("source"),
    }


def build_pairs(samples: list[dict]) -> tuple[list[dict], dict]:
    """One pair per question that has a wrong, non-empty sample (the first such sample, in file order).

    Summary counts samples (`asked`, `answered` = non-empty, `empty`, `correct`, `wrong` = non-empty and
    incorrect), distinct `questions`, and `kept` pairs; overall and under `per_dataset`.
    """
    counts: dict[str, Counter] = defaultdict(Counter)
    questions: dict[str, set[str]] = defaultdict(set)
    pairs: dict[str, dict] = {}
    for s in samples:
        qid = s.get("question_id") or s["id"].rpartition("#")[0] or s["id"]
        c = counts[s["dataset"]]
        questions[s["dataset"]].add(qid)
        c["asked"] += 1
        if not s["response"].strip():
            c["empty"] += 1
            continue
        c["answered"] += 1
        if s["correct"]:
            c["correct"] += 1
            continue
        c["wrong"] += 1
        if qid not in pairs:
            c["kept"] += 1
            pairs[qid] = make_pair(qid, s, s["response"])
    keys = ("asked", "answered", "empty", "correct", "wrong", "kept")
    per_dataset = {
        ds: {"questions": len(questions[ds]), **{k: counts[ds][k] for k in keys}} for ds in sorted(counts)
    }
    total = {k: sum(d[k] for d in per_dataset.values()) for k in ("questions", *keys)}
    return list(pairs.values()), {**total, "per_dataset": per_dataset}


def given_pairs(rows: list[dict]) -> tuple[list[dict], dict]:
    """One pair per row with a non-empty rejected reply that differs from the winning one; the summary
    counts rows (`asked`), `kept` pairs and the reasons rows were left out, overall and per dataset."""
    counts: dict[str, Counter] = defaultdict(Counter)
    pairs = []
    for r in rows:
        c = counts[r["dataset"]]
        c["asked"] += 1
        chosen = winning_response(r["task"], r["solution"])
        if not r["rejected"].strip():
            c["empty"] += 1
        elif r["rejected"].strip() == chosen.strip():
            c["same as chosen"] += 1
        else:
            c["kept"] += 1
            pairs.append(make_pair(r["id"], r, r["rejected"]))
    keys = ("asked", "empty", "same as chosen", "kept")
    per_dataset = {ds: {k: counts[ds][k] for k in keys} for ds in sorted(counts)}
    total = {k: sum(d[k] for d in per_dataset.values()) for k in keys}
    return pairs, {**total, "questions": total["asked"], "per_dataset": per_dataset}
