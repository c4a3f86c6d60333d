import argparse
import json
from collections import Counter
from pathlib import Path

import pytest

from bmc.stages.bridge import add_arguments

from .fault_server import FaultServer

SECRET = "sk-drill-7f3a9c0e5b1d4a2f8e6c"
EDIT = "Let's think step by step.\nFish like water.\nThe answer is water"
CHOSEN = "Let's think step by step.\nFish need water.\nThe answer is water"
REJECTED = "Let's think step by step.\nFish like sand.\nThe answer is desert"


def make_pairs(n: int) -> list[dict]:
    return [
        {
            "id": f"pair-{i}",
            "task": "qa",
            "prompt": [
                {"role": "user", "content": f"Where do fish live? (item-{i})\nOptions:\nwater\ndesert"}
            ],
            "chosen": CHOSEN,
            "rejected": REJECTED,
            "answer": "water",
        }
        for i in range(n)
    ]


def editor(url: str, **extra) -> dict:
    """Drill settings: tiny backoff and timeout, two retries."""
    settings = {"max_concurrency": 2, "max_retries": 2, "backoff_s": 0.001, "timeout_s": 0.3, **extra}
    return {"kind": "openai", "model": "editor", "base_url": url, "api_key_env": "BMC_DRILL_KEY", **settings}


def stage_argv(folder: Path, pairs: list[dict], editor_config: dict) -> list[str]:
    """The bridge stage's command line (pairs written to `folder/pairs.jsonl`)."""
    path = folder / "pairs.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    params = {"strategy": "targeted", "proportion": 1.0, "editor": editor_config}
    return [
        "--pairs", str(path), "--out", str(folder / "out" / "pairs.jsonl"),
        "--summary", str(folder / "out" / "summary.json"), "--cache", str(folder / "cache"),
        "--params", json.dumps(params), "--task", "qa",
    ]  # fmt: skip


def stage_args(folder: Path, pairs: list[dict], editor_config: dict) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(stage_argv(folder, pairs, editor_config))


def outputs(folder: Path) -> tuple[list[dict], dict]:
    rows = [json.loads(line) for line in (folder / "out" / "pairs.jsonl").read_text().splitlines()]
    return rows, json.loads((folder / "out" / "summary.json").read_text())


def cached_keys(folder: Path) -> set[str]:
    return {p.stem for p in (folder / "cache").glob("??/*.json")}


def received(folder: Path) -> Counter:
    """Replies the ledger records as received (outcome ok), per cache key."""
    path = folder / "cache" / "ledger.jsonl"
    rows = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    return Counter(r["key"] for r in rows if r["event"] == "done" and r["outcome"] == "ok")


def paid_twice(folder: Path) -> int:
    """Replies received more than once for the same request (by the ledger, over every run)."""
    return sum(n - 1 for n in received(folder).values())


def files_holding(root: Path, secret: str) -> list[Path]:
    """Every file under `root` whose bytes contain `secret`."""
    return [p for p in root.rglob("*") if p.is_file() and secret.encode() in p.read_bytes()]


@pytest.fixture
def key(monkeypatch):
    monkeypatch.setenv("BMC_DRILL_KEY", SECRET)
    return SECRET


@pytest.fixture
def server():
    with FaultServer(lambda prompt: EDIT) as srv:
        yield srv
    assert srv.overflow == 0, "the drill spent the test server's request budget"
