"""Atomic writes: the file appears whole or not at all, with the usual permissions; resumable progress files."""

import json
import logging
import os

import pytest

from bmc.io import InputError, ResumableJsonl, atomic_path, write_json, write_text


def test_written_files_get_the_umask_permissions(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    write_json(tmp_path / "a" / "x.json", {"k": 1})
    assert (tmp_path / "a" / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask


def test_a_folder_made_in_place_of_the_temporary_gets_folder_permissions(tmp_path):
    # a model folder is built where the temporary file was: it must stay enterable (execute bits)
    mask = os.umask(0)
    os.umask(mask)
    with atomic_path(tmp_path / "model") as tmp:
        tmp.unlink()
        (tmp / "sub").mkdir(parents=True)
        (tmp / "sub" / "w.bin").write_bytes(b"x")
        os.chmod(tmp / "sub" / "w.bin", 0o600)  # as safetensors >= 0.8 writes its files
    assert (tmp_path / "model").stat().st_mode & 0o777 == 0o777 & ~mask
    assert (tmp_path / "model" / "sub" / "w.bin").stat().st_mode & 0o777 == 0o666 & ~mask
    assert (tmp_path / "model" / "sub" / "w.bin").read_bytes() == b"x"


def test_a_failed_folder_build_leaves_no_temporary(tmp_path):
    with pytest.raises(RuntimeError), atomic_path(tmp_path / "model") as tmp:
        tmp.unlink()
        (tmp / "sub").mkdir(parents=True)
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "x.txt"
    write_text(target, "old")

    class Boom:
        def __str__(self):
            raise RuntimeError("boom")

    with pytest.raises(TypeError):
        write_text(target, Boom())
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.txt"]


def test_a_partial_file_cut_inside_a_character_resumes_from_its_whole_rows(tmp_path):
    partial = tmp_path / "out.partial.jsonl"
    partial.write_bytes('{"id": "a", "text": "café"}\n{"id": "b", "text": "caf'.encode() + "é".encode()[:1])
    progress = ResumableJsonl(partial)
    assert progress.done == {"a"}
    progress.add({"id": "b", "text": "thé"})
    assert progress.finalize(tmp_path / "out.jsonl", ["a", "b"])[1]["text"] == "thé"


def test_a_damaged_line_is_moved_aside_and_the_rows_around_it_kept(tmp_path, caplog):
    partial = tmp_path / "out.partial.jsonl"
    rows = [json.dumps({"id": k}).encode() + b"\n" for k in "abcd"]
    partial.write_bytes(rows[0] + b'{"id": "b", "te\n' + rows[2] + rows[3])  # line 2 damaged
    with caplog.at_level(logging.WARNING):
        progress = ResumableJsonl(partial)
    assert progress.done == {"a", "c", "d"}  # before: only "a" was kept, the rest dropped in silence
    assert f"{partial}:2: not a JSON row" in caplog.text and "out.partial.jsonl.corrupt" in caplog.text
    assert (tmp_path / "out.partial.jsonl.corrupt").read_bytes() == b'2\t{"id": "b", "te\n'
    progress.add({"id": "b"})
    assert [r["id"] for r in progress.finalize(tmp_path / "out.jsonl", "abcd")] == list("abcd")


def test_a_last_row_without_its_newline_is_kept_and_the_next_starts_a_line(tmp_path):
    partial = tmp_path / "out.partial.jsonl"
    partial.write_bytes(b'{"id": "a"}\n{"id": "b"}')
    progress = ResumableJsonl(partial)
    progress.add({"id": "c"})
    progress.close()
    assert partial.read_bytes() == b'{"id": "a"}\n{"id": "b"}\n{"id": "c"}\n'


def test_a_row_without_its_key_names_the_file_and_line(tmp_path):
    partial = tmp_path / "out.partial.jsonl"
    partial.write_text('{"id": "a"}\n{"name": "b"}\n')
    with pytest.raises(
        InputError, match=r"out\.partial\.jsonl:2: a row needs its 'id' \(fields \['name'\]\)"
    ):
        ResumableJsonl(partial)
