"""What the figures draw beside ours: the paper's values come from paper_values.yaml, and a missing score is drawn
as missing, never as a 0% bar."""

from pathlib import Path

import pytest
import yaml

from bmc.analysis.common import Analysis, PaperLine, draw_paper_lines, save
from bmc.analysis.diff_algorithm import score_bars

PAPER = Path(__file__).resolve().parents[2] / "workflow" / "resources" / "paper_values.yaml"


@pytest.fixture
def axes():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2)
    yield axes
    plt.close(fig)


def test_a_paper_line_is_drawn_at_the_value_of_paper_values_yaml(axes):
    entry = yaml.safe_load(PAPER.read_text())["sec31_similarity"]
    draw_paper_lines(axes, [PaperLine(1, "bridged", "paper: {value}")], entry, "sec31_similarity")
    (line,) = axes[1].get_lines()
    assert list(line.get_ydata()) == [entry["values"]["bridged"]] * 2
    assert line.get_label() == f"paper: {entry['values']['bridged']}" and not axes[0].get_lines()
    changed = {"values": {"bridged": 0.5}}  # the figure follows the file, not a number in the module
    draw_paper_lines(axes, [PaperLine(0, "bridged", "paper")], changed, "sec31_similarity")
    assert list(axes[0].get_lines()[0].get_ydata()) == [0.5, 0.5]
    with pytest.raises(ValueError, match=r"no number sec31_similarity.values.first"):
        draw_paper_lines(axes, [PaperLine(0, "first", "paper")], entry, "sec31_similarity")


def test_save_draws_the_paper_lines(tmp_path):
    analysis = Analysis([], {}, lambda ax: ax.plot([0, 1], [0, 1]), paper_lines=[PaperLine(0, "m", "paper")])
    with pytest.raises(ValueError, match=r"no number demo.values.m"):
        save(str(tmp_path / "demo"), analysis, "demo", "Demo", "SMOKE SCALE", None)
    save(str(tmp_path / "demo"), analysis, "demo", "Demo", "SMOKE SCALE", {"values": {"m": 0.3}})
    assert (tmp_path / "demo.png").stat().st_size > 0


def test_sec31_declares_its_paper_value_instead_of_drawing_a_number(tmp_path, monkeypatch, axes):
    import sentence_transformers

    from bmc.analysis.sec31_similarity import analyse

    from .test_similarity import WEIGHTS, NamedEmbedder, sha

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", NamedEmbedder)
    from bmc.config import AnalysisJob
    from bmc.models.prepare import SHIPPED_TOKENIZER

    pairs = tmp_path / "pairs.jsonl"
    pairs.write_text(
        '{"id": "1", "chosen_original": "a", "chosen": "c", "rejected": "b", "bridge": {"status": "edited"}}\n'
    )
    folder = tmp_path / "embedder"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    spec = {"name": "e", "package": "e==1", "wheel_sha256": "a" * 64, "safetensors_sha256": sha(WEIGHTS)}
    inputs = {"embedder": [str(folder)], "model:qa": [str(SHIPPED_TOKENIZER)], "pairs:qa": [str(pairs)]}
    result = analyse(inputs, AnalysisJob.model_validate({"similarity_model": spec}))
    assert [(p.panel, p.key) for p in result.paper_lines] == [(0, "bridged")]
    result.draw(*axes)
    assert not axes[0].get_lines()  # the module draws no paper value of its own


def test_a_missing_score_is_labelled_not_drawn_as_zero(axes):
    scores = {
        "qa": {"difflib": {"score": 12.0, "n": 40, "ci_low": 8.0, "ci_high": 17.0}},
        "math": {"difflib": {"score": 0.0, "n": 30, "ci_low": 0.0, "ci_high": 4.0}},
    }
    score_bars(axes[0], ["qa", "math"], scores)
    heights = sorted(round(p.get_height(), 6) for p in axes[0].patches)
    assert heights == [0.0, 12.0]  # difflib's two measured scores, a real 0 included; no levenshtein bar
    labels = [t.get_text() for t in axes[0].texts]
    assert labels == ["levenshtein: no score", "levenshtein: no score"]
