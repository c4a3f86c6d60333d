"""Padding-free batches: a micro-batch's [chosen; rejected] sequences concatenated into one row.

A padded batch holds 2·batch rows, each as long as the longest sequence; a padding-free batch holds their
tokens back to back in a single row of N tokens, so no position is spent on padding. The model keeps the
sequences apart by their `position_ids`, which restart at 0 at each sequence's first token (FlashAttention and
the suite's `sdpa_varlen` also read `cu_seq_lens_q/k`, the sequences' boundaries); `row_index` names each
token's sequence, in the padded batch's row order (chosen rows first), so that every per-row sum of the
objective becomes a segment sum (`Segments`), summed in the padded batch's order. A sequence's first token is never scored: its completion mask is
0 there, so that the position before it, the previous sequence's last token, scores nothing.
"""

from __future__ import annotations

from typing import NamedTuple

import torch

Tensor = torch.Tensor
# the keys of a padding-free batch the model reads (besides input_ids)
MODEL_KEYS = ("position_ids", "cu_seq_lens_q", "cu_seq_lens_k", "max_length_q", "max_length_k")


class Segments(NamedTuple):
    """Which sequence of a padding-free batch each scored position belongs to, and where it would sit in the
    padded batch: its per-sequence sums are those of the padded layout, summed in the same order."""

    ids: Tensor  # (1, N-1): the sequence of the token that position t scores (token t+1)
    columns: Tensor  # (1, N-1): that token's place in its sequence less one (-1: a first token, never scored)
    count: int  # 2·batch sequences: the chosen ones, then the rejected ones
    width: int  # the longest sequence's length less one: the padded batch's scored positions

    def sums(self, values: Tensor) -> Tensor:
        """(count,) `values` (1, N-1) summed per sequence; differentiable. Laid out as the padded batch's rows
        (zeros elsewhere) and summed along them, so that equal values give bitwise equal sums."""
        keep = self.columns >= 0
        rows = values.new_zeros(self.count, self.width)
        return rows.index_put((self.ids[keep], self.columns[keep]), values[keep]).sum(dim=-1)

    def rejected(self) -> Tensor:
        """(1, N-1) bool: the positions scoring a rejected sequence's tokens."""
        return self.ids >= self.count // 2


def segments(inputs: dict) -> Segments | None:
    """The segments of a padding-free batch (None for a padded one)."""
    if "row_index" not in inputs:
        return None
    row = inputs["row_index"][0]
    lengths = torch.bincount(row)
    starts = lengths.cumsum(0) - lengths
    place = torch.arange(row.numel(), device=row.device) - starts[row]  # each token's place in its sequence
    columns = (place[1:] - 1).unsqueeze(0)
    return Segments(inputs["row_index"][:, 1:], columns, lengths.numel(), int(lengths.max()) - 1)


def row_sums(values: Tensor, segments: Segments | None) -> Tensor:
    """(rows,) `values` summed per row: over the last dimension of a padded batch, per segment otherwise."""
    return values.sum(dim=-1) if segments is None else segments.sums(values)


def rejected_positions(like: Tensor, segments: Segments | None) -> Tensor:
    """A bool tensor shaped as `like` (rows, seq), true where a position belongs to a rejected sequence: the
    second half of the rows of a padded batch, the rejected segments of a padding-free one."""
    if segments is not None:
        return segments.rejected()
    rows = torch.arange(like.size(0), device=like.device) >= like.size(0) // 2
    return rows.unsqueeze(1).expand_as(like)


def model_inputs(inputs: dict) -> dict:
    """What the model reads of a batch: the ids and the attention mask, or for a padding-free batch the ids, the
    restarting position ids and the sequences' boundaries (no attention mask: transformers then keeps the
    sequences apart by their position ids)."""
    keys = MODEL_KEYS if "row_index" in inputs else ("attention_mask",)
    return {"input_ids": inputs["input_ids"], **{k: inputs[k] for k in keys}}


def pack(sequences: list[tuple[list[int], list[int], list[int]]]) -> dict:
    """A padding-free batch of (ids, completion mask, diff mask) sequences, in the order given."""
    lengths = [len(ids) for ids, _, _ in sequences]
    if not lengths or min(lengths) == 0:
        raise ValueError(f"a padding-free batch needs sequences of at least one token, got lengths {lengths}")
    completion = [[0, *mask[1:]] for _, mask, _ in sequences]  # a first token is never scored

    def row(lists) -> Tensor:
        return torch.tensor([x for seq in lists for x in seq], dtype=torch.long).unsqueeze(0)

    bounds = torch.tensor([0, *lengths], dtype=torch.int32).cumsum(0, dtype=torch.int32)
    return {
        "input_ids": row(ids for ids, _, _ in sequences),
        "position_ids": row(range(n) for n in lengths),
        "completion_mask": row(completion),
        "diff_mask": row(diff for _, _, diff in sequences),
        "row_index": row([i] * n for i, n in enumerate(lengths)),
        "cu_seq_lens_q": bounds,
        "cu_seq_lens_k": bounds.clone(),
        "max_length_q": max(lengths),
        "max_length_k": max(lengths),
    }
