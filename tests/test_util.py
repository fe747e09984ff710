"""The helpers every layer uses: atomic writes (whole file or none, never a damaged old one)
and safe file names (hypothesis over names)."""

from __future__ import annotations

import os

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from urbanseg_core.errors import InputError
from urbanseg_core.util import atomic_write, safe_file_name, temporary_path, write_bytes_atomic


def test_a_complete_write_replaces_the_file(tmp_path):
    target = tmp_path / "out.tif"
    target.write_bytes(b"old")
    assert write_bytes_atomic(target, b"new") == target
    assert target.read_bytes() == b"new" and os.listdir(tmp_path) == ["out.tif"]


@pytest.mark.parametrize("failure", [RuntimeError("killed"), KeyboardInterrupt(),
                                     OSError(28, "No space left on device")])
def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path, failure):
    target = tmp_path / "out.tif"
    target.write_bytes(b"old")

    def half(tmp):
        tmp.write_bytes(b"half a fi")
        raise failure

    expected = InputError if isinstance(failure, OSError) else type(failure)
    with pytest.raises(expected):
        atomic_write(target, half)
    assert target.read_bytes() == b"old" and os.listdir(tmp_path) == ["out.tif"]


def test_a_missing_folder_is_a_plain_error(tmp_path):
    with pytest.raises(InputError, match="does not exist"):
        write_bytes_atomic(tmp_path / "nowhere" / "out.tif", b"x")


def test_temporary_names_are_hidden_unique_and_beside_the_target(tmp_path):
    a, b = temporary_path(tmp_path / "m.tif"), temporary_path(tmp_path / "m.tif")
    assert a != b and a.parent == tmp_path and a.name.startswith(".m.tif.")
    assert a.name.endswith(".tmp")


@settings(max_examples=300, deadline=None)
@given(name=st.text(min_size=0, max_size=200))
def test_any_uploaded_name_becomes_a_safe_file_name(name):
    safe = safe_file_name(name)
    assert safe and len(safe) <= 80 and safe not in (".", "..")
    assert "/" not in safe and "\\" not in safe and "\0" not in safe
    assert all(c.isascii() and (c.isalnum() or c in "._-") for c in safe)
