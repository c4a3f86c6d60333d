"""The `analysis` stage runs one analysis by name and writes its figure, data and summary beside the paper's."""

import json
from pathlib import Path

import pytest

from bmc.cli import main
from bmc.config import AnalysisTask, ConfigError

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


def test_a_wrong_setting_fails_naming_its_key_before_any_input_is_read(tmp_path):
    params = {"currency": "USD", "tasks": {"qa": {"beta": "abc"}}, "max_pairs": 0}
    with pytest.raises(ConfigError) as caught:
        main(["analysis", "--name", "bridging_cost", "--inputs", f"summary={tmp_path / 'absent.json'}"]
             + ["--params", json.dumps(params), "--paper-values", str(PAPER), "--label", "L", "--out", str(tmp_path / "x")])  # fmt: skip
    assert "analysis.tasks.qa.beta: Input should be a valid number" in str(caught.value)
    assert "analysis.max_pairs: Input should be greater than or equal to 1" in str(caught.value)


def test_the_defaults_of_the_training_settings_an_analysis_reads_are_the_trainers():
    from dataclasses import fields

    from bmc.alignment.trainer import BMCConfig

    trainer = {f.name: f.default for f in fields(BMCConfig)}
    for key in ("diff_algorithm", "stopword_forms"):
        assert AnalysisTask(beta=0.1).model_dump()[key] == trainer[key], key
