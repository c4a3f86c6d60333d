"""Content-addressed cache of editor outputs: a re-run or a resumed run never asks the editor twice."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from bmc.io import write_json


def cache_key(template, editor_identity: dict, messages: list[dict]) -> str:
    """sha256 over the strategy, the template (name, version, hash), the editor and the request."""
    payload = {
        "strategy": template.strategy,
        "template": [template.name, template.version, template.sha256],
        "editor": editor_identity,
        "messages": messages,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


class EditCache:
    """One JSON file per key under `folder/<key[:2]>/<key>.json`, written atomically."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / key[:2] / f"{key}.json"

    def get(self, key: str) -> str | None:
        path = self._path(key)
        return json.loads(path.read_text(encoding="utf-8"))["output"] if path.exists() else None

    def put(self, key: str, output: str) -> None:
        write_json(self._path(key), {"output": output})
