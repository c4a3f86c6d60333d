"""Prompt templates of the paper (QA/math "### Instruction" format and the zero-shot eval prompt)."""

from __future__ import annotations

INSTRUCTION_TEMPLATE = "### Instruction:\n{user}\n\n### Response:\n"

# Alpaca-style preamble of the zero-shot QA/math evaluation prompt.
EVAL_PREAMBLE = (
    "Below is an instruction that describes a task. "
    "Write a response that appropriately completes the request.\n\n"
)
EVAL_RESPONSE_PREFIX = "Let's think step by step.\n"


def training_prompt(user: str) -> str:
    """Prompt part of a training example; the response and EOS follow it directly."""
    return INSTRUCTION_TEMPLATE.format(user=user)


def training_text(user: str, assistant: str, eos: str) -> str:
    return training_prompt(user) + assistant + eos


def eval_prompt(question: str) -> str:
    """Zero-shot evaluation prompt: preamble, question, then the step-by-step cue."""
    return EVAL_PREAMBLE + INSTRUCTION_TEMPLATE.format(user=question) + EVAL_RESPONSE_PREFIX


def prompt_messages(user: str) -> list[dict]:
    return [{"role": "user", "content": user}]
