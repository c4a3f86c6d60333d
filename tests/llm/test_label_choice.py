"""A local judge choosing its verdict label (`judge.verdict_from: label_likelihood`): its scores are those of a
plain forward pass over prompt + label, whatever the batching, padding and the labels' token counts."""

from dataclasses import replace

import pytest
import torch

from bmc.data.prompt_format import render_chat
from bmc.evaluation.judge import LABELS, label_texts, suite_prompt
from bmc.llm.factory import make_client

QUESTIONS = ["Hi.", "Name three primes " * 9, "Why is the sky blue?", "Sort these: " + "b a c " * 40]
MIXED = ["[[A>B]]", "[[A=B]] because both answers are equally good", "B", "[[B>>A]]!"]


def reference_logprobs(client, messages: list[dict]) -> list[float]:
    """Each label's summed token log-probability after the prompt, one unpadded sequence at a time."""
    prompt = client.tokenizer(render_chat(client.tokenizer, messages))["input_ids"]
    out = []
    for text in client.labels:
        label = client.tokenizer(text, add_special_tokens=False)["input_ids"]
        with torch.no_grad():
            logits = client.generator.model(torch.tensor([prompt + label])).logits[0]
        logp = logits.float().log_softmax(-1)
        out.append(sum(logp[len(prompt) - 1 + j, t].item() for j, t in enumerate(label)))
    return out


@pytest.mark.parametrize("labels", [label_texts(suite_prompt()), MIXED], ids=["scale", "mixed_lengths"])
@pytest.mark.parametrize("batching", [{"batch_size": 4}, {"batch_size": 3, "max_batch_tokens": 400}])
def test_the_chosen_label_is_the_most_likely_continuation(tiny_model_dir, labels, batching):
    client = make_client({"kind": "hf", "model": str(tiny_model_dir), **batching}, None, "judge", labels)
    if labels is MIXED:
        assert len({len(ids) for ids in client.label_ids}) == len(MIXED)  # every label its own token count
    requests = [[{"role": "user", "content": q}] for q in QUESTIONS]
    prompts = [render_chat(client.tokenizer, m) for m in requests]
    assert len({len(client.tokenizer(p)["input_ids"]) for p in prompts}) == len(prompts)  # padded batches
    scores = client.label_logprobs(prompts)
    replies = client.complete(requests)
    for messages, row, reply in zip(requests, scores, replies, strict=True):
        expected = reference_logprobs(client, messages)
        assert row == pytest.approx(expected, abs=1e-4)
        assert reply.text == labels[max(range(len(labels)), key=expected.__getitem__)]
        assert reply.prompt_tokens > 0 and reply.completion_tokens == len(
            client.tokenizer(reply.text)["input_ids"]
        )
    assert client.usage["requests"] == len(requests)


def test_labels_are_the_scale_as_the_pattern_reads_it():
    assert label_texts(suite_prompt()) == [f"[[{label}]]" for label in LABELS]
    narrow = replace(suite_prompt(), pattern=r"\[\[([AB>]+)\]\]")  # no tie: [[A=B]] would not read back
    with pytest.raises(ValueError, match=r"pattern .* does not read \['\[\[A=B\]\]'\]"):
        label_texts(narrow)


def test_only_a_local_transformers_judge_chooses_labels():
    with pytest.raises(ValueError, match=r"judge: choosing among labels needs kind hf, not openai"):
        make_client({"kind": "openai", "model": "gpt"}, None, "judge", ["[[A>B]]"])
