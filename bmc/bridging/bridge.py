"""Bridging a pairs file: pseudo-winning (or, for `inverse`, pseudo-losing) responses by targeted
modification (rule `bridge`, `bmc.stages.bridge`).

Every input pair appears in the output, in input order, with `bridge.status`:
- `edited`:   the editor's valid output replaces `chosen` (`rejected` for the inverse strategy);
- `fallback`: the output was invalid (`reason` says why), the pair keeps its original responses;
- `kept`:     not selected for bridging (`proportion` < 1), the pair keeps its original responses.
`chosen_original` always holds y_w; the inverse strategy also keeps `rejected_original` (y_l).
A request the editor fails after its retries is a `fallback` ("editor request failed: <reason>"); it is not
cached, so a later run asks it again, and the stage fails when such pairs are more than `bridge.max_failed_share`
of the pairs bridged (`failed_requests` in the summary). Each reply is cached the moment it arrives
(`bmc.llm.cache`).
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from statistics import mean
from typing import TYPE_CHECKING

from rapidfuzz import fuzz

from bmc.bridging.prompts import Template
from bmc.bridging.validate import check_edit, check_kept, check_length, kept_share
from bmc.data.records import PAIR
from bmc.data.tasks import TASKS
from bmc.io import file_sha256, read_jsonl
from bmc.llm import ledger
from bmc.llm.cache import ResponseCache, ask_uncached, check_failed_share, content_key
from bmc.llm.clients import ChatClient

if TYPE_CHECKING:
    from bmc.config import Bridge

REQUEST_FAILED = "editor request failed: "


def read_pairs(path: str) -> list[dict]:
    """Pairs with their required fields; a QA pair needs its gold `answer`; a duplicate id fails."""
    seen: set[str] = set()

    def check(row: dict) -> str | None:
        if row["id"] in seen:
            return f"duplicate pair id {row['id']!r}: every id must map to exactly one output row"
        seen.add(row["id"])
        if row.get("task") in TASKS and not isinstance(row.get("answer"), str):
            return f"a {row['task']} pair needs a string 'answer' (the gold answer) to validate edits"
        return None

    return read_jsonl(path, required=PAIR, check=check)


def select(ids: list[str], proportion: float, seed: int) -> set[str]:
    """The seeded subset of ids (round(proportion · n) of them, a proportion in [0, 1]) that is bridged."""
    k = round(proportion * len(ids))
    return set(random.Random(seed).sample(sorted(ids), k))


def edit_key(template: Template, identity: dict, messages: list[dict]) -> str:
    """Cache key of one edit: the strategy, the template (name, version, hash), the editor and the messages."""
    return content_key(
        {
            "strategy": template.strategy,
            "template": [template.name, template.version, template.sha256],
            "editor": identity,
            "messages": messages,
        }
    )


def bridge_pairs(
    pairs: list[dict],
    template: Template,
    identity: dict,
    editor_factory: Callable[[], ChatClient],
    cache: ResponseCache,
    selected: set[str],
    chunk: int = 16,
    legacy: dict | None = None,
    min_kept_share: float | None = None,
    max_tokens: int | None = None,
) -> tuple[list[dict], dict]:
    """(bridged rows in input order, this run's editor usage with `cache_hits`).

    The editor is built only when some request is not cached yet; each output is cached as it arrives.
    `legacy`: the editor's identity as older cache keys spelled it (their entries are reused).
    `min_kept_share`: an edit keeping less of the response it edits falls back (`bridge.min_kept_share`).
    `max_tokens`: the editor's reply limit; a reply far beyond it falls back (`validate.check_length`).
    """
    messages = {p["id"]: template.render(p) for p in pairs if p["id"] in selected}
    keys = {pid: edit_key(template, identity, m) for pid, m in messages.items()}
    requests = {keys[pid]: m for pid, m in messages.items()}
    aliases = {keys[pid]: edit_key(template, legacy, m) for pid, m in messages.items()} if legacy else None
    desc = f"bridging ({template.name})"
    usage, failures = ask_uncached(
        requests, editor_factory, cache, template.name, identity, chunk, desc, aliases
    )
    rows = [
        bridge_row(
            pair, template, identity, keys.get(pair["id"]), cache, failures, min_kept_share, max_tokens
        )
        for pair in pairs
    ]
    return rows, usage


def bridge_row(
    pair: dict,
    template: Template,
    identity: dict,
    key: str | None,
    cache: ResponseCache,
    failures: dict[str, str] | None = None,
    min_kept_share: float | None = None,
    max_tokens: int | None = None,
) -> dict:
    """The output row of one pair: edited, fallback (with the reason) or kept."""
    row = {**pair, "chosen_original": pair["chosen"]}
    if template.replaces == "rejected":
        row["rejected_original"] = pair["rejected"]
    info = {"strategy": template.strategy, "editor": identity["kind"], "status": "kept", "reason": None}
    if key is None:
        info["reason"] = "not selected (proportion)"
    elif failures and key in failures:
        info.update(status="fallback", reason=f"{REQUEST_FAILED}{failures[key]}")
    else:
        entry = cache.entry(key)
        text = entry["output"].strip()
        tokens, finish = int(entry.get("completion_tokens") or 0), entry.get("finish_reason")
        reason = check_length(text, max_tokens, tokens, finish)
        reason = reason or check_edit(text, pair, template.replaces, template.instruction_lines)
        if reason is None and template.edits:
            reason = check_kept(text, pair[template.edits], min_kept_share)
        info.update(status="fallback" if reason else "edited", reason=reason)
        if not reason:
            row[template.replaces] = text
    return {**row, "bridge": {**info, "cache_key": key}}


def bridge_fingerprint(pairs_path: str, settings: Bridge, template: Template, identity: dict) -> dict:
    """What a bridging output is made from: the pairs file, the template, the editor and the selection."""
    return {
        "pairs_sha256": file_sha256(pairs_path),
        "template": [template.name, template.sha256],
        "editor": identity,
        "proportion": settings.proportion,
        "seed": settings.seed,
    } | ({"min_kept_share": settings.min_kept_share} if settings.min_kept_share is not None else {})


def editor_usage(cache_dir: str, rows: list[dict], usage: dict) -> dict:
    """The editor's requests for these pairs over every run (the cache folder's ledger), its cache hits, and
    this run's requests (`usage`, as `bridge_pairs` returns it)."""
    keys = [r["bridge"]["cache_key"] for r in rows if r["bridge"]["cache_key"]]
    this_run = {k: v for k, v in usage.items() if k != "cache_hits"}
    return {**ledger.totals(cache_dir, keys), "cache_hits": usage["cache_hits"], "this_run": this_run}


def failed_requests(rows: list[dict], max_failed_share: float, out: str) -> dict:
    """The pairs whose editor request failed after its retries: {"count", "share" (of the pairs bridged),
    "max_failed_share", "reasons"}; raises `RequestsFailed` when their share is above `max_failed_share`."""
    asked = sum(r["bridge"]["cache_key"] is not None for r in rows)
    reasons = [
        r["bridge"]["reason"].removeprefix(REQUEST_FAILED)
        for r in rows
        if (r["bridge"]["reason"] or "").startswith(REQUEST_FAILED)
    ]
    return check_failed_share(reasons, asked, max_failed_share, f"bridging {out}", "bridge.max_failed_share")


def summarize(
    rows: list[dict], template: Template, editor: dict, usage: dict, wall_s: float, failed: dict | None = None
) -> dict:
    """Counts per status, the fallback reasons (`failed`: the failed requests among them, `failed_requests`),
    the editor's cost and how close the edits stay to y_l / y_w."""
    edited = [r for r in rows if r["bridge"]["status"] == "edited"]
    new = "rejected" if template.replaces == "rejected" else "chosen"

    def similarity(other: str) -> float | None:
        return round(mean(fuzz.ratio(r[new], r[other]) for r in edited), 2) if edited else None

    return {
        "pairs": len(rows),
        "strategy": template.strategy,
        "template": template.name,
        "template_sha256": template.sha256,
        "editor": editor,
        "status": dict(Counter(r["bridge"]["status"] for r in rows)),
        "fallback_reasons": dict(
            Counter(r["bridge"]["reason"] for r in rows if r["bridge"]["status"] == "fallback")
        ),
        "failed_requests": failed,
        "editor_usage": usage,
        # mean rapidfuzz ratio (0-100) of each edited response to the originals
        "similarity_to_chosen_original": similarity("chosen_original"),
        "similarity_to_rejected_original": similarity(
            "rejected_original" if new == "rejected" else "rejected"
        ),
        # mean share of the edited response's words an edit keeps (bmc.bridging.validate.kept_share)
        "kept_share": round(mean(kept_share(r[template.edits], r[new]) for r in edited), 3)
        if edited and template.edits
        else None,
        "wall_s": round(wall_s, 1),
    }
