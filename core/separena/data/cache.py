"""Building cached data atomically: write into a temporary folder, rename it into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np

__all__ = ["atomic_dir", "default_cache_dir", "carried_root", "mapped_array", "map_array", "save_array",
           "CARRIED_ENV"]

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
        try:
            os.kill(int(p.name.rsplit(_TMP, 1)[1]), 0)
        except ProcessLookupError:
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        except (ValueError, PermissionError, OverflowError):
            continue
