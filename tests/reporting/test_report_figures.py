import argparse
import json

from bmc.analysis.common import Analysis, save
from bmc.stages.report import run

LABEL = "SMOKE SCALE: tiny"


def _figure(root, name):
    def draw(ax):
        ax.bar([0], [1.0])

    save(
        str(root / "figures" / name),
        Analysis([{"x": 1}], {"qa": {"first": {"mean": 9.5}}}, draw),
        name,
        f"Title of {name}",
        LABEL,
        {"source": "Figure 2", "values": {"first": 13.79}},
    )
    return str(root / "figures" / f"{name}.png")


def test_report_has_contents_one_banner_and_figures_beside_their_tables(tmp_path):
    tables = []
    for name, title in (("table1_qa", "Table 1 (QA block)"), ("table5_qa", "Table 5 (QA)")):
        path = tmp_path / "tables" / f"{name}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"**{LABEL}**\n\n### {title}\n\n| Method | Avg |\n| --- | --- |\n| DPO | 50.0 |\n")
        tables.append(str(path))
    figures = [_figure(tmp_path, "fig2_span_surprise"), _figure(tmp_path, "bridging_cost")]
    (tmp_path / "bench").mkdir()
    args = argparse.Namespace(
        tables=tables,
        summaries=[],
        figures=figures,
        generation=[],
        benchmarks_dir=str(tmp_path / "bench"),
        config_json=json.dumps({"scale": "smoke", "seeds": [0]}),
        label=LABEL,
        out_md=str(tmp_path / "report" / "index.md"),
        out_html=str(tmp_path / "report" / "index.html"),
    )
    run(args)
    md = (tmp_path / "report" / "index.md").read_text()
    assert md.count(LABEL) == 1
    assert (
        "## Contents" in md and "- [Table 1 (QA block)](#table-0)" in md and "- [Analyses](#analyses)" in md
    )
    # Figure 2 explains Table 1: it comes after Table 1 and before Table 5; the cost has no Table 3 here
    assert md.index("Table 1 (QA block)\n") < md.index(
        "![fig2_span_surprise](../figures/fig2_span_surprise.png)"
    )
    assert md.index("fig2_span_surprise.png") < md.index("### Table 5 (QA)")
    assert md.index("### Analyses") < md.index("bridging_cost.png")
    assert "first 13.8" in md and "qa.first.mean 9.5" in md
    html = (tmp_path / "report" / "index.html").read_text()
    assert html.count('src="data:image/png;base64,') == 2 and "../figures/" not in html.split("Data:")[0]
    assert html.count(LABEL) == 1
