"""Building cached data atomically: write into a temporary folder, rename it into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "default_cache_dir", "carried_root", "CARRIED_ENV"]

# A folder of carried copies (separena.data.carry): data that a machine without the Debian
# packages it is built from uses instead of building it.
CARRIED_ENV = "SEPARENA_CARRIED"
_TMP = ".tmp-"  # temporary build folders end in ".tmp-<pid>"


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


def _remove_dead_builds(folder: Path) -> None:
    for p in folder.glob(f".*{_TMP}*"):
        try:
            os.kill(int(p.name.rsplit(_TMP, 1)[1]), 0)
        except ProcessLookupError:
            shutil.rmtree(p, ignore_errors=True)
        except (ValueError, PermissionError, OverflowError):
            continue
