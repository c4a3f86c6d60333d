"""Content-addressed cache of LLM outputs (editors and judges): a re-run or a resumed run never asks twice.

A key is the sha256 of everything that determines an output (the model's identity and decoding settings, the
template, the messages), never where the model is served. Each reply is stored the moment it arrives (one cut
at the token limit or filtered too, with its finish reason: it is paid for, and asking again would get it
again); a failed request is not stored, so a later run asks it again, and the stage fails naming such requests
(`check_failed_share`) unless their share is allowed. A reply that cannot be stored at once (a full disk) is
tried again before the stage stops. An entry that does not parse (cut off on another filesystem or in a copy)
is moved aside to `<key>.json.corrupt` and its request asked again. The folder also holds the ledger of every
request sent (`bmc.llm.ledger`) and, under `runs/`, the input fingerprint of each output made from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bmc.io import InputError, fingerprint_changes, read_json, write_json
from bmc.llm.ledger import Ledger

if TYPE_CHECKING:
    from bmc.llm.clients import ChatClient, Reply

log = logging.getLogger(__name__)


def content_key(payload: dict) -> str:
    """sha256 of a JSON payload (keys sorted): everything that determines a model's output."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class RequestsFailed(RuntimeError):
    """Requests that failed after their retries, more of them than the stage's setting allows."""


class ResponseCache:
    """One JSON file per key under `folder/<key[:2]>/<key>.json`, each written atomically."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def entry(self, key: str) -> dict | None:
        """The entry of `key` ({"output", "template", "editor", and "finish_reason", "completion_tokens" when
        known}), or None when there is none; an entry that does not parse is moved aside (and None)."""
        path = self._path(key)
        if not path.exists():
            return None
        try:
            entry = read_json(path)
            problem = None
            if not isinstance(entry, dict) or not isinstance(entry.get("output"), str):
                problem = f"{path}: not an object with a string 'output'"
        except InputError as e:
            problem = str(e)
        if problem is None:
            return entry
        aside = path.with_name(path.name + ".corrupt")
        os.replace(path, aside)
        log.warning("cache entry %s; moved to %s, its request is asked again", problem, aside.name)
        return None

    def get(self, key: str) -> str | None:
        entry = self.entry(key)
        return None if entry is None else entry["output"]

    def has(self, key: str, alias: str | None = None) -> bool:
        """Whether `key` is cached; an entry under `alias` (the key older versions gave the same request) is
        copied to `key` first."""
        if self.entry(key) is not None:
            return True
        if alias and (entry := self.entry(alias)) is not None:
            write_json(self._path(key), entry)
            return True
        return False

    def put(
        self,
        key: str,
        output: str,
        template: str,
        client: dict,
        finish_reason: str | None = None,
        completion_tokens: int = 0,
    ) -> None:
        """Store `output` with what produced it (template name, model kind and name; for auditing by hand), the
        finish reason of a reply cut or filtered and the reply's token count when the model reported one."""
        entry = {"output": output, "template": template, "editor": {k: client[k] for k in ("kind", "model")}}
        if finish_reason:
            entry["finish_reason"] = finish_reason
        if completion_tokens:
            entry["completion_tokens"] = completion_tokens
        write_json(self._path(key), entry)

    def check_inputs(self, out: str | Path, fingerprint: dict, what: str) -> None:
        """Compare the input fingerprint of output `out` with the one its last run recorded here, say what
        changed (requests whose key changed are asked again, the others come from the cache), record it."""
        record = self.folder / "runs" / f"{hashlib.sha256(str(out).encode()).hexdigest()[:16]}.json"
        try:
            old = read_json(record).get("fingerprint") if record.exists() else None
        except (InputError, AttributeError):
            log.warning("%s: the record of the last run does not parse; written anew", record)
            old = None
        if old is not None and (changes := fingerprint_changes(old, fingerprint)):
            log.warning(
                "%s %s: inputs changed since the last run (%s); requests whose inputs changed are asked "
                "again, the others come from the cache",
                what,
                out,
                "; ".join(changes),
            )
        elif old is not None:
            log.info("%s %s: same inputs as the last run; resuming from the cache", what, out)
        write_json(record, {"out": str(out), "fingerprint": fingerprint})


def ask_uncached(
    requests: dict[str, list[dict]],
    factory: Callable[[], ChatClient],
    cache: ResponseCache,
    template: str,
    identity: dict,
    chunk: int,
    desc: str,
    aliases: dict[str, str] | None = None,
) -> tuple[dict, dict[str, str]]:
    """Ask the model (built by `factory` only if needed) for every request (cache key -> chat messages) not
    in the cache yet (nor under its alias in `aliases`). Each reply is cached the moment it arrives, so a
    killed run loses nothing it received; every request goes to the cache folder's ledger. A reply that
    cannot be stored stops the asking (the client hands over the replies in flight first) and is tried again
    once at the end.

    Returns (this run's usage plus `cache_hits`, {key: reason} of the requests that failed after their retries).
    """
    aliases = aliases or {}
    missing = {key: msgs for key, msgs in requests.items() if not cache.has(key, aliases.get(key))}
    failures: dict[str, str] = {}
    unstored: dict[str, Reply] = {}
    model = factory() if missing else None
    if model is not None:
        model.ledger = ledger = Ledger(cache.folder)
        lock = threading.Lock()

        def store(key: str, reply: Reply) -> None:
            cache.put(key, reply.text, template, identity, reply.finish_reason, reply.completion_tokens)

        with tqdm(total=len(missing), desc=desc) as bar:

            def on_reply(key: str, reply: Reply) -> None:
                with lock:
                    bar.update(1)
                    if reply.text is None:
                        failures[key] = str(reply.error)
                        return
                    try:
                        store(key, reply)
                    except OSError:
                        unstored[key] = reply
                        raise

            try:
                model.ask(missing, on_reply, chunk=chunk)
            finally:
                ledger.close()
                if unstored:
                    store_again(unstored, store, desc)
        if failures:
            log.warning(
                "%s: %d of %d requests failed after their retries (%s); a rerun asks them again",
                desc,
                len(failures),
                len(missing),
                dict(Counter(failures.values())),
            )
    usage = dict(model.usage) if model else {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    usage["cache_hits"] = len(requests) - len(missing)
    return usage, failures


def store_again(unstored: dict[str, Reply], store: Callable[[str, Reply], None], desc: str) -> None:
    """One more try to store the replies whose first write failed; says how many are lost for good."""
    lost = []
    for key, reply in unstored.items():
        try:
            store(key, reply)
        except OSError as e:
            lost.append(f"{key[:12]}: {e}")
    log.error(
        "%s: %d replies could not be written to the cache when they arrived; %d were stored on a second try, "
        "%d are lost (a rerun asks them again)%s",
        desc,
        len(unstored),
        len(unstored) - len(lost),
        len(lost),
        "".join(f"\n  {line}" for line in lost),
    )


def check_failed_share(reasons: list[str], asked: int, bound: float, what: str, setting: str) -> dict:
    """{"count", "share", "max_failed_share", "reasons"} of the requests that failed after their retries (their
    `reasons`, of `asked` requests); raises `RequestsFailed` when their share is above `bound` (`setting`)."""
    share = round(len(reasons) / asked, 4) if asked else 0.0
    counts = dict(Counter(reasons))
    if reasons and share > bound:
        listed = ", ".join(f"{reason}: {n}" for reason, n in counts.items())
        raise RequestsFailed(
            f"{what}: {len(reasons)} of {asked} requests failed after their retries ({listed}), more than "
            f"{setting} = {bound} allows. Every reply that arrived is cached: rerun the job and it asks only the "
            f"failed requests, or raise {setting} to keep them as they are (counted in the summary)"
        )
    return {"count": len(reasons), "share": share, "max_failed_share": bound, "reasons": counts}
