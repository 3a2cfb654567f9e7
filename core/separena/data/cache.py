"""Building cached data atomically: write into a temporary folder, rename it into place."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = ["atomic_dir", "default_cache_dir"]


def default_cache_dir() -> Path:
    """Where generated data is kept: ``$SEPARENA_CACHE`` or ``~/.cache/separena``."""
    return Path(os.environ.get("SEPARENA_CACHE") or Path.home() / ".cache" / "separena").expanduser()


@contextlib.contextmanager
def atomic_dir(final: str | os.PathLike[str], marker: str = "meta.json") -> Iterator[Path]:
    """Yield a temporary folder beside ``final``; when the block ends, rename it to ``final``.

    If the block raises, the temporary folder is deleted and ``final`` is untouched, so an
    interrupted build is never read back. If another process renamed a complete ``final``
    (one holding ``marker``) into place first, theirs is kept and this one discarded.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".tmp", dir=final.parent))
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:
            if not (final / marker).is_file():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
