"""The `analysis` stage runs one analysis by name and writes its figure, data and summary beside the paper's."""

import json
from pathlib import Path

from bmc.cli import main

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"


def test_bridging_cost_writes_its_four_outputs(tmp_path):
    summary = tmp_path / "bridged" / "qa" / "targeted" / "summary.json"
    summary.parent.mkdir(parents=True)
    usage = {"requests": 4, "prompt_tokens": 2000, "completion_tokens": 1000, "cache_hits": 0}
    record = {"pairs": 4, "strategy": "targeted", "editor": {"model": "m"}, "status": {"edited": 3}}
    summary.write_text(json.dumps(record | {"editor_usage": usage, "wall_s": 8.0}))
    prefix = tmp_path / "figures" / "bridging_cost"
    params = {"prices": {"default": {"input": 10.0, "output": 30.0}}, "currency": "USD"}
    main(["analysis", "--name", "bridging_cost", "--inputs", f"summary={summary}", "--params", json.dumps(params)]
         + ["--paper-values", str(PAPER), "--label", "SMOKE SCALE", "--out", str(prefix)])  # fmt: skip
    for ext in ("png", "pdf", "csv"):
        assert prefix.with_suffix(f".{ext}").stat().st_size > 0
    found = json.loads(prefix.with_suffix(".json").read_text())
    assert found["ours"]["runs"] == 1 and found["ours"]["cost"] == 0.05 and found["label"] == "SMOKE SCALE"
