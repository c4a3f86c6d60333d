"""The `sweep-pairs` stage writes a sweep point's training pairs."""

import json

import pytest

from bmc.cli import main
from bmc.config import ConfigError
from bmc.io import read_jsonl, write_jsonl


def test_a_proportion_point_mixes_in_that_share_of_bridged_pairs(tmp_path):
    original = [{"id": f"p{i}", "chosen": f"w{i}", "rejected": "r"} for i in range(10)]
    bridged = [{**p, "chosen": f"b{i}"} for i, p in enumerate(original)]
    write_jsonl(tmp_path / "pairs.jsonl", original)
    write_jsonl(tmp_path / "bridged.jsonl", bridged)
    out = tmp_path / "mixed.jsonl"
    main(["sweep-pairs", "--kind", "proportion", "--point", "0.3", "--pairs", str(tmp_path / "pairs.jsonl")]
         + ["--bridged", str(tmp_path / "bridged.jsonl"), "--params", json.dumps({"seed": 1}), "--out", str(out)])  # fmt: skip
    rows = read_jsonl(out)
    assert [r["id"] for r in rows] == [p["id"] for p in original]
    assert sum(r["chosen"].startswith("b") for r in rows) == 3


def test_a_wrong_bin_count_fails_naming_its_key(tmp_path):
    write_jsonl(tmp_path / "pairs.jsonl", [{"id": "p", "chosen": "w", "rejected": "r"}])
    with pytest.raises(ConfigError, match=r"sweep_pairs\.bins: Input should be greater than or equal to 1"):
        main(["sweep-pairs", "--kind", "edit_distance", "--point", "0", "--pairs", str(tmp_path / "pairs.jsonl")]
             + ["--params", json.dumps({"bins": 0}), "--out", str(tmp_path / "bin.jsonl")])  # fmt: skip
