"""Diff masks: which tokens of the pseudo-winning and the losing response differ (BMC §3.2).

A token of the chosen sequence that is inserted or replaced, or a token of the rejected sequence that
is deleted or replaced, is "varied" (mask 1), unless its id is a stop word.

- `difflib` reproduces the authors' released code: `SequenceMatcher(None, rejected, chosen)` with the
  default autojunk heuristic (in sequences of 200+ tokens, a token making up over 1% of the chosen
  sequence is junk and cannot anchor a match).
- `levenshtein` is a true minimum edit-distance alignment, as the paper's text describes, computed by
  rapidfuzz's C implementation.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence

from rapidfuzz.distance import Levenshtein

ALGORITHMS = ("difflib", "levenshtein")


def _as_list(ids) -> list[int]:
    return ids.tolist() if hasattr(ids, "tolist") else list(ids)


def _opcodes(rejected: list[int], chosen: list[int], algorithm: str):
    if algorithm == "difflib":
        return difflib.SequenceMatcher(None, rejected, chosen).get_opcodes()
    if algorithm == "levenshtein":
        return [
            (op.tag, op.src_start, op.src_end, op.dest_start, op.dest_end)
            for op in Levenshtein.opcodes(rejected, chosen)
        ]
    raise ValueError(f"unknown diff algorithm {algorithm!r}; expected one of {ALGORITHMS}")


def diff_masks(
    chosen_ids: Sequence[int],
    rejected_ids: Sequence[int],
    stopword_ids: frozenset[int] | set[int] = frozenset(),
    algorithm: str = "difflib",
) -> tuple[list[int], list[int]]:
    """(chosen_mask, rejected_mask): one 0/1 per token of each sequence, 1 = varied and not a stop word."""
    chosen, rejected = _as_list(chosen_ids), _as_list(rejected_ids)
    chosen_mask, rejected_mask = [0] * len(chosen), [0] * len(rejected)
    for tag, i1, i2, j1, j2 in _opcodes(rejected, chosen, algorithm):
        if tag in ("replace", "delete"):
            for i in range(i1, i2):
                rejected_mask[i] = int(rejected[i] not in stopword_ids)
        if tag in ("replace", "insert"):
            for j in range(j1, j2):
                chosen_mask[j] = int(chosen[j] not in stopword_ids)
    return chosen_mask, rejected_mask
