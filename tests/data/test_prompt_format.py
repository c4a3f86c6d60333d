"""Prompt formats: the paper's template and the model's own chat template (prompt + completion = the
conversation as the template renders it, ending in exactly one EOS)."""

import pytest
from transformers import AutoTokenizer, GenerationConfig

from bmc.data.prompt_format import completion_text, prompt_text, training_prompt
from bmc.data.tasks import answer_prompt
from bmc.generation.backends import stop_token_ids
from bmc.models.prepare import SHIPPED_TOKENIZER
from bmc.training.sft import to_prompt_completion

# a Llama-3-like template: the assistant turn ends with its own token, not with the tokenizer's EOS
END_OF_TURN_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)


@pytest.fixture
def tok():
    return AutoTokenizer.from_pretrained(SHIPPED_TOKENIZER)


def test_paper_format_is_the_instruction_template_plus_eos(tok):
    assert prompt_text("Q?") == training_prompt("Q?") == "### Instruction:\nQ?\n\n### Response:\n"
    assert completion_text("Q?", "A.", tok) == "A." + tok.eos_token


def test_chat_template_prompt_and_completion_rebuild_the_conversation(tok):
    turns = [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]
    full = tok.apply_chat_template(turns, tokenize=False)
    prompt = prompt_text("Q?", "chat_template", tok)
    completion = completion_text("Q?", "A.", tok, "chat_template")
    assert prompt.endswith("<|im_start|>assistant\n") and "Q?" in prompt
    assert (prompt + completion) == full.rstrip()  # SmolLM2's turn ends with its EOS, <|im_end|>
    assert completion == "A." + tok.eos_token and completion.count(tok.eos_token) == 1


def test_chat_template_appends_eos_after_an_end_of_turn_token(tok):
    tok.chat_template = END_OF_TURN_TEMPLATE
    tok.eos_token = "<|endoftext|>"
    assert completion_text("Q?", "A.", tok, "chat_template") == "A.<|im_end|><|endoftext|>"


def test_chat_template_needs_a_template(tok):
    tok.chat_template = None
    with pytest.raises(ValueError, match="needs a tokenizer with a chat template"):
        prompt_text("Q?", "chat_template", tok)
    with pytest.raises(ValueError, match="unknown prompt format"):
        prompt_text("Q?", "alpaca")


def test_answer_prompts_in_the_chat_template(tok):
    chat = prompt_text("Write a haiku.", "chat_template", tok)
    assert answer_prompt("if", "Write a haiku.", "chat_template", tok) == chat
    assert answer_prompt("qa", "Q?", "chat_template", tok).endswith("assistant\nLet's think step by step.\n")


def test_sft_examples_follow_the_format(tok):
    rows = [
        {"id": "1", "messages": [{"role": "user", "content": "Q?"}, {"role": "assistant", "content": "A."}]}
    ]
    assert to_prompt_completion(rows, tok) == [
        {"prompt": training_prompt("Q?"), "completion": "A." + tok.eos_token}
    ]
    chat = to_prompt_completion(rows, tok, "chat_template")[0]
    assert chat["prompt"] == prompt_text("Q?", "chat_template", tok) and chat["completion"].startswith("A.")


def test_generation_stops_at_eos_and_the_models_end_of_turn_tokens(tok):
    assert stop_token_ids(tok, GenerationConfig(eos_token_id=[5, tok.eos_token_id])) == [tok.eos_token_id, 5]
    assert stop_token_ids(tok, GenerationConfig()) == [tok.eos_token_id]
