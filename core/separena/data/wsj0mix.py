"""``wsj0-2mix``: a corpus on disk in the wsj0-2mix / LibriMix layout (read by :class:`MixtureFolder`).

::

    root/<split>/<mix_dir>/<name>.wav  (mix/ for wsj0-2mix; LibriMix: mix_clean/, mix_both/, mix_single/)
    root/<split>/s1/<name>.wav
    root/<split>/s2/<name>.wav  ...    (one folder per source, s1 .. s<n_src>)

WHAMR!: ``mix_dir`` one of ``mix_{clean,both,single}_{anechoic,reverb}``, the sources in
``s1_anechoic/`` (``source_suffix="_anechoic"``, the direct path) or ``s1_reverb/``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path

from ..errors import SeparenaError
from . import MixtureSet, SeparationData
from .disk import CropTrainStream, MixtureFolder, subfolders, resolve_mix_dir

__all__ = ["wsj0_2mix", "LIBRIMIX_SPLITS"]


LIBRIMIX_SPLITS = ("train-360", "train-100", "dev", "test")


def _missing_split(base: Path, split: str) -> SeparenaError:
    """A one-line error for a split folder that is not there, listing what is, with the
    arguments for LibriMix's split names when its folders are there."""
    found = subfolders(base)
    msg = (f"wsj0-2mix: no split folder {split!r} under {base}; found {', '.join(found) or 'nothing'}; "
           f"expected train_split, valid_split and test_split to name folders of the root")
    libri = [f for f in LIBRIMIX_SPLITS if f in found]
    if libri:
        train = "train-360" if "train-360" in found else "train-100" if "train-100" in found else "test"
        valid = "dev" if "dev" in found else "test"
        test = "test" if "test" in found else valid
        msg += (f" (LibriMix layout: pass train_split={train!r}, valid_split={valid!r}, test_split={test!r}"
                + (", or train-100 as the training split" if train == "train-360" and "train-100" in found else "")
                + ")")
    return SeparenaError(msg)


def wsj0_2mix(*, root: str, sample_rate: int = 8000, n_src: int = 2, train_split: str = "tr",
              valid_split: str = "cv", test_split: str = "tt", mix_dir: str | None = None,
              mix_is_sum: bool | None = None, skip_unmatched: bool = False,
              extra_tests: dict[str, str] | None = None, source_suffix: str = "") -> SeparationData:
    """The wsj0-2mix (or LibriMix) layout under ``root``: ``<split>/{mix,s1,s2}/*.wav``.

    Args:
        root: folder holding the split folders (e.g. ``.../wav8k/min``).
        sample_rate: rate of every file (checked when read; no resampling).
        n_src: number of sources (``s1`` .. ``s<n_src>``).
        train_split, valid_split, test_split: split folder names (LibriMix: ``train-360``,
            ``dev``, ``test``).
        mix_dir: the mixture folder of every split: ``mix`` (wsj0-2mix), ``mix_clean`` (LibriMix,
            clean), ``mix_both`` (LibriMix, noisy), ``mix_single`` (speaker 1 plus noise,
            ``n_src=1``), or another name. ``None``: ``mix``, else ``mix_clean``. Any folder but
            ``mix`` is part of the data name (``wsj0-2mix@<hash>+mix_clean``). WHAMR!:
            ``mix_both_reverb`` (noisy and reverberant), ``mix_clean_reverb``, ... .
        mix_is_sum: whether mixtures must be the sum of the sources (checked on the first 3 of
            each split); ``None``: yes except for ``mix_both*`` and ``mix_single*``, and
            reverberant mixtures against anechoic sources.
        skip_unmatched: read only the mixtures that have all their source files, with a warning,
            instead of refusing a split whose file lists differ.
        extra_tests: more named test sets, ``{name: split folder}``.
        source_suffix: source folders ``s<k><source_suffix>``: ``""``, or WHAMR!'s
            ``"_anechoic"`` (the direct path: its references) and ``"_reverb"``; part of the data
            name when not ``""`` (``...+mix_both_reverb+s_anechoic``).
    """
    base = Path(root).expanduser()
    if not base.is_dir():
        raise SeparenaError(f"wsj0-2mix: root {str(base)!r} is not a folder; expected <root>/{test_split}/mix/*.wav")
    splits = (train_split, valid_split, test_split, *(extra_tests or {}).values())
    for split in splits:
        if not (base / split).is_dir():
            raise _missing_split(base, split)
    mix_dir = resolve_mix_dir(base / test_split, mix_dir)

    def open_split(split: str) -> MixtureFolder:
        return MixtureFolder(base, split, sample_rate, n_src, mix_dir=mix_dir, mix_is_sum=mix_is_sum,
                             skip_unmatched=skip_unmatched, source_suffix=source_suffix)

    train, valid, test = open_split(train_split), open_split(valid_split), open_split(test_split)
    extras: Mapping[str, MixtureSet] = {name: open_split(split) for name, split in (extra_tests or {}).items()}
    digest = hashlib.sha256()
    for part in (str(base.resolve()), *(str(len(s)) + "".join(getattr(s, "names", [])) for s in (train, valid, test))):
        digest.update(part.encode())
    if mix_dir != "mix":  # the name of a wsj0-2mix set (mix/) is what it was before the folder was a parameter
        digest.update(f"mix_dir={mix_dir}".encode())
    if source_suffix:
        digest.update(f"source_suffix={source_suffix}".encode())
    suffix = ("" if mix_dir == "mix" else f"+{mix_dir}") + (f"+s{source_suffix}" if source_suffix else "")
    return SeparationData(
        name=f"wsj0-{n_src}mix@{digest.hexdigest()[:8]}{suffix}", sample_rate=sample_rate, n_src=n_src,
        train=CropTrainStream(train), valid=valid, test=test, extra_tests=dict(extras),
        mix_is_sum=test.mix_is_sum, train_mix_is_sum=test.mix_is_sum,
    )
