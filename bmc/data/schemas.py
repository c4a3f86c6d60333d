"""Row checks for the QA data: multiple-choice questions and SFT conversations.

Each `check_*` takes a parsed JSON row (field presence and types already checked by
`bmc.io.iter_jsonl`) and returns an error message, or None when the row is good.
"""

from __future__ import annotations

import re

OPTIONS_MARKER = "\nOptions:\n"
# released question rows; shipped subsets add `line` (1-based line number in the released file)
QA_FIELDS: dict[str, type | tuple[type, ...]] = {"problem": str, "solution": str, "answer": str}
SFT_FIELDS: dict[str, type | tuple[type, ...]] = {"prompt_id": str, "messages": list}
FINAL_ANSWER = re.compile(r"The answer is (.+?)\s*\Z", re.DOTALL)


def options_of(problem: str) -> list[str] | None:
    """The answer options listed after 'Options:' (one per line), or None if there is no list."""
    _, sep, tail = problem.partition(OPTIONS_MARKER)
    if not sep:
        return None
    return [o.strip() for o in tail.split("\n") if o.strip()] or None


def _answer_error(problem: str, answer: str) -> str | None:
    options = options_of(problem)
    if not options:
        return "question has no 'Options:' list (expected '<question>\\nOptions:\\n<one option per line>')"
    if answer.strip().lower() not in {o.lower() for o in options}:
        return f"answer {answer!r} is not one of the options {options} (case ignored)"
    return None


def check_qa_row(row: dict) -> str | None:
    """A released QA row: non-empty problem/solution/answer, answer among the problem's options."""
    for key in QA_FIELDS:
        if not row[key].strip():
            return f"field {key!r} is empty"
    if "line" in row and (type(row["line"]) is not int or row["line"] < 1):
        return f"field 'line' should be a positive integer, got {row['line']!r}"
    return _answer_error(row["problem"], row["answer"])


def check_conversation(row: dict) -> str | None:
    """`messages` is one user turn then one assistant turn, both with non-empty text."""
    messages = row["messages"]
    roles = [m.get("role") if isinstance(m, dict) else None for m in messages]
    if roles != ["user", "assistant"]:
        return f"messages should be one user turn then one assistant turn, got roles {roles}"
    if not all(isinstance(m.get("content"), str) and m["content"].strip() for m in messages):
        return "a message has empty or non-string content"
    return None


def check_sft_row(row: dict) -> str | None:
    """A QA SFT row: one user question with options, one assistant rationale ending 'The answer is X'."""
    if msg := check_conversation(row):
        return msg
    messages = row["messages"]
    if not row.get("prompt_id", "x").strip():
        return "field 'prompt_id' is empty"
    final = FINAL_ANSWER.search(messages[1]["content"])
    if final is None:
        return "assistant message should end with 'The answer is <option>'"
    return _answer_error(messages[0]["content"], final.group(1))
