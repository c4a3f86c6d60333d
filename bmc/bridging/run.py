"""Stage `bridge`: pseudo-winning (or, for `inverse`, pseudo-losing) responses by targeted modification.

Every input pair appears in the output, in order, with `bridge.status`:
`edited` (the editor's valid output replaces the response), `fallback` (invalid output; the original pair is
kept and `reason` says why) or `kept` (not selected, when `proportion` < 1).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import time
from collections import Counter

from tqdm import tqdm

from bmc.bridging.cache import EditCache, cache_key
from bmc.bridging.prompts import load_template
from bmc.bridging.validate import check_edit
from bmc.io import read_jsonl, write_json, write_jsonl

log = logging.getLogger(__name__)
PAIR_FIELDS = {"id": str, "prompt": list, "chosen": str, "rejected": str, "answer": str}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pairs", required=True, help="pairs.jsonl")
    p.add_argument("--out", required=True, help="bridged pairs.jsonl")
    p.add_argument("--summary", required=True, help="summary.json")
    p.add_argument("--cache", required=True, help="editor cache folder (kept across runs)")
    p.add_argument("--base-model", default=None, help="model folder used when editor.model is 'base'")
    p.add_argument("--params", required=True, help="JSON: the config's `bridge` section")


def select(ids: list[str], proportion: float, seed: int) -> set[str]:
    """The seeded subset of ids (a `proportion` of them) that is bridged."""
    if not 0 <= proportion <= 1:
        raise ValueError(f"bridge.proportion must be in [0, 1], got {proportion}")
    k = round(proportion * len(ids))
    return set(random.Random(seed).sample(ids, k))


def bridge_pairs(
    pairs, template, identity: dict, editor_factory, cache: EditCache, selected: set[str], chunk: int = 16
):
    """(bridged rows, editor usage). The editor is built only when some request is not in the cache;
    its outputs are cached chunk by chunk, so a killed run resumes where it stopped."""
    requests = [(p["id"], template.render(p)) for p in pairs if p["id"] in selected]
    keys = {pid: cache_key(template, identity, messages) for pid, messages in requests}
    missing = [(pid, messages) for pid, messages in requests if cache.get(keys[pid]) is None]
    editor = editor_factory() if missing else None
    for start in tqdm(range(0, len(missing), chunk), desc=f"bridging ({template.name})", disable=not missing):
        batch = missing[start : start + chunk]
        for (pid, _), text in zip(batch, editor.complete([m for _, m in batch]), strict=True):
            cache.put(keys[pid], text)
    rows = []
    for pair in pairs:
        row = {**pair, "chosen_original": pair["chosen"]}
        if template.replaces == "rejected":
            row["rejected_original"] = pair["rejected"]
        info = {
            "strategy": template.strategy,
            "editor": identity["kind"],
            "status": "kept",
            "reason": None,
            "cache_key": None,
        }
        if pair["id"] in keys:
            text = cache.get(keys[pair["id"]]).strip()
            reason = check_edit(text, pair, template.replaces)
            info.update(cache_key=keys[pair["id"]], status="fallback" if reason else "edited", reason=reason)
            if not reason:
                row[template.replaces] = text
        else:
            info["reason"] = "not selected (proportion)"
        rows.append({**row, "bridge": info})
    usage = editor.usage if editor else {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    return rows, usage


def run(args: argparse.Namespace) -> None:
    from bmc.bridging.editors import editor_identity, make_editor

    params = json.loads(args.params)
    start = time.time()
    pairs = read_jsonl(args.pairs, required=PAIR_FIELDS)
    template = load_template(params.get("strategy", "targeted"), params.get("template_version", "v1"))
    chosen_ids = select(
        [p["id"] for p in pairs], float(params.get("proportion", 1.0)), int(params.get("seed", 0))
    )
    editor_config = params["editor"]
    identity = editor_identity(editor_config, args.base_model)
    rows, usage = bridge_pairs(
        pairs,
        template,
        identity,
        lambda: make_editor(editor_config, args.base_model),
        EditCache(args.cache),
        chosen_ids,
    )
    assert [r["id"] for r in rows] == [p["id"] for p in pairs], "every input pair must appear in order"
    write_jsonl(args.out, rows)
    statuses = Counter(r["bridge"]["status"] for r in rows)
    reasons = Counter(r["bridge"]["reason"] for r in rows if r["bridge"]["status"] == "fallback")
    summary = {
        "pairs": len(rows),
        "strategy": template.strategy,
        "template": template.name,
        "template_sha256": template.sha256,
        "editor": {k: v for k, v in params["editor"].items() if "key" not in k},
        "status": dict(statuses),
        "fallback_reasons": dict(reasons),
        "editor_usage": usage,
        "wall_s": round(time.time() - start, 1),
    }
    write_json(args.summary, summary)
    log.info("bridging: %s", dict(statuses))
