"""Cached data is built atomically: an interrupted build is never read back."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from separena.data.cache import atomic_dir


def test_a_failed_build_leaves_nothing(tmp_path):
    final = tmp_path / "set"
    with pytest.raises(RuntimeError), atomic_dir(final) as tmp:
        (tmp / "half.wav").write_bytes(b"x")
        raise RuntimeError("interrupted")
    assert not final.exists() and list(tmp_path.iterdir()) == []


def test_a_complete_build_by_another_process_is_kept(tmp_path):
    final = tmp_path / "set"
    final.mkdir()
    (final / "meta.json").write_text("theirs")
    with atomic_dir(final) as tmp:
        (tmp / "meta.json").write_text("ours")
    assert (final / "meta.json").read_text() == "theirs" and list(tmp_path.iterdir()) == [final]


def test_replace_swaps_out_a_stale_build(tmp_path):
    final = tmp_path / "set"
    final.mkdir()
    (final / "meta.json").write_text("stale")
    with atomic_dir(final, replace=True) as tmp:
        (tmp / "meta.json").write_text("new")
    assert (final / "meta.json").read_text() == "new" and list(tmp_path.iterdir()) == [final]


def test_builds_of_dead_processes_are_removed_and_live_ones_kept(tmp_path):
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    dead_dir = tmp_path / f".other.abc.tmp-{int(dead.stdout)}"
    live_dir = tmp_path / f".other.def.tmp-{os.getpid()}"
    dead_dir.mkdir()
    live_dir.mkdir()
    with atomic_dir(tmp_path / "set") as tmp:
        (tmp / "meta.json").write_text("{}")
    assert not dead_dir.exists() and live_dir.exists()
