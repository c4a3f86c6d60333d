"""Per-token log-probs of a response under a causal LM, tokenised as preference training tokenises a pair."""

from __future__ import annotations

from functools import lru_cache


@lru_cache(maxsize=4)
def load(path: str):
    """(model in eval mode, float32, on CPU or the first GPU; tokenizer) of a saved model folder."""
    import torch
    from transformers import AutoModelForCausalLM

    from bmc.models.prepare import load_tokenizer

    model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    if torch.cuda.is_available():
        model = model.to("cuda")
    return model, load_tokenizer(path)


def encode(tokenizer, user: str, reply: str, fmt: str = "paper") -> tuple[list[int], list[int]]:
    """(prompt ids, response ids + EOS) in the training prompt format."""
    from bmc.data.prompt_format import completion_text, prompt_text

    prompt = tokenizer(prompt_text(user, fmt, tokenizer), add_special_tokens=False)["input_ids"]
    reply_ids = tokenizer(completion_text(user, reply, tokenizer, fmt), add_special_tokens=False)["input_ids"]
    return list(prompt), list(reply_ids)


def response_logps(model, prompt_ids: list[int], response_ids: list[int]) -> list[float]:
    """log p(token | everything before it) for each response token."""
    import torch

    ids = torch.tensor([prompt_ids + response_ids], device=model.device)
    with torch.no_grad():
        logits = model(input_ids=ids).logits[0, :-1].float()
    logps = logits.log_softmax(-1).gather(-1, ids[0, 1:, None]).squeeze(-1)
    return logps[len(prompt_ids) - 1 :].tolist()


def response_masks(
    prompt_ids: list[int], chosen_ids: list[int], rejected_ids: list[int], stop_ids, algorithm: str
) -> tuple[list[int], list[int]]:
    """The trainer's diff masks (`bmc.alignment.trainer.response_masks`: the full prompt+response sequences
    diffed, kept for the response tokens) without importing the trainer and TRL."""
    from bmc.alignment.masks import diff_masks

    chosen, rejected = diff_masks(prompt_ids + chosen_ids, prompt_ids + rejected_ids, stop_ids, algorithm)
    return chosen[len(prompt_ids) :], rejected[len(prompt_ids) :]
