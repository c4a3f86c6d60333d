"""What a generation output depends on, recorded beside it and checked before a resume.

`generation_inputs(generator)` is the record: the backend, its version and torch's, the device and dtype,
a sha256 of the model folder (`model_sha256`), the decoding settings and the engine options that are set
(batching aside). A partial file made with another record is started over; the finished output gets it
in `<out>.meta.json`.
"""

from __future__ import annotations

import fnmatch
import hashlib
from functools import lru_cache
from pathlib import Path

# the files of a `save_pretrained` folder that determine the answers: weights, model and generation
# config, tokenizer, chat template (not training_args.bin, logs or Snakemake's timestamp)
MODEL_FILES = (
    "*.safetensors",
    "model.safetensors.index.json",
    "pytorch_model*.bin",
    "pytorch_model.bin.index.json",
    "config.json",
    "generation_config.json",
    "tokenizer*",
    "special_tokens_map.json",
    "added_tokens.json",
    "vocab.*",
    "merges.txt",
    "*.model",
    "chat_template.jinja",
    "chat_template.json",
)
DECODING = ("max_new_tokens", "do_sample", "temperature", "top_p", "seed", "stop_strings")
# batching changes how many prompts share a forward pass, not what is asked: left out of the record
BATCHING = ("batch_size", "max_batch_tokens")


def model_files(folder: str | Path) -> list[Path]:
    """The files of `folder` (top level, sorted) that `model_sha256` covers."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"model folder not found: {folder}")
    return sorted(
        f
        for f in folder.iterdir()
        if f.is_file() and any(fnmatch.fnmatch(f.name, pattern) for pattern in MODEL_FILES)
    )


def model_sha256(folder: str | Path) -> str:
    """sha256 over the name and bytes of each of the folder's model files; computed once per process for a
    folder whose files keep their sizes and modification times."""
    files = model_files(folder)
    if not files:
        raise FileNotFoundError(f"{folder} holds no model files ({', '.join(MODEL_FILES[:3])}, ...)")
    signature = tuple((f.name, f.stat().st_size, f.stat().st_mtime_ns) for f in files)
    return _digest(str(Path(folder).resolve()), signature)


@lru_cache(maxsize=8)
def _digest(folder: str, signature: tuple[tuple[str, int, int], ...]) -> str:
    h = hashlib.sha256()
    for name, _, _ in signature:
        h.update(f"{name}\0".encode())
        with open(Path(folder) / name, "rb") as f:
            while chunk := f.read(1 << 23):
                h.update(chunk)
    return h.hexdigest()


def generation_inputs(generator) -> dict:
    """The record of what a generator's answers depend on (see the module docstring); `engine` holds every
    other option that is set (not None), e.g. vLLM's `enforce_eager`."""
    params = generator.params.model_dump()
    engine = {
        k: v
        for k, v in params.items()
        if k not in (*DECODING, *BATCHING, "backend", "dtype") and v is not None
    }
    return {
        **generator.provenance,
        "model_sha256": model_sha256(generator.model_path),
        "decoding": {k: params[k] for k in DECODING},
        **({"engine": engine} if engine else {}),
    }


def differences(saved: dict, current: dict) -> list[str]:
    """Each top-level or decoding key whose value differs, as "key: old -> new"."""
    out = []
    for key in sorted(set(saved) | set(current)):
        old, new = saved.get(key), current.get(key)
        if isinstance(old, dict) and isinstance(new, dict):
            out += [f"{key}.{d}" for d in differences(old, new)]
        elif old != new:
            out.append(f"{key}: {_short(old)} -> {_short(new)}")
    return out


def _short(value) -> str:
    text = repr(value)
    return text[:14] + "…" if len(text) > 20 and isinstance(value, str) else text
