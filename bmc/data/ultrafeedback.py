"""UltraFeedback binarized: the paper's instruction-following preference pairs (paper scale).

Each row of `HuggingFaceH4/ultrafeedback_binarized` (split `train_prefs`) holds a prompt and two
conversations, `chosen` and `rejected`, each a user turn then an assistant turn, with their GPT-4
scores. A preference row keeps the prompt, the chosen reply as `solution` (y_w) and the rejected reply
as `rejected` (y_l): the pair is given, not sampled from the SFT model (`bmc.data.pairs.given_pairs`).
SFT rows (only used when the task's SFT model is trained, not given) come from the chosen replies of
`sft_split` (the dataset's `train_sft`). Read through `datasets.load_dataset`: a hub id at a pinned
`revision`, or local files (`data_files`: JSON lines or parquet, e.g. a downloaded copy).
"""

from __future__ import annotations

from collections import Counter


def exchange(row: dict, side: str) -> tuple[str, str] | str:
    """(user turn, assistant reply) of a row's `chosen` or `rejected` conversation, or why it is skipped."""
    turns = row.get(side) or []
    if len(turns) != 2 or not all(isinstance(t, dict) for t in turns):
        return f"{side} is not one user turn then one assistant turn"
    if turns[0].get("role") != "user" or turns[1].get("role") != "assistant":
        return f"{side} is not one user turn then one assistant turn"
    user, reply = (str(t.get("content") or "").strip() for t in turns)
    if not user or not reply:
        return f"empty {side} turn"
    return user, reply


def preference_rows(rows: list[dict], origin: str) -> tuple[list[dict], Counter]:
    """Preference rows (question, solution = chosen reply, rejected reply) and the skip reasons."""
    out, skipped, seen = [], Counter(), set()
    for i, row in enumerate(rows):
        chosen, rejected = exchange(row, "chosen"), exchange(row, "rejected")
        reason = next((r for r in (chosen, rejected) if isinstance(r, str)), None)
        if reason is None and chosen[0] != rejected[0]:
            reason = "chosen and rejected answer different prompts"
        if reason is None and chosen[1] == rejected[1]:
            reason = "chosen and rejected replies are the same"
        key = str(row.get("prompt_id") or i)
        if reason is None and key in seen:
            reason = "duplicate prompt_id"
        if reason:
            skipped[reason] += 1
            continue
        seen.add(key)
        out.append(
            {
                "id": f"ultrafeedback-{key}",
                "task": "if",
                "dataset": "ultrafeedback",
                "question": chosen[0],
                "solution": chosen[1],
                "rejected": rejected[1],
                "answer": "",
                "source": {
                    "file": origin,
                    "index": i,
                    "score_chosen": row.get("score_chosen"),
                    "score_rejected": row.get("score_rejected"),
                },
            }
        )
    return out, skipped


def sft_rows(rows: list[dict]) -> list[dict]:
    """SFT conversations (user turn, chosen reply) of the SFT split; malformed rows are left out."""
    out = []
    for i, row in enumerate(rows):
        found = exchange(row, "chosen")
        if isinstance(found, str):
            continue
        key = row.get("prompt_id") or i
        out.append(
            {
                "id": f"ultrafeedback-sft-{key}",
                "messages": [
                    {"role": "user", "content": found[0]},
                    {"role": "assistant", "content": found[1]},
                ],
            }
        )
    return out
