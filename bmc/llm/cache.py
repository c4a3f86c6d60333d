"""Content-addressed cache of LLM outputs (editors and judges): a re-run or a resumed run never asks twice.

A key is the sha256 of everything that determines an output (the model's identity and decoding settings, the
template, the messages), never where the model is served. Each good reply is stored the moment it arrives;
a failed request is not stored, so a later run asks it again. The folder also holds the ledger of every
request sent (`bmc.llm.ledger`) and, under `runs/`, the input fingerprint of each output made from it.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bmc.io import fingerprint_changes, read_json, write_json
from bmc.llm.ledger import Ledger

if TYPE_CHECKING:
    from bmc.llm.clients import ChatClient, Reply

log = logging.getLogger(__name__)


def content_key(payload: dict) -> str:
    """sha256 of a JSON payload (keys sorted): everything that determines a model's output."""
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False).encode()).hexdigest()


class ResponseCache:
    """One JSON file per key under `folder/<key[:2]>/<key>.json`, each written atomically."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        if not path.exists():
            return None
        entry = read_json(path)
        if not isinstance(entry, dict) or not isinstance(entry.get("output"), str):
            raise ValueError(
                f"{path}: a cache entry must be an object with a string 'output'; delete the file"
            )
        return entry["output"]

    def has(self, key: str, alias: str | None = None) -> bool:
        """Whether `key` is cached; an entry under `alias` (the key older versions gave the same request) is
        copied to `key` first."""
        if self._path(key).exists():
            return True
        if alias and self._path(alias).exists():
            self.get(alias)  # a broken entry fails here, naming its file
            self._path(key).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(self._path(alias), self._path(key))
            return True
        return False

    def put(self, key: str, output: str, template: str, client: dict) -> None:
        """Store `output` with what produced it (template name, model kind and name; for auditing by hand)."""
        write_json(
            self._path(key),
            {"output": output, "template": template, "editor": {k: client[k] for k in ("kind", "model")}},
        )

    def check_inputs(self, out: str | Path, fingerprint: dict, what: str) -> None:
        """Compare the input fingerprint of output `out` with the one its last run recorded here, say what
        changed (requests whose key changed are asked again, the others come from the cache), record it."""
        record = self.folder / "runs" / f"{hashlib.sha256(str(out).encode()).hexdigest()[:16]}.json"
        old = read_json(record).get("fingerprint") if record.exists() else None
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
    in the cache yet (nor under its alias in `aliases`). Each good reply is cached the moment it arrives, so a
    killed run loses nothing it received; every request goes to the cache folder's ledger.

    Returns (this run's usage plus `cache_hits`, {key: reason} of the requests that failed after their retries).
    """
    aliases = aliases or {}
    missing = {key: msgs for key, msgs in requests.items() if not cache.has(key, aliases.get(key))}
    failures: dict[str, str] = {}
    model = factory() if missing else None
    if model is not None:
        model.ledger = ledger = Ledger(cache.folder)
        lock = threading.Lock()
        with tqdm(total=len(missing), desc=desc) as bar:

            def on_reply(key: str, reply: Reply) -> None:
                with lock:
                    if reply.text is None:
                        failures[key] = str(reply.error)
                    else:
                        cache.put(key, reply.text, template, identity)
                    bar.update(1)

            try:
                model.ask(missing, on_reply, chunk=chunk)
            finally:
                ledger.close()
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
