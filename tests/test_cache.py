"""Cached data is built atomically: an interrupted build is never read back; cached arrays are
memory-mapped, shared by the processes that read them and private to those that write."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from separena.data.cache import atomic_dir, cache_entries, map_array, mapped_array, remove_entry


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


def _counting(values: np.ndarray) -> tuple[list[int], Callable[[], np.ndarray]]:
    calls: list[int] = []

    def build() -> np.ndarray:
        calls.append(1)
        return values

    return calls, build


def test_an_array_is_built_once_then_mapped(tmp_path):
    values = np.linspace(-1, 1, 1000, dtype=np.float32)
    calls, build = _counting(values)
    first = mapped_array(tmp_path / "a.npy", 1000, build)
    second = mapped_array(tmp_path / "a.npy", 1000, build)
    assert calls == [1] and isinstance(second, np.memmap) and np.array_equal(second, values)
    assert np.array_equal(first, values) and not list(tmp_path.glob(".*"))  # no temporary file left


def test_writes_into_a_map_stay_in_the_process_that_made_them(tmp_path):
    values = np.arange(64, dtype=np.float32)
    mine = mapped_array(tmp_path / "a.npy", 64, lambda: values)
    mine[:8] = -1.0  # as a coded channel rewrites its pool's utterances
    read = f"import numpy; print(numpy.load({str(tmp_path / 'a.npy')!r})[:8].sum())"
    other = subprocess.run([sys.executable, "-c", read], capture_output=True, text=True, check=True)
    assert float(other.stdout) == float(values[:8].sum())
    assert np.array_equal(map_array(tmp_path / "a.npy", 64), values)


@settings(max_examples=20, deadline=None)
@given(keep=st.integers(0, 4000), dtype=st.sampled_from(["float32", "float64", "int16"]))
def test_a_cut_short_or_other_file_is_rebuilt(tmp_path_factory, keep, dtype):
    path = tmp_path_factory.mktemp("m") / "a.npy"
    values = np.linspace(0, 1, 500, dtype=np.float32)
    np.save(path, values.astype(dtype))
    whole = path.read_bytes()
    path.write_bytes(whole[:keep])
    calls, build = _counting(values)
    assert np.array_equal(mapped_array(path, 500, build), values)
    assert calls == ([] if dtype == "float32" and keep >= len(whole) else [1])
    assert isinstance(map_array(path, 500), np.memmap)


def test_a_built_array_of_the_wrong_length_is_refused(tmp_path):
    with pytest.raises(ValueError, match="expected"):
        mapped_array(tmp_path / "a.npy", 10, lambda: np.zeros(9, np.float32))


def test_a_cache_that_cannot_be_written_gives_the_array_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    values = np.ones(5, np.float32)
    out = mapped_array(blocked / "a.npy", 5, lambda: values)
    assert not isinstance(out, np.memmap) and np.array_equal(out, values)


def _dead_pid() -> int:
    return int(subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                              capture_output=True, text=True).stdout)


def test_the_cache_lists_each_entry_with_its_kind_size_and_state(tmp_path):
    with atomic_dir(tmp_path / "espeak-2mix-0123456789abcdef-3mix") as tmp:
        (tmp / "test").mkdir()
        (tmp / "test" / "a.wav").write_bytes(b"x" * 100)
        (tmp / "meta.json").write_text("{}")
    mapped = mapped_array(tmp_path / "real-speech-0123456789abcdef-joined-0-89abcdef.npy", 10, lambda: np.ones(10))
    (tmp_path / "real-speech-0123456789abcdef-joined-0-89abcdef.json").write_text("[1]")
    (tmp_path / f".rooms-train-0123456789abcdef.npz.tmp-{_dead_pid()}").write_bytes(b"half")
    entries = {e.name: e for e in cache_entries(tmp_path)}
    assert list(entries) == ["espeak-2mix-0123456789abcdef-3mix", "real-speech-0123456789abcdef-joined-0-89abcdef",
                             "rooms-train-0123456789abcdef.npz"]
    folder, joined, half = entries.values()
    assert (folder.kind, folder.size, folder.files, folder.state) == ("espeak-2mix-3mix", 102, 2, "complete")
    assert (half.kind, half.state, half.size) == ("rooms-train", "unfinished", 4)
    assert joined.kind == "real-speech-joined-0" and joined.files == 2
    assert joined.size == (tmp_path / f"{joined.name}.npy").stat().st_size + 3
    assert joined.mapped_by == (os.getpid(),) and folder.mapped_by == ()  # this process maps the array
    del mapped
    assert cache_entries(tmp_path / "missing") == []


@settings(max_examples=30, deadline=None)
@given(name=st.from_regex(r"[a-z0-9][a-z0-9-]{0,30}", fullmatch=True))
def test_a_build_in_progress_is_listed_under_its_final_name(tmp_path_factory, name):
    root = tmp_path_factory.mktemp("cache")
    with atomic_dir(root / name) as tmp:
        (tmp / "meta.json").write_text("{}")
        (entry,) = cache_entries(root)
        assert (entry.name, entry.state, entry.pid) == (name, "building", os.getpid())
    (entry,) = cache_entries(root)
    assert (entry.name, entry.state, entry.pid) == (name, "complete", None)


def test_a_removed_entry_leaves_nothing_and_is_rebuilt_when_needed(tmp_path):
    with atomic_dir(tmp_path / "set-0123456789abcdef") as tmp:
        (tmp / "meta.json").write_text("{}")
    calls, build = _counting(np.arange(4, dtype=np.float32))
    mapped_array(tmp_path / "pool.npy", 4, build)
    for entry in cache_entries(tmp_path):
        remove_entry(entry)
    assert list(tmp_path.iterdir()) == []
    assert np.array_equal(mapped_array(tmp_path / "pool.npy", 4, build), np.arange(4)) and len(calls) == 2


def test_removing_a_linked_entry_removes_the_link_not_what_it_points_to(tmp_path):
    elsewhere = tmp_path / "my-musdb"
    elsewhere.mkdir()
    (elsewhere / "track.wav").write_bytes(b"keep me")
    cache = tmp_path / "cache"
    cache.mkdir()
    (cache / "musdb18-0123456789abcdef").symlink_to(elsewhere, target_is_directory=True)
    (entry,) = cache_entries(cache)
    assert entry.kind == "musdb18" and entry.files == 1
    remove_entry(entry)
    assert list(cache.iterdir()) == [] and (elsewhere / "track.wav").read_bytes() == b"keep me"
