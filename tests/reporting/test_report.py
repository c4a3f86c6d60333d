import argparse
import json

from bmc.reporting.provenance import rule_times
from bmc.stages.report import run


def test_report_has_every_section(tmp_path):
    bench = tmp_path / "benchmarks"
    (bench / "train_qa" / "DPO").mkdir(parents=True)
    header = "s\th:m:s\tmax_rss\tmax_vms\tmax_uss\tmax_pss\tio_in\tio_out\tmean_load\tcpu_time\n"
    (bench / "train_qa" / "DPO" / "seed0.tsv").write_text(
        header + "12.5\t0:00:12\t900.1\t1\t1\t1\t0\t0\t50\t6\n"
    )
    (bench / "sft_qa.tsv").write_text(header + "30.0\t0:00:30\tNA\t1\t1\t1\t0\t0\t50\t6\n")
    assert rule_times(bench) == [
        {"rule": "sft_qa", "job": "-", "seconds": 30.0, "max_rss_mb": None},
        {"rule": "train_qa", "job": "DPO/seed0", "seconds": 12.5, "max_rss_mb": 900.1},
    ]
    table = tmp_path / "t.md"
    table.write_text("**SMOKE SCALE**\n\n### Table 1\n\n| Method | Avg |\n| --- | --- |\n| DPO | 50.0 |\n")
    summary = tmp_path / "results" / "smoke" / "pairs" / "qa" / "summary.json"
    summary.parent.mkdir(parents=True)
    summary.write_text(json.dumps({"asked": 10, "kept": 3, "per_dataset": {"ECQA": {"kept": 3}}}))
    config = {"scale": "smoke", "seeds": [0]}
    args = argparse.Namespace(
        tables=[str(table)],
        summaries=[str(summary)],
        figures=[],
        generation=[],
        benchmarks_dir=str(bench),
        config_json=json.dumps(config),
        label="SMOKE SCALE: tiny",
        out_md=str(tmp_path / "r.md"),
        out_html=str(tmp_path / "r.html"),
    )
    run(args)
    md = (tmp_path / "r.md").read_text()
    for needle in [
        "SMOKE SCALE: tiny",
        "| DPO | 50.0 |",
        "| qa | 10 | 3 | ECQA 3 | [json](../pairs/qa/summary.json) |",  # the pairs table, its summary linked
        "<summary>2 jobs, 42 s in all</summary>",
        "| train_qa | 1 | 12.5 |",
        "| **total** | 2 | 42.5 |",
        "config sha256",
        "| prefix | ",  # the environment the report ran in
        "transformers",
        "scale: smoke",
    ]:
        assert needle in md, needle
    html = (tmp_path / "r.html").read_text()
    assert "<table>" in html and "SMOKE SCALE: tiny" in html


def test_data_and_bridging_summaries_are_one_row_per_task_and_pairs(tmp_path):
    from bmc.reporting.stage_tables import section

    run = tmp_path / "results" / "mini"
    data = {"sft": {"n": 256, "available": 2000}, "prefs": {"ECQA": {"n": 24, "available": 300}}}
    data |= {"test": {"ECQA": {"n": 40, "available": 200}, "ARC": {"n": 40, "available": 200}}}
    bridged = {
        "pairs": 94,
        "strategy": "targeted",
        "editor": {"kind": "openai", "model": "gpt-4-0125-preview"},
    }
    bridged |= {
        "status": {"edited": 31, "fallback": 63},
        "fallback_reasons": {"still wrong": 50, "too short": 13},
    }
    bridged |= {"editor_usage": {"ok": 94, "failed": 0}, "similarity_to_chosen_original": 61.04}
    bridged |= {"similarity_to_rejected_original": 80.5, "kept_share": 0.71, "wall_s": 12.0}
    paths = []
    for path, doc in (("data/qa/summary.json", data), ("bridged/qa/targeted/summary.json", bridged)):
        (run / path).parent.mkdir(parents=True)
        (run / path).write_text(json.dumps(doc))
        paths.append(str(run / path))
    other = tmp_path / "x" / "summary.json"  # a summary of another kind keeps a key/value table
    other.parent.mkdir()
    other.write_text(json.dumps({"a": {"b": 1}}))
    md = "\n".join(section([*paths, str(other)]))
    assert (
        "| qa | 256 of 2000 | 24 of 300 | 80 of 400 (ECQA 40, ARC 40) | — | [json](../data/qa/summary.json) |"
        in md
    )
    row = "| qa | targeted | gpt-4-0125-preview | 94 | 31 | 63 (still wrong) | 0 | 61.0 / 80.5 | 0.71 | 94 / 0 | 12.0 |"
    assert row in md and f"### {other.parent}" in md and "| a.b | 1 |" in md
