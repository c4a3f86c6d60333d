"""Prompt formats: the paper's QA/math "### Instruction" template (and its zero-shot eval prompt), or the
SFT model's own chat template.

`paper` (the default): prompt = "### Instruction:\n{user}\n\n### Response:\n", completion = the reply + EOS.
`chat_template`: the tokenizer's chat template, for SFT models tuned with one (the paper's released
instruction-following SFT models, Llama-3-Base-8B-SFT and zephyr-7b-sft-full): prompt = the user turn and
the assistant cue, completion = the template's rendering of the assistant turn, + EOS unless it ends
with it (what the authors' TRL 0.9 did: it appended EOS to every response).
"""

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


def eval_prompt(question: str, cue: str = EVAL_RESPONSE_PREFIX) -> str:
    """Zero-shot evaluation prompt: preamble, question, then the response cue (QA: step by step; math: none)."""
    return EVAL_PREAMBLE + INSTRUCTION_TEMPLATE.format(user=question) + cue


def prompt_messages(user: str) -> list[dict]:
    return [{"role": "user", "content": user}]


PROMPT_FORMATS = ("paper", "chat_template")


def check_prompt_format(fmt: str, tokenizer=None) -> str:
    if fmt not in PROMPT_FORMATS:
        raise ValueError(f"unknown prompt format {fmt!r}; expected one of {list(PROMPT_FORMATS)}")
    if fmt == "chat_template" and not getattr(tokenizer, "chat_template", None):
        raise ValueError("prompt format chat_template needs a tokenizer with a chat template")
    return fmt


def render_chat(tokenizer, messages: list[dict]) -> str:
    """The chat-template text ending with the assistant cue; a leading BOS is dropped when the tokenizer
    adds one itself on encoding (otherwise e.g. Llama-3 prompts would start with two BOS tokens)."""
    text = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return _drop_bos(tokenizer, text)


def _drop_bos(tokenizer, text: str) -> str:
    bos = tokenizer.bos_token
    if bos and text.startswith(bos):
        ids = tokenizer("x")["input_ids"]
        if ids and ids[0] == tokenizer.bos_token_id:
            text = text[len(bos) :]
    return text


def prompt_text(user: str, fmt: str = "paper", tokenizer=None) -> str:
    """The prompt of a training example or of a generation (the model answers right after it)."""
    if check_prompt_format(fmt, tokenizer) == "paper":
        return training_prompt(user)
    return render_chat(tokenizer, prompt_messages(user))


def completion_text(user: str, reply: str, tokenizer, fmt: str = "paper") -> str:
    """The response part of a training example, ending in the tokenizer's EOS."""
    eos = tokenizer.eos_token
    if check_prompt_format(fmt, tokenizer) == "paper":
        return reply + eos
    prompt = tokenizer.apply_chat_template(prompt_messages(user), tokenize=False, add_generation_prompt=True)
    turns = [*prompt_messages(user), {"role": "assistant", "content": reply}]
    full = tokenizer.apply_chat_template(turns, tokenize=False)
    if not full.startswith(prompt):
        raise ValueError("the chat template renders the conversation with a different prompt than alone")
    completion = full[len(prompt) :].rstrip()
    return completion if completion.endswith(eos) else completion + eos
