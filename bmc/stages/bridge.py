"""Rules `bridge` and `bridge_served`: the bridged pairs of one strategy and editor.

Every input pair is in the output with its `bridge.status` (`bmc.bridging.bridge`).

Each reply is cached the moment it arrives, so a killed run resumes where it stopped. Requests that fail after
their retries are tried again by a plain rerun: the job fails, naming them, when they are more than
`bridge.max_failed_share` of the pairs bridged (default 0), and the summary counts them (`failed_requests`).
`editor_usage` in the summary counts every request the cache folder's ledger holds for these pairs, over every
run (killed ones included), and `this_run` the requests of this run. An editor with a `serve` section is
served by the job itself (`bmc.llm.server`).
"""

from __future__ import annotations

import argparse
import logging
import time

from bmc.bridging.bridge import (
    bridge_fingerprint,
    bridge_pairs,
    editor_usage,
    failed_requests,
    read_pairs,
    select,
    summarize,
)
from bmc.bridging.prompts import load_template
from bmc.config import Bridge, job_settings
from bmc.data.tasks import TASKS
from bmc.io import write_json, write_jsonl
from bmc.llm.cache import ResponseCache
from bmc.llm.clients import client_identity, legacy_identity, reply_token_limit, request_chunk
from bmc.llm.factory import ClientFactory

log = logging.getLogger(__name__)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--pairs", required=True, help="pairs.jsonl")
    p.add_argument("--out", required=True, help="bridged pairs.jsonl")
    p.add_argument("--summary", required=True, help="summary.json")
    p.add_argument("--cache", required=True, help="editor cache folder (kept across runs)")
    p.add_argument("--base-model", default=None, help="model folder used when editor.model is 'base'")
    p.add_argument("--params", required=True, help="JSON: the config's `bridge` section")
    p.add_argument("--task", default="qa", choices=list(TASKS), help="task of the pairs (picks the template)")
    p.add_argument(
        "--server-log", default=None, help="log of a served editor's server (default: beside --out)"
    )


def run(args: argparse.Namespace) -> None:
    start = time.time()
    settings = job_settings(Bridge, args.params, "bridge")
    pairs = read_pairs(args.pairs)
    if other := next((p for p in pairs if p.get("task", "qa") != args.task), None):
        raise ValueError(
            f"{args.pairs}: pair {other['id']!r} is a {other.get('task')!r} pair, not {args.task!r}"
        )
    template = load_template(settings.strategy, settings.template_version, args.task)
    selected = select([p["id"] for p in pairs], settings.proportion, settings.seed)
    editor_config = settings.editor.model_dump(exclude_unset=True)  # as given: its identity keys the cache
    identity = client_identity(editor_config, args.base_model)
    cache = ResponseCache(args.cache)
    cache.check_inputs(args.out, bridge_fingerprint(args.pairs, settings, template, identity), "bridging")
    server_log = args.server_log or f"{args.out}.server.log"
    with ClientFactory(editor_config, args.base_model, "bridge.editor", server_log) as editor_factory:
        rows, usage = bridge_pairs(
            pairs,
            template,
            identity,
            editor_factory,
            cache,
            selected,
            chunk=request_chunk(editor_config),
            legacy=legacy_identity(editor_config),
            min_kept_share=settings.min_kept_share,
            max_tokens=reply_token_limit(editor_config),
        )
    missing = {p["id"] for p in pairs} - {r["id"] for r in rows}
    assert not missing and len(rows) == len(pairs), f"pairs lost in bridging: {sorted(missing)[:5]}"
    failed = failed_requests(rows, settings.max_failed_share, args.out)  # raises above the allowed share
    write_jsonl(args.out, rows)
    spent = editor_usage(args.cache, rows, usage)
    summary = summarize(rows, template, {**editor_config, **identity}, spent, time.time() - start, failed)
    write_json(args.summary, summary)
    log.info("bridging %s: %s, editor %s", template.name, summary["status"], spent)
