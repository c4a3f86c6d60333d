"""The authors' GPT-4-bridged pairs as bridged pairs (`DPO-BMC@released`).

The release's `training_data/{qa,math,ultrafeedback}_dpo_bmc` (in resources/bmc-release as
`<task folder>/train-*.parquet`, the training split) are the pairs the authors' DPO-BMC trained on,
made by gpt-4-0125-preview. Expected columns (alignment-handbook's preference layout): `chosen` and
`rejected`, each a list of {role, content} messages ending with the assistant reply (or the reply
alone, a string), and the user turn either before that reply or in a `prompt` string; other columns
(`messages`, `score_chosen`, `prompt_id`, ...) are ignored. Any other layout fails, listing the
columns found. Rows with an empty reply or the same chosen and rejected reply are skipped and counted.
Output rows follow the bridged-pair contract (docs/contracts.md) with `bridge.status` "given";
the release holds neither y_w nor the gold answer, so `chosen_original` and `answer` are null.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from bmc.data.qa import read_parquet
from bmc.io import InputError

FOLDERS = {"qa": "qa_dpo_bmc", "math": "math_dpo_bmc", "if": "ultrafeedback_dpo_bmc"}
EDITOR = "gpt-4-0125-preview (authors' release)"
STRATEGY = "released"
REQUIRED = ("chosen", "rejected")


def _messages(value) -> list[dict] | None:
    """A message list as plain dicts (parquet gives arrays of structs), or None if it is not one."""
    if isinstance(value, str) or not hasattr(value, "__iter__"):
        return None
    messages = [dict(m) if hasattr(m, "keys") else m for m in value]
    return messages if all(isinstance(m, dict) for m in messages) else None


def split_side(value, side: str) -> tuple[str | None, str] | str:
    """(user turn before the reply or None, the assistant reply) of a `chosen`/`rejected` cell, or an error."""
    if isinstance(value, str):
        return None, value
    messages = _messages(value)
    if not messages or messages[-1].get("role") != "assistant":
        return f"`{side}` should be a list of messages ending with the assistant's, or a string"
    before = messages[:-1]
    if len(before) > 1 or (before and before[0].get("role") != "user"):
        roles = [m.get("role") for m in messages]
        return f"`{side}` should hold at most one user turn before the reply, got roles {roles}"
    user = str(before[0].get("content") or "") if before else None
    return user, str(messages[-1].get("content") or "")


def check_columns(frame, file) -> list[str]:
    """The table's columns; a table without `chosen` and `rejected` fails naming the file and its columns."""
    columns = list(frame.columns)
    if missing := [c for c in REQUIRED if c not in columns]:
        raise InputError(
            file, None, f"missing columns {missing}: expected prompt, chosen, rejected; found {columns}"
        )
    return columns


def row_turns(record: dict, columns: list[str], file, row: int) -> tuple[str, str, str]:
    """(user turn, chosen reply, rejected reply) of one row; a row in another layout fails naming the file,
    the row and the columns found."""
    chosen, rejected = split_side(record["chosen"], "chosen"), split_side(record["rejected"], "rejected")
    for side in (chosen, rejected):
        if isinstance(side, str):
            raise InputError(file, row, f"{side} (columns: {columns})")
    users = {u.strip() for u in (chosen[0], rejected[0]) if u is not None}
    if len(users) > 1:
        raise InputError(file, row, "chosen and rejected answer different user turns")
    user = users.pop() if users else str(record.get("prompt") or "")
    if not user.strip():
        raise InputError(
            file, row, f"no user turn in the chosen messages nor a `prompt` (columns: {columns})"
        )
    return user, chosen[1], rejected[1]


def train_files(release: str | Path, task: str) -> list[Path]:
    """The task's `<folder>/train-*.parquet` in the release, in name order; none fails naming the folder."""
    folder = Path(release) / FOLDERS[task]
    files = sorted(folder.glob("train-*.parquet"))
    if not files:
        raise InputError(folder, None, f"no train-*.parquet (the release's training_data/{FOLDERS[task]})")
    return files


def convert(frame, task: str, file: str, start: int) -> tuple[list[dict], Counter]:
    """Bridged-pair rows of one parquet table (ids numbered from `start`) and the skip counts."""
    columns = check_columns(frame, file)
    rows, skipped = [], Counter()
    for i, record in enumerate(frame.to_dict("records"), 1):
        user, chosen, rejected = row_turns(record, columns, file, i)
        if not chosen.strip() or not rejected.strip():
            skipped["empty reply"] += 1
            continue
        if chosen.strip() == rejected.strip():
            skipped["same as chosen"] += 1
            continue
        source = {"file": file, "row": i}
        if record.get("prompt_id") is not None:
            source["prompt_id"] = str(record["prompt_id"])
        rows.append(
            {
                "id": f"{task}-released-{start + len(rows)}",
                "task": task,
                "prompt": [{"role": "user", "content": user}],
                "chosen": chosen,
                "rejected": rejected,
                "answer": None,
                "source": source,
                "chosen_original": None,
                "bridge": {
                    "strategy": STRATEGY,
                    "editor": EDITOR,
                    "status": "given",
                    "reason": None,
                    "cache_key": None,
                },
            }
        )
    return rows, skipped


def released_pairs(release: str | Path, task: str) -> tuple[list[dict], dict]:
    """Every pair of the task's released training split and the summary (bridged-pairs contract)."""
    folder = Path(release) / FOLDERS[task]
    files = train_files(release, task)
    pairs, skipped, rows_read = [], Counter(), 0
    for path in files:
        frame = read_parquet(path)
        rows, skips = convert(frame, task, str(path), len(pairs) + 1)
        pairs += rows
        skipped += skips
        rows_read += len(frame)
    if not pairs:
        raise InputError(folder, None, f"no usable pairs in {len(files)} file(s) ({dict(skipped)})")
    summary = {
        "pairs": len(pairs),
        "strategy": STRATEGY,
        "editor": EDITOR,
        "status": {"given": len(pairs)},
        "rows": rows_read,
        "skipped": dict(skipped),
        "files": [str(p) for p in files],
    }
    return pairs, summary
