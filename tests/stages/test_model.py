"""The `model` stage materialises a model of the config as a folder that appears complete or not at all."""

import json

from transformers import AutoModelForCausalLM

from bmc.cli import main


def test_a_random_llama_is_saved_whole_and_replaces_an_old_folder(tmp_path):
    out = tmp_path / "base"
    out.mkdir()
    (out / "stale.txt").write_text("from an earlier run")
    params = {"kind": "random_llama", "seed": 0, "hidden_size": 32, "intermediate_size": 64}
    main(["model", "--out", str(out), "--params", json.dumps(params)])
    assert not (out / "stale.txt").exists() and (out / "tokenizer.json").exists()
    assert AutoModelForCausalLM.from_pretrained(out).config.hidden_size == 32
    # no temporary sibling left; beside the folder, the job's record (bmc.reporting.job_records)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["base", "base.provenance.json"]
