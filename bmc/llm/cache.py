"""Content-addressed cache of LLM outputs (editors and judges): a re-run or a resumed run never asks twice."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from tqdm import tqdm

from bmc.io import read_json, write_json

if TYPE_CHECKING:
    from bmc.llm.clients import ChatClient


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

    def put(self, key: str, output: str, template: str, client: dict) -> None:
        """Store `output` with what produced it (template name, model kind and name; for auditing by hand)."""
        write_json(
            self._path(key),
            {"output": output, "template": template, "editor": {k: client[k] for k in ("kind", "model")}},
        )


def ask_uncached(
    requests: dict[str, list[dict]],
    factory: Callable[[], ChatClient],
    cache: ResponseCache,
    template: str,
    identity: dict,
    chunk: int,
    desc: str,
) -> dict:
    """Ask the model (built by `factory` only if needed) for every request (cache key -> chat messages)
    not in the cache yet, caching the outputs after each chunk of `chunk` requests, so a killed run
    resumes where it stopped. Returns the model's usage plus `cache_hits`."""
    missing = [key for key in requests if cache.get(key) is None]
    model = factory() if missing else None
    for start in tqdm(range(0, len(missing), chunk), desc=desc, disable=not missing):
        batch = missing[start : start + chunk]
        outputs = model.complete([requests[key] for key in batch])
        if len(outputs) != len(batch):
            raise RuntimeError(f"model returned {len(outputs)} outputs for {len(batch)} requests")
        for key, text in zip(batch, outputs, strict=True):
            cache.put(key, text, template, identity)
    usage = dict(model.usage) if model else {"requests": 0, "prompt_tokens": 0, "completion_tokens": 0}
    usage["cache_hits"] = len(requests) - len(missing)
    return usage
