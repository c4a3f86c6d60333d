"""Atomic writes: the file appears whole or not at all, with the usual permissions."""

import os

import pytest

from bmc.io import write_json, write_text


def test_written_files_get_the_umask_permissions(tmp_path):
    mask = os.umask(0)
    os.umask(mask)
    write_json(tmp_path / "a" / "x.json", {"k": 1})
    assert (tmp_path / "a" / "x.json").stat().st_mode & 0o777 == 0o666 & ~mask


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
