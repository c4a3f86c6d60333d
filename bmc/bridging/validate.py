"""Validation of an editor's output; an invalid edit keeps the original pair (status `fallback`).

Reasons are fixed strings so that the summary can count them. Rules:
- every output: whole (an endpoint's reply cut at the token limit, finish reason `length`, or filtered,
  `content_filter`, is no edit), not far longer than the editor's `max_new_tokens` allows (`check_length`:
  more than `TOKEN_FACTOR` times as many tokens as the editor reports, or more than `CHARS_PER_TOKEN`
  characters per allowed token: a server that ignores the limit, or a reply that is not an edit), not empty, not identical to the response it replaces, and no line of the editing
  instructions in it (a weak editor, e.g. a pretrained model, tends to echo its prompt; for instruction
  following, which has no answer to check, such an echo would otherwise pass as a winner);
- a new winner (`chosen`): not identical to y_l either (y_l is wrong); for QA and math, the final
  "The answer is ..." must grade as correct with the evaluation's own grader (`bmc.data.tasks.grade`);
  for QA nothing may follow that final line;
- a new loser (`rejected`, the inverse strategy): for QA and math, its final answer must be *wrong*;
- an edit (not `free`), when `bridge.min_kept_share` is set: it keeps at least that share of the words of the
  response it edits (`kept_share`). A weak editor asked for minimal edits often answers with the bare final
  line instead, which passes every check above but bridges nothing. Off by default: neither the paper nor the
  released code checks it.
Instruction-following pairs (task `if`, no gold answer) and pairs without an `answer` get the generic checks only.
"""

from __future__ import annotations

from difflib import SequenceMatcher

from bmc.data.tasks import grade
from bmc.evaluation.qa import ANSWER_CUE

EMPTY = "empty output"
NO_CUE = f"no '{ANSWER_CUE}' line"
TRAILING = f"text after the final '{ANSWER_CUE}' line"
WRONG = "final answer is not the correct answer"
STILL_CORRECT = "degraded answer is still correct"
SAME_AS_LOSER = "identical to the losing response"
SAME_AS_WINNER = "identical to the winning response"
ECHO = "repeats the editing instructions"
TOO_LITTLE_KEPT = "keeps too little of the response it edits"
CUT = "cut at the token limit (finish_reason length)"
FILTERED = "filtered by the endpoint (finish_reason content_filter)"
TOO_LONG = "far longer than max_new_tokens allows"
TOKEN_FACTOR = 1.5  # a reply's token count, as the model reports it, may exceed the limit by re-tokenizing
CHARS_PER_TOKEN = 16  # four times English text's usual 4 characters per token


def check_length(
    text: str, max_tokens: int | None, tokens: int = 0, finish_reason: str | None = None
) -> str | None:
    """None if a reply is whole and within reach of `max_tokens` (None: no limit known), else why not.
    `tokens`: the reply's token count as the model reported it (0: unknown)."""
    if finish_reason == "length":
        return CUT
    if finish_reason == "content_filter":
        return FILTERED
    if max_tokens is None:
        return None
    if tokens > TOKEN_FACTOR * max_tokens or len(text) > CHARS_PER_TOKEN * max_tokens:
        return TOO_LONG
    return None


def check_edit(text: str, pair: dict, replaces: str, instructions: tuple[str, ...] = ()) -> str | None:
    """None if `text` is a usable new `replaces` ("chosen" or "rejected") response for `pair`, else why not.
    `instructions`: the fixed lines of the editing prompt (`Template.instruction_lines`)."""
    if replaces not in ("chosen", "rejected"):
        raise ValueError(f"replaces must be 'chosen' or 'rejected', got {replaces!r}")
    text = text.strip()
    if not text:
        return EMPTY
    if text == pair["rejected"].strip():
        return SAME_AS_LOSER
    if text == pair["chosen"].strip():
        return SAME_AS_WINNER
    if any(line in text for line in instructions):
        return ECHO
    answer = pair.get("answer")
    if answer is None or pair.get("task") == "if":
        return None
    if ANSWER_CUE not in text:
        return NO_CUE
    task = pair.get("task", "qa")
    _, correct = grade(task, text, answer)
    if task == "qa" and "\n" in text[text.rfind(ANSWER_CUE) :]:
        return TRAILING
    if replaces == "chosen" and not correct:
        return WRONG
    if replaces == "rejected" and correct:
        return STILL_CORRECT
    return None


def kept_share(source: str, edit: str) -> float:
    """The share of `source`'s words (whitespace-separated) that `edit` keeps in order: the words of the longest
    matching blocks of difflib's alignment (no autojunk heuristic), over the words of `source`."""
    words, edited = source.split(), edit.split()
    if not words:
        return 1.0
    blocks = SequenceMatcher(None, words, edited, autojunk=False).get_matching_blocks()
    return sum(b.size for b in blocks) / len(words)


def check_kept(text: str, source: str, min_share: float | None) -> str | None:
    """None if the edit `text` keeps at least `min_share` of `source` (or no minimum is set), else why not."""
    if min_share is None or kept_share(source, text) >= min_share:
        return None
    return TOO_LITTLE_KEPT
