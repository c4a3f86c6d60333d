"""What differs between the tasks: grading, how a released solution becomes y_w, and the evaluation protocol.

QA: exact match on the text after the last "The answer is" (`bmc.evaluation.qa`: the corrected rule, and
the authors' released rule by name); the QA SFT data starts every answer with the step-by-step cue, so y_w
does too, and so does the evaluation prompt. Math: the corrected rule takes the final answer (boxed, then
"the answer is" in either case, then the last number) and compares it symbolically with math-verify
(`bmc.evaluation.math_answers`); the released rule is the authors' harness, re-implemented in
`bmc.evaluation.math_released`; the math SFT solutions start directly, so y_w is the released solution as
is and the evaluation prompt has no cue, as in the authors' math evaluation. Where the release folder holds
the authors' grading code, the evaluate stage grades the released rule with that code itself
(`bmc.evaluation.released_code`), and this module's released verdicts are its stand-in elsewhere. Generation stops at the
released stop strings (`STOP_STRINGS`) unless the config gives its own. Instruction following (`if`): there is
no gold answer; y_w is a human-preferred reply (ShareGPT at offline scales) and every reply the SFT model
samples is a candidate y_l, as in the QA and math construction; models are scored by a judge
(`bmc.evaluation.judge`), not graded.
"""

from __future__ import annotations

from bmc.data.prompt_format import EVAL_RESPONSE_PREFIX, eval_prompt, prompt_text

TASKS = ("qa", "math", "if")
REASONING_TASKS = ("qa", "math")  # graded against a gold answer
METRICS = {"qa": "exact_match", "math": "accuracy", "if": "judged_win_rate"}
GRADERS = ("corrected", "released")  # the suite's rule (default) and the authors' released one
# the released evaluation scripts' stop strings ("Question:" etc. are covered by their prefixes) and their
# max new tokens; instruction following stops at the end of the turn only
STOP_STRINGS = {
    "qa": ("Question", "USER", "ASSISTANT", "Instruction", "Response", "Below"),
    "math": ("Instruction", "Response"),
    "if": (),
}
MAX_NEW_TOKENS = {"qa": 512, "math": 1024, "if": 2048}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return task


def grade(
    task: str, response: str, answer: str, rule: str = "corrected", dataset: str | None = None
) -> tuple[str, bool]:
    """(prediction, correct) of a response against the gold `answer` under `rule` (`GRADERS`).

    `corrected` is the suite's grader: it builds the pairs (a correct sample never becomes y_l), validates
    bridged edits and gives the tables' corrected scores. `released` is the authors' rule as re-implemented
    here (QA: the gold as written; math: their harness, `bmc.evaluation.math_released`, whose gold handling
    depends on the test set `dataset`: MATH's gold is normalised once, the others' twice, the default); the
    evaluate stage runs the authors' code itself where the release holds it (`bmc.evaluation.released_code`).
    Instruction following has no gold answer: every reply grades as not correct, so that sampled SFT replies
    become the losing responses of the pairs (the winner is the human-preferred reply)."""
    task = check_task(task)
    if rule not in GRADERS:
        raise ValueError(f"unknown grader {rule!r}; expected one of {list(GRADERS)}")
    if task == "if":
        return "", False
    if task == "qa":
        from bmc.evaluation import qa

        if rule == "released":
            prediction = qa.released_prediction(response)
            return prediction, qa.released_is_correct(prediction, answer)
        prediction = qa.extract_prediction(response)
        return prediction, qa.is_correct(prediction, answer)
    if rule == "released":
        from bmc.evaluation import math_released

        return math_released.is_correct(response, answer, dataset or "")
    from bmc.evaluation.math_answers import extract_answer_span, is_correct

    return extract_answer_span(response), is_correct(response, answer)


def grade_released(task: str, response: str, answer: str, dataset: str | None = None) -> tuple[str, bool]:
    """(prediction, correct) under the authors' released rule (re-implemented): what the paper's numbers mean."""
    return grade(task, response, answer, rule="released", dataset=dataset)


def winning_response(task: str, solution: str) -> str:
    """y_w of a pair: the released solution, in the form the SFT model was trained to answer in."""
    return EVAL_RESPONSE_PREFIX + solution if check_task(task) == "qa" else solution


def answer_prompt(task: str, question: str, fmt: str = "paper", tokenizer=None) -> str:
    """The evaluation prompt. QA: the paper's zero-shot step-by-step prompt (in a chat template: the
    question as the user turn, then the step-by-step cue); math: the same without the cue, as the authors'
    math evaluation; instruction following: the training prompt itself (the model answers as it was
    tuned to)."""
    task = check_task(task)
    if task == "if":
        return prompt_text(question, fmt, tokenizer)
    cue = EVAL_RESPONSE_PREFIX if task == "qa" else ""
    if fmt == "paper":
        return eval_prompt(question, cue)
    return prompt_text(question, fmt, tokenizer) + cue


def grade_generations(
    generations: list[dict], task: str = "qa", released: list[tuple[str, bool]] | None = None
) -> list[dict]:
    """Per-generation records: `id`, `answer`, and `prediction`/`correct` under the corrected grader and
    `prediction_released`/`correct_released` under the released rule: `released`, the (prediction, correct)
    of each generation by the authors' code when given, else the re-implementation's."""
    if released is None:
        released = [grade_released(task, g["response"], g["answer"], g.get("dataset")) for g in generations]
    elif len(released) != len(generations):
        raise ValueError(f"{len(released)} released verdicts for {len(generations)} generations")
    records = []
    for g, (prediction_released, correct_released) in zip(generations, released, strict=True):
        prediction, correct = grade(task, g["response"], g["answer"])
        records.append(
            {
                "id": g["id"],
                "answer": g["answer"],
                "prediction": prediction,
                "correct": correct,
                "prediction_released": prediction_released,
                "correct_released": correct_released,
            }
        )
    return records


def accuracy(records: list[dict], task: str) -> dict:
    """The scores of graded records (`grade_generations`): `score` (percent correct) under the corrected grader,
    `score_released` under the released rule, and `parsed`, the responses with a final answer the grader found."""
    n_correct = sum(r["correct"] for r in records)
    n_released = sum(r["correct_released"] for r in records)
    return {
        "metric": METRICS[task],
        "score": 100.0 * n_correct / len(records),
        "n": len(records),
        "correct": n_correct,
        "score_released": 100.0 * n_released / len(records),
        "correct_released": n_released,
        "parsed": sum(bool(r["prediction"]) for r in records),
    }
