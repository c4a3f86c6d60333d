"""What differs between the tasks: grading, how a released solution becomes y_w, and the evaluation prompt.

QA: exact match on the text after the last "The answer is" (`bmc.evaluation.qa`); the QA SFT data starts
every answer with the step-by-step cue, so y_w does too. Math: the first expression after the last
"The answer is", compared symbolically with math-verify (`bmc.evaluation.math_answers`); the math SFT
solutions start directly, so y_w is the released solution as is. Instruction following (`if`): there is
no gold answer; y_w is a human-preferred reply (ShareGPT at offline scales) and every reply the SFT model
samples is a candidate y_l, as in the QA and math construction; models are scored by a judge
(`bmc.evaluation.judge`), not graded.
"""

from __future__ import annotations

from bmc.chat import EVAL_RESPONSE_PREFIX, eval_prompt, prompt_text

TASKS = ("qa", "math", "if")
REASONING_TASKS = ("qa", "math")  # graded against a gold answer
METRICS = {"qa": "exact_match", "math": "accuracy", "if": "judged_win_rate"}


def check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {list(TASKS)}")
    return task


def grade(task: str, response: str, answer: str) -> tuple[str, bool]:
    """(prediction, correct) of a response against the gold `answer`; a response without the cue is wrong.

    Instruction following has no gold answer: every reply grades as not correct, so that sampled SFT
    replies become the losing responses of the pairs (the winner is the human-preferred reply)."""
    task = check_task(task)
    if task == "if":
        return "", False
    if task == "qa":
        from bmc.evaluation.qa import extract_prediction, is_correct

        prediction = extract_prediction(response)
        return prediction, is_correct(prediction, answer)
    from bmc.evaluation.math_answers import extract_answer_span, is_correct

    return extract_answer_span(response), is_correct(response, answer)


def winning_response(task: str, solution: str) -> str:
    """y_w of a pair: the released solution, in the form the SFT model was trained to answer in."""
    return EVAL_RESPONSE_PREFIX + solution if check_task(task) == "qa" else solution


def answer_prompt(task: str, question: str, fmt: str = "paper", tokenizer=None) -> str:
    """The evaluation prompt: the paper's zero-shot step-by-step prompt for QA and math (in a chat template:
    the question as the user turn, then the step-by-step cue); for instruction following the training
    prompt itself (the model answers as it was tuned to, no cue)."""
    if check_task(task) == "if":
        return prompt_text(question, fmt, tokenizer)
    if fmt == "paper":
        return eval_prompt(question)
    return prompt_text(question, fmt, tokenizer) + EVAL_RESPONSE_PREFIX
