"""The one atomic write of the package: a failed write leaves the old file and no leftovers."""

from __future__ import annotations

import pytest

from forecasting.files import atomic_path, write_atomically


def test_a_write_replaces_the_file_whole(tmp_path):
    target = tmp_path / "deep" / "config.json"
    write_atomically(target, "old")
    write_atomically(target, b"new")
    assert target.read_text() == "new"
    assert [p.name for p in target.parent.iterdir()] == ["config.json"]


def test_a_failed_write_keeps_the_old_file_and_leaves_nothing_beside_it(tmp_path):
    target = tmp_path / "model.pt"
    write_atomically(target, "old")
    with pytest.raises(RuntimeError), atomic_path(target) as temporary:
        temporary.write_text("half")
        raise RuntimeError("the writer crashed")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.pt"]
