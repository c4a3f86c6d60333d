"""Rows of a dataset through `datasets.load_dataset`: a hub id at a pinned revision, or local files."""

from __future__ import annotations

from bmc.io import InputError


def load_rows(spec: dict, split: str | None = None) -> list[dict]:
    """The rows of `split` (default `spec["split"]`) of a hub dataset (`dataset`, optional config `name`,
    `revision`) or of local `data_files` (a file or a list: JSON lines, JSON, or parquet)."""
    from datasets import load_dataset

    split = split or spec.get("split") or "train"
    files = spec.get("data_files")
    if files:
        files = [files] if isinstance(files, str) else list(files)
        builder = "parquet" if all(str(f).endswith(".parquet") for f in files) else "json"
        try:
            return list(load_dataset(builder, data_files={split: files}, split=split))
        except Exception as e:  # noqa: BLE001 - the datasets library raises many types for a bad file
            where = ", ".join(str(f) for f in files)
            raise InputError(where, None, f"cannot be read as {builder} ({type(e).__name__}: {e})") from None
    if not spec.get("dataset"):
        raise ValueError(f"a dataset needs `dataset` (a hub id) or `data_files`, got {sorted(spec)}")
    return list(load_dataset(spec["dataset"], spec.get("name"), revision=spec.get("revision"), split=split))
