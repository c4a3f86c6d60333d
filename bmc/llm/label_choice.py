"""A local judge that chooses its verdict label instead of writing one (`judge.verdict_from: label_likelihood`).

As AlpacaEval's weighted annotators read the judge's log-probabilities of the verdict tokens instead of parsing
free text, `LabelChoiceClient` scores each label of the prompt's scale, written as the prompt's pattern reads it
(`[[A>B]]`), as the continuation of the rendered chat prompt, and replies with the most likely label's text. The
reply is then read, cached, debiased over both orders and scored as a written one.

A label's score is the sum of its tokens' log-probabilities: the log-probability that the model writes exactly
that label after the prompt. The labels are prefix-free (each ends with `]]`), so their scores are probabilities
of disjoint continuations and compare whatever their token counts (a per-token mean is no such probability).
The label is tokenized on its own after the prompt's tokens, as the model would generate it.

Prompts are batched as the generator batches them (`batch_size`, `max_batch_tokens` counting the longest
label as the new tokens), left-padded with position ids counted from each prompt's first token; the prompt
goes through the model once and each label's tokens through its cache, cut back after each label.
"""

from __future__ import annotations

from bmc.data.prompt_format import render_chat
from bmc.generation.backends import token_budget_batches
from bmc.llm.clients import LocalClient, Reply


class LabelChoiceClient(LocalClient):
    """The local transformers model of `config` (loaded once, as `LocalClient` loads it) choosing among `labels`."""

    def __init__(self, model_path: str, config: dict, labels: list[str]):
        super().__init__(model_path, config, backend="transformers")
        if not labels:
            raise ValueError("a label-choosing judge needs labels")
        self.labels = list(labels)
        self.label_ids = [self.tokenizer(text, add_special_tokens=False)["input_ids"] for text in self.labels]

    def complete(self, requests: list[list[dict]]) -> list[Reply]:
        prompts = [render_chat(self.tokenizer, m) for m in requests]
        scores = self.label_logprobs(prompts)
        prompt_tokens = self._counts(prompts)
        replies = []
        for row, n in zip(scores, prompt_tokens, strict=True):
            best = max(range(len(row)), key=row.__getitem__)  # the first of equal scores
            replies.append(Reply(self.labels[best], None, n, len(self.label_ids[best])))
        self.usage["requests"] += len(prompts)
        self.usage["prompt_tokens"] += sum(prompt_tokens)
        self.usage["completion_tokens"] += sum(r.completion_tokens for r in replies)
        return replies

    def label_logprobs(self, prompts: list[str]) -> list[list[float]]:
        """Per prompt, each label's summed token log-probability as its continuation, in `labels` order."""
        prompt_ids = self.tokenizer(prompts)["input_ids"]  # special tokens added, as the generator adds them
        lengths = [len(ids) for ids in prompt_ids]
        order = sorted(range(len(prompts)), key=lambda i: -lengths[i])
        p, longest = self.params, max(map(len, self.label_ids))
        out: list[list[float]] = [[] for _ in prompts]
        for idx in token_budget_batches(order, lengths, p.batch_size, p.max_batch_tokens, longest):
            for i, row in zip(idx, self._batch_logprobs([prompt_ids[i] for i in idx]), strict=True):
                out[i] = row
        return out

    def _batch_logprobs(self, prompt_ids: list[list[int]]) -> list[list[float]]:
        import torch

        model, device = self.generator.model, self.generator.device
        width, pad = max(map(len, prompt_ids)), self.tokenizer.pad_token_id
        ids = torch.tensor([[pad] * (width - len(x)) + x for x in prompt_ids], device=device)
        mask = torch.tensor([[0] * (width - len(x)) + [1] * len(x) for x in prompt_ids], device=device)
        ends = mask.sum(-1, keepdim=True)  # each prompt's length: the position of its label's first token
        scores = []
        with torch.inference_mode():
            out = model(
                input_ids=ids,
                attention_mask=mask,
                position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                use_cache=True,
                logits_to_keep=1,
            )
            first, cache = out.logits[:, -1].float().log_softmax(-1), out.past_key_values
            for label in self.label_ids:
                total = first[:, label[0]]
                if len(label) > 1:  # the label's later tokens, each given the ones before it
                    given = torch.tensor([label[:-1]] * len(prompt_ids), device=device)
                    step = model(
                        input_ids=given,
                        attention_mask=torch.cat([mask, torch.ones_like(given)], -1),
                        position_ids=ends + torch.arange(given.shape[1], device=device),
                        past_key_values=cache,
                        use_cache=True,
                    )
                    logp = step.logits.float().log_softmax(-1)
                    target = torch.tensor(label[1:], device=device).expand(len(prompt_ids), -1)
                    total = total + logp.gather(-1, target.unsqueeze(-1)).squeeze(-1).sum(-1)
                    cache.crop(-given.shape[1])  # back to the prompt for the next label
                scores.append(total)
        return torch.stack(scores, -1).tolist()
