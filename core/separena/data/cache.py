"""Building cached data atomically (write into a temporary folder, rename it into place), and
the cache's contents: what each entry holds, when it was last used, which a running process
maps (:func:`cache_entries`), and removing entries without breaking a reader
(:func:`remove_entry`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["atomic_dir", "default_cache_dir", "carried_root", "mapped_array", "map_array", "save_array",
           "CacheEntry", "cache_entries", "remove_entry", "CARRIED_ENV"]

# A folder of carried copies (separena.data.carry): data that a machine without the Debian
# packages it is built from uses instead of building it.
CARRIED_ENV = "SEPARENA_CARRIED"
_TMP = ".tmp-"  # temporary build folders and files end in ".tmp-<pid>"


def default_cache_dir() -> Path:
    """Where generated data is kept: ``$SEPARENA_CACHE`` or ``~/.cache/separena``."""
    return Path(os.environ.get("SEPARENA_CACHE") or Path.home() / ".cache" / "separena").expanduser()


def carried_root() -> Path | None:
    """The folder of carried copies named by ``$SEPARENA_CARRIED``; ``None`` when it is unset."""
    folder = os.environ.get(CARRIED_ENV)
    return Path(folder).expanduser() if folder else None


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], marker: str = "meta.json", *, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; when the block ends, rename it to ``final``.

    If the block raises, the temporary folder is deleted and ``final`` is untouched, so an
    interrupted build is never read back. If another process renamed a complete ``final``
    (one holding ``marker``) into place first, theirs is kept and this one discarded, unless
    ``replace``: then an existing ``final`` (a stale build of other content) is swapped out.
    Temporary folders of builds whose process died (killed, not interrupted) are removed.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    _remove_dead_builds(final.parent)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=f"{_TMP}{os.getpid()}", dir=final.parent))
    old: Path | None = None
    try:
        yield tmp
        if replace and final.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=f".old{_TMP}{os.getpid()}", dir=final.parent))
            os.replace(final, old / final.name)
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)


def mapped_array(path: str | os.PathLike[str], length: int, build: Callable[[], np.ndarray]) -> np.ndarray:
    """float32 ``[length]`` cached at ``path`` (a ``.npy`` file) and memory-mapped copy-on-write.

    Every process and data set that maps one file shares one copy of it in the page cache (a
    benchmark's worker processes, the noisy and reverberant variants of one data set), and what a
    process writes into its map stays its own. ``build()`` makes the array where the file is
    missing or does not hold ``length`` float32 samples; it is then written atomically
    (:func:`save_array`).
    """
    mapped = map_array(path, length)
    if mapped is not None:
        return mapped
    audio = np.ascontiguousarray(build(), dtype=np.float32)
    if audio.shape != (length,):
        raise ValueError(f"{path}: built {audio.shape} samples; expected ({length},)")
    return save_array(path, audio)


def map_array(path: str | os.PathLike[str], length: int) -> np.ndarray | None:
    """The float32 ``[length]`` of the ``.npy`` file ``path`` memory-mapped copy-on-write, or
    ``None`` where it is missing, cut short or of another type or length."""
    try:
        mapped = np.load(path, mmap_mode="c")
    except (OSError, ValueError, EOFError):
        return None
    return mapped if mapped.dtype == np.float32 and mapped.shape == (length,) else None


def save_array(path: str | os.PathLike[str], audio: np.ndarray) -> np.ndarray:
    """``audio`` (float32 ``[n]``) written to ``path`` atomically and returned memory-mapped
    (:func:`map_array`); returned as it is where the cache cannot be written (a read-only copy)
    or it is empty (nothing to map)."""
    path = Path(path)
    if len(audio) == 0:
        return audio
    tmp = path.with_name(f".{path.name}{_TMP}{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_builds(path.parent)
        with open(tmp, "wb") as f:
            np.save(f, np.ascontiguousarray(audio, dtype=np.float32))
        os.replace(tmp, path)
    except OSError:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        return audio
    mapped = map_array(path, len(audio))
    return audio if mapped is None else mapped


def _remove_dead_builds(folder: Path) -> None:
    for p in folder.glob(f".*{_TMP}*"):
        pid = _build_pid(p.name)
        if pid is None or _alive(pid):
            continue
        if p.is_dir():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)


def _build_pid(name: str) -> int | None:
    """The process that writes the temporary build ``name`` (``.<final>....tmp-<pid>``), else ``None``."""
    if not name.startswith(".") or _TMP not in name:
        return None
    try:
        return int(name.rsplit(_TMP, 1)[1])
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


@dataclass(frozen=True)
class CacheEntry:
    """One item of the cache folder: a data set's folder, or a cached array with its index (the
    files that share a name but for the extension). ``state`` is ``complete``, ``building``
    (a live process writes it) or ``unfinished`` (its process died: garbage)."""

    name: str
    kind: str  # the name without its content hashes: what built it (``espeak-2mix``, ``rooms-train``)
    paths: tuple[Path, ...]
    size: int  # bytes
    files: int
    last_used: float  # seconds since the epoch: the newest read or write of any of its files
    state: str
    pid: int | None = None  # the process that builds it (``building``, ``unfinished``)
    mapped_by: tuple[int, ...] = ()  # live processes that memory-map one of its files


def _final_name(name: str) -> str:
    """The entry a temporary build becomes: ``.x.npy.tmp-7`` -> ``x.npy``, ``.x.ab12cd34.tmp-7`` -> ``x``."""
    base = name[1:].rsplit(_TMP, 1)[0]
    base = base.removesuffix(".old").removesuffix(".rm")
    head, _, tail = base.rpartition(".")
    # atomic_dir's folders carry mkdtemp's random part (8 characters) after the final name; a
    # file's extension is shorter
    return head if head and len(tail) == 8 else base


def _mapped_files(root: Path) -> dict[Path, set[int]]:
    """The files under ``root`` that a live process memory-maps, with those processes (Linux'
    ``/proc``; empty elsewhere or where a process' maps cannot be read)."""
    found: dict[Path, set[int]] = {}
    prefix = str(root.resolve()) + os.sep
    for maps in Path("/proc").glob("[0-9]*/maps"):
        try:
            lines = maps.read_text().splitlines()
        except OSError:
            continue
        for line in lines:
            parts = line.split(maxsplit=5)
            if len(parts) == 6 and parts[5].startswith(prefix):
                found.setdefault(Path(parts[5].removesuffix(" (deleted)")), set()).add(int(maps.parent.name))
    return found


def cache_entries(root: str | os.PathLike[str] | None = None) -> list[CacheEntry]:
    """The entries of the cache folder ``root`` (default :func:`default_cache_dir`), by name;
    empty where it does not exist. ``last_used`` is the newest access or modification time of
    the entry's files: most file systems update access times at most once a day (``relatime``),
    some never (``noatime``), so it is exact to the day at best."""
    root = default_cache_dir() if root is None else Path(root)
    if not root.is_dir():
        return []
    groups: dict[str, list[Path]] = {}
    for path in sorted(root.iterdir()):
        name = path.name
        key = name if path.is_dir() or _build_pid(name) is not None else (path.stem or name)
        groups.setdefault(key, []).append(path)
    mapped = _mapped_files(root)
    entries = []
    for key, paths in groups.items():
        pid = _build_pid(key)
        name = _final_name(key) if pid is not None else key
        state = "complete" if pid is None else "building" if _alive(pid) else "unfinished"
        size = files = 0
        last_used = 0.0
        users: set[int] = set()
        for top in paths:
            for file in ([top] if not top.is_dir() else (p for p in top.rglob("*") if not p.is_dir())):
                try:
                    stat = file.stat()
                except OSError:  # removed while we walk
                    continue
                size += stat.st_size
                files += 1
                last_used = max(last_used, stat.st_atime, stat.st_mtime)
                users |= mapped.get(file.resolve(), set())
        kind = re.sub(r"-[0-9a-f]{8,}(?=-|$)", "", name.split(".")[0])
        entries.append(CacheEntry(name, kind, tuple(paths), size, files, last_used, state, pid, tuple(sorted(users))))
    return sorted(entries, key=lambda e: (e.name, e.state))


def remove_entry(entry: CacheEntry) -> None:
    """Delete ``entry``'s files. Each is first renamed to a temporary name of this process, so a
    reader never finds a half-deleted entry complete, and one left by an interruption is removed
    as a dead build by the next build in the folder. A process that maps a file keeps its pages
    until it unmaps it."""
    for path in entry.paths:
        if _build_pid(path.name) is not None:
            doomed = path
        else:
            doomed = path.with_name(f".{path.name}.rm{_TMP}{os.getpid()}")
            os.rename(path, doomed)
        if doomed.is_dir() and not doomed.is_symlink():
            shutil.rmtree(doomed, ignore_errors=True)
        else:  # a file, or a link to data kept elsewhere: the link goes, what it points to stays
            doomed.unlink(missing_ok=True)
