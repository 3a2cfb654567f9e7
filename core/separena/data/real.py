"""Real recorded human speech shipped in Debian packages: a speaker pool and ``real-dev`` mixtures.

Models trained only on synthetic (eSpeak NG) speech do not separate real recordings; this
module gives real voices, from packages any Debian machine can install, as extra training
sources (split ``train``) and as a held-out evaluation set of 2-speaker mixtures (split
``real-dev``). See ``docs/data-real.md`` for what each package holds and why the split is
what it is.

A *speaker* is one group of recordings that one person (as far as the package tells) spoke:
a package plus a voice pack, language or prompt set, e.g. ``hedgewars-data/Pirate`` or
``tuxpaint-stamps-default/el``. Files are found through dpkg's own file list of each package
(``/var/lib/dpkg/info/<package>.list``), so only files of the named packages are ever read.

Every recording is decoded (libsndfile, or ``ffmpeg`` for raw GSM), averaged to mono,
resampled to ``sample_rate`` with :func:`scipy.signal.resample_poly`, trimmed of leading and
trailing silence and normalised to an active-speech RMS of :data:`UTTERANCE_RMS`. The pool is
cached as 16-bit PCM under ``<cache_dir>/real-speech-<hash>/`` (``$SEPARENA_CACHE`` or
``~/.cache/separena``); the hash covers the generator version, the sample rate, the speaker
catalogue and the path and size of every source file. Builds go to a temporary folder that is
renamed into place when complete. The same machinery serves any other :class:`Catalogue` of
packages (the ``transfer`` test set of :mod:`separena.data.transfer`).
"""

from __future__ import annotations

import hashlib
import io
import json
import math
import os
import re
import shutil
import subprocess
import time
import zipfile
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from torch import Tensor

from ..errors import SeparenaError
from ..progress import progress_bar
from . import Example
from .audio import read_wav, write_wav
from .cache import CARRIED_ENV, atomic_dir, carried_root, default_cache_dir
from .disk import MixtureFolder, write_mixture_folder
from .pool import UTTERANCE_RMS, UtterancePool, clip_mixtures, mapped_joined_pool, trim_normalise
from .stream import SpeakerMixtureStream

__all__ = [
    "RealUtterance", "real_speech_pool", "joined_speech_pool", "build_real_dev", "real_dev", "real_dev_dataset",
    "speaker_catalogue", "build_mixtures", "Catalogue", "REAL", "REAL_PACKAGES", "REAL_DEV_SPEAKERS",
    "GENERATOR_VERSION", "speaker_package", "carried_pool", "is_carried",
]

GENERATOR_VERSION = "real-speech/1"  # of the pool; bump to rebuild every cached pool
MIXTURES_VERSION = "real-dev/2"  # of the real-dev mixtures (names, drawing); bump to rebuild them
MIN_SECONDS = 0.2  # utterances with less audio than this after trimming are dropped


@dataclass(frozen=True)
class _Rule:
    """Files of ``package`` whose path matches ``path`` (a regex on the installed path); for a
    zip archive, its members matching ``member``. ``speaker`` maps the match to a speaker name
    (``None``: skip the file)."""

    package: str
    path: str
    member: str | None = None
    decoder: str = "sndfile"  # or "gsm" (raw GSM 06.10 at 8 kHz, decoded by ffmpeg)


def _tux_speaker(m: re.Match) -> str:
    return m.group("lang") or "en"


# Speaker of each file: (rule, function of the regex match -> speaker name or None).
_WZ_CONSOLE = {"memressp", "countdown", "extra"}
_HEDGEWARS_EXCLUDED = {"Robot", "Singer"}  # vocoded robot voice; singing
_HEDGEWARS_MERGED = {"Default_pl": "pl", "Russian_pl": "pl"}  # the same language: maybe the same person


def _hedgewars(m: re.Match) -> str | None:
    pack = m.group("pack")
    return None if pack in _HEDGEWARS_EXCLUDED else _HEDGEWARS_MERGED.get(pack, pack)


def _warzone(m: re.Match) -> str | None:
    group = m.group("group")
    if group in _WZ_CONSOLE:
        return "console"
    return {"tutorial": "tutorial", "sequenceaudio": "briefing", "taunts/taunt1": "taunt1",
            "taunts/taunt2": "taunt2", "taunts/taunt3": "taunt3", "trnsppil": "transport-pilot",
            "vtoltalk": "vtol-pilot"}.get(group)


_RULES: tuple[tuple[_Rule, Callable], ...] = (
    (_Rule("asterisk-prompt-es-co", r"^/usr/share/asterisk/sounds/es/.+\.gsm$", decoder="gsm"), lambda m: "es-co"),
    (_Rule("asterisk-prompt-fr-armelle", r"^/usr/share/asterisk/sounds/fr/.+\.gsm$", decoder="gsm"),
     lambda m: "fr-armelle"),
    (_Rule("hedgewars-data", r"^/usr/share/games/hedgewars/Data/Sounds/voices/(?P<pack>[^/]+)/[^/]+\.ogg$"),
     _hedgewars),
    (_Rule("klettres-data", r"^/usr/share/klettres/(?P<lang>[^/]+)/(alpha|syllab)/[^/]+\.ogg$"),
     lambda m: m.group("lang")),
    (_Rule("tuxpaint-stamps-default", r"^/usr/share/tuxpaint/stamps/.+_desc(_(?P<lang>[a-z]{2}))?\.ogg$"),
     _tux_speaker),
    (_Rule("warzone2100-data", r"^/usr/share/games/warzone2100/base\.wz$",
           member=r"^(?:audio/(?P<g1>memressp|countdown|extra|tutorial|trnsppil|vtoltalk|taunts/taunt[123])"
                  r"|(?P<g2>sequenceaudio))/(?:[^/]+/)?[^/]+\.ogg$"),
     _warzone),
)

REAL_PACKAGES: tuple[str, ...] = tuple(sorted({r.package for r, _ in _RULES}))

# Held-out speakers (everything else is ``train``). Sentence-length prompts of two single
# speakers, four non-English voice packs, and two word-list speakers of each of two other
# packages so that real-dev has both natural read speech and both sexes; see docs/data-real.md.
REAL_DEV_SPEAKERS: frozenset[str] = frozenset({
    "asterisk-prompt-es-co/es-co", "asterisk-prompt-fr-armelle/fr-armelle",
    "hedgewars-data/Default_es", "hedgewars-data/Default_ru", "hedgewars-data/Default_uk", "hedgewars-data/pl",
    "tuxpaint-stamps-default/el", "tuxpaint-stamps-default/ca",
    "klettres-data/en", "klettres-data/uk",
})


def speaker_package(speaker: str, packages: Sequence[str]) -> str | None:
    """The package of ``speaker`` as a mixture name writes it (``<package>-<voice>``, e.g.
    ``klettres-data-en``: :func:`separena.data.pool.clip_mixtures` writes ``/`` as ``-``), the
    longest of ``packages`` it starts with; ``None`` if none."""
    hits = [p for p in packages if speaker.startswith(p + "-")]
    return max(hits, key=len) if hits else None


@dataclass(frozen=True)
class Catalogue:
    """Speakers of Debian packages: ``rules`` (``(_Rule, speaker of a match)``) find their files,
    ``held_out`` speakers are split ``splits[1]``, the rest ``splits[0]``; ``label`` starts
    messages, ``prefix`` names the pool's cache folder."""

    label: str
    prefix: str
    rules: tuple[tuple[_Rule, Callable], ...]
    held_out: frozenset[str]
    splits: tuple[str, str]
    version: str

    @property
    def packages(self) -> tuple[str, ...]:
        return tuple(sorted({r.package for r, _ in self.rules}))

    def split_of(self, speaker: str) -> str:
        return self.splits[1] if speaker in self.held_out else self.splits[0]


REAL = Catalogue("real speech", "real-speech", _RULES, REAL_DEV_SPEAKERS, ("train", "real-dev"), GENERATOR_VERSION)


@dataclass(frozen=True)
class RealUtterance:
    """One recording of a real speaker: ``waveform`` float32 ``[time]`` at the pool's rate,
    trimmed and at an active-speech RMS of :data:`UTTERANCE_RMS`."""

    speaker: str  # "<package>/<voice>", e.g. "hedgewars-data/Pirate"
    waveform: Tensor
    package: str


@dataclass(frozen=True)
class _File:
    speaker: str  # full id
    package: str
    path: Path  # on disk
    member: str | None
    decoder: str
    size: int


def _dpkg_list(package: str, system_root: Path) -> list[str] | None:
    info = system_root / "var" / "lib" / "dpkg" / "info"
    for name in (f"{package}.list", *sorted(p.name for p in info.glob(f"{package}:*.list"))):
        p = info / name
        if p.is_file():
            return p.read_text(errors="replace").splitlines()
    return None


def _catalogue(system_root: Path, cat: Catalogue = REAL) -> list[_File]:
    """Every source file, sorted; raises when a package is not installed."""
    lists = {pkg: _dpkg_list(pkg, system_root) for pkg in cat.packages}
    missing = [pkg for pkg, files in lists.items() if files is None]
    if missing:
        raise SeparenaError(
            f"{cat.label}: Debian packages not installed: {', '.join(missing)}; "
            f"install them with: apt-get install -y {' '.join(missing)}"
        )
    out: list[_File] = []
    for rule, speaker_of in cat.rules:
        pattern = re.compile(rule.path)
        for installed in lists[rule.package] or []:
            m = pattern.match(installed)
            if m is None:
                continue
            path = system_root / installed.lstrip("/")
            if not path.is_file():
                raise SeparenaError(
                    f"{cat.label}: {path} of package {rule.package} is missing; "
                    f"reinstall it (apt-get install --reinstall -y {rule.package})"
                )
            if rule.member is None:
                name = speaker_of(m)
                if name is not None:
                    out.append(_File(f"{rule.package}/{name}", rule.package, path, None, rule.decoder,
                                     path.stat().st_size))
                continue
            member_re = re.compile(rule.member)
            with zipfile.ZipFile(path) as z:
                for info in z.infolist():
                    mm = member_re.match(info.filename)
                    if mm is None:
                        continue
                    group = mm.group("g1") or mm.group("g2")
                    name = speaker_of(re.fullmatch(r"(?P<group>.+)", group))  # a match with group("group")
                    if name is not None:
                        out.append(_File(f"{rule.package}/{name}", rule.package, path, info.filename,
                                         rule.decoder, info.file_size))
    out.sort(key=lambda f: (f.speaker, str(f.path), f.member or ""))
    return out


def speaker_catalogue(*, system_root: str | os.PathLike[str] = "/", catalogue: Catalogue = REAL) -> dict[str, dict]:
    """``{speaker: {"package", "split", "files"}}`` of every speaker found (no decoding)."""
    out: dict[str, dict] = {}
    for f in _catalogue(Path(system_root), catalogue):
        entry = out.setdefault(f.speaker, {"package": f.package, "split": catalogue.split_of(f.speaker), "files": 0})
        entry["files"] += 1
    return out


# --------------------------------------------------------------------------------------------
# Decoding


def _ffmpeg_decode(data: bytes, fmt: str | None, sample_rate: int) -> np.ndarray:
    if shutil.which("ffmpeg") is None:
        raise SeparenaError("real speech: ffmpeg not found on PATH; install the Debian package ffmpeg "
                            "(apt-get install -y ffmpeg)")
    cmd = ["ffmpeg", "-nostdin", "-loglevel", "error"]
    if fmt:
        cmd += ["-f", fmt]
    cmd += ["-i", "pipe:0", "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    res = subprocess.run(cmd, input=data, capture_output=True, timeout=300)
    if res.returncode != 0:
        raise SeparenaError(f"real speech: ffmpeg could not decode {fmt or 'audio'}: "
                            f"{res.stderr.decode(errors='replace').strip()[:200]}")
    return np.frombuffer(res.stdout, dtype="<f4").astype(np.float64)


def _decode(data: bytes, sample_rate: int) -> np.ndarray:
    """Mono float64 at ``sample_rate`` from an encoded file's bytes."""
    import soundfile as sf
    from scipy.signal import resample_poly

    try:
        x, rate = sf.read(io.BytesIO(data), dtype="float64", always_2d=True)
    except Exception:  # a format libsndfile does not read
        return _ffmpeg_decode(data, None, sample_rate)
    x = x.mean(1)
    if rate != sample_rate:
        g = math.gcd(int(rate), sample_rate)
        x = resample_poly(x, sample_rate // g, int(rate) // g)
    return x


def _decode_group(files: list[_File], sample_rate: int) -> list[np.ndarray]:
    """Decode a list of files (all of one speaker), in order."""
    gsm = [f for f in files if f.decoder == "gsm"]
    out: dict[int, np.ndarray] = {}
    if gsm:  # raw GSM 06.10 frames (33 bytes = 160 samples at 8 kHz): one ffmpeg call for all
        blobs = [f.path.read_bytes() for f in gsm]
        blobs = [b[: len(b) // 33 * 33] for b in blobs]
        y = _ffmpeg_decode(b"".join(blobs), "gsm", sample_rate)
        per = [len(b) // 33 * 160 * sample_rate / 8000 for b in blobs]
        bounds = np.round(np.concatenate([[0], np.cumsum(per)])).astype(int)
        for f, a, b in zip(gsm, bounds[:-1], bounds[1:]):
            out[id(f)] = y[a:b]
    archives: dict[Path, zipfile.ZipFile] = {}
    try:
        for f in files:
            if f.decoder == "gsm":
                continue
            if f.member is None:
                data = f.path.read_bytes()
            else:
                z = archives.get(f.path) or archives.setdefault(f.path, zipfile.ZipFile(f.path))
                data = z.read(f.member)
            out[id(f)] = _decode(data, sample_rate)
    finally:
        for z in archives.values():
            z.close()
    return [trim_normalise(out[id(f)], sample_rate) for f in files]


# --------------------------------------------------------------------------------------------
# Pool cache


def _pool_hash(files: list[_File], sample_rate: int, cat: Catalogue) -> str:
    d = hashlib.sha256()
    d.update(json.dumps({"generator": cat.version, "sample_rate": sample_rate,
                         "dev": sorted(cat.held_out), "rms": UTTERANCE_RMS,
                         "min_seconds": MIN_SECONDS}, sort_keys=True).encode())
    for f in files:
        d.update(f"{f.speaker}\0{f.path}\0{f.member}\0{f.size}\n".encode())
    return d.hexdigest()[:16]


def _build_pool(final: Path, files: list[_File], sample_rate: int, workers: int, cat: Catalogue) -> None:
    t0 = time.perf_counter()
    with atomic_dir(final) as tmp:
        groups: dict[str, list[_File]] = {}
        for f in files:
            groups.setdefault(f.speaker, []).append(f)
        meta: dict = {"generator": cat.version, "sample_rate": sample_rate, "speakers": {}}
        with progress_bar(transient=False) as progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            task = progress.add_task(f"{cat.label}: decoding speakers", total=len(groups))
            futures = {s: pool.submit(_decode_group, fs, sample_rate) for s, fs in groups.items()}
            for speaker, fut in futures.items():
                clips = [c for c in fut.result() if len(c) >= MIN_SECONDS * sample_rate]
                if clips:
                    rel = speaker.replace("/", "__")
                    write_wav(tmp / f"{rel}.wav", np.concatenate(clips), sample_rate)
                    meta["speakers"][speaker] = {"package": groups[speaker][0].package, "file": f"{rel}.wav",
                                                 "split": cat.split_of(speaker), "lengths": [len(c) for c in clips]}
                progress.advance(task)
        meta["build_seconds"] = round(time.perf_counter() - t0, 2)
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))


def carried_pool(catalogue: Catalogue, sample_rate: int) -> Path | None:
    """The carried copy of ``catalogue``'s pool at ``sample_rate`` under
    ``$SEPARENA_CARRIED`` (written by :func:`separena.data.carry.carry_pools`); ``None``
    when that variable is unset.

    Raises:
        SeparenaError: the variable is set but the folder holds no such pool, or several.
    """
    folder = carried_root()
    if folder is None:
        return None
    found = []
    for d in sorted(folder.glob(f"{catalogue.prefix}-*+*")):
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if int(meta.get("sample_rate", -1)) == int(sample_rate) and "carried" in meta:
            found.append(d)
    if len(found) != 1:
        names = ", ".join(d.name for d in found) or "none"
        raise SeparenaError(f"${CARRIED_ENV}={folder}: {len(found)} carried {catalogue.label} pools at "
                            f"{sample_rate} Hz ({names}); expected exactly one, written by "
                            "separena.data.carry.carry_pools")
    return found[0]


def is_carried(pool: str | os.PathLike[str]) -> bool:
    """Whether the pool folder ``pool`` is a carried copy (its ``meta.json`` says so)."""
    try:
        return "carried" in json.loads((Path(pool) / "meta.json").read_text())
    except (OSError, ValueError):
        return False


def _cache_root(cache_dir: str | os.PathLike[str] | None) -> Path:
    return Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()


def _pool_dir(sample_rate: int, cache_dir: str | os.PathLike[str] | None, system_root: Path,
              workers: int, cat: Catalogue = REAL) -> Path:
    final = pool_cache(sample_rate, cache_dir, system_root=system_root, catalogue=cat)
    if not (final / "meta.json").is_file():
        _build_pool(final, _catalogue(Path(system_root), cat), sample_rate, workers, cat)
    return final


def pool_cache(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
               system_root: str | os.PathLike[str] = "/", catalogue: Catalogue = REAL) -> Path:
    """The cache folder of the ``catalogue``'s pool at ``sample_rate`` (``meta.json`` in it once
    built). Decodes nothing. Raises :class:`SeparenaError` when a package is not installed.
    With ``$SEPARENA_CARRIED`` set, the carried copy of the pool there
    (:mod:`separena.data.carry`), and the packages are not looked at."""
    carried = carried_pool(catalogue, int(sample_rate))
    if carried is not None:
        return carried
    files = _catalogue(Path(system_root), catalogue)
    cache = _cache_root(cache_dir)
    return cache / f"{catalogue.prefix}-{_pool_hash(files, int(sample_rate), catalogue)}"


def fill_cache(sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
               with_real_dev: bool = True, system_root: str | os.PathLike[str] = "/", workers: int = 2) -> Path:
    """Build what is not cached yet: the real-speech pool and, with ``with_real_dev``, the
    default ``real-dev`` mixtures (:func:`build_real_dev`). Returns the pool's folder."""
    root = _pool_dir(int(sample_rate), cache_dir, Path(system_root), workers)
    if with_real_dev:
        build_real_dev(sample_rate=sample_rate, cache_dir=cache_dir, system_root=system_root)
    return root


def real_speech_pool(split: str, sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None,
                     *, system_root: str | os.PathLike[str] = "/", workers: int = 2,
                     catalogue: Catalogue = REAL) -> list[RealUtterance]:
    """Every utterance of the real speakers of ``split`` (``"train"`` or ``"real-dev"``).

    Deterministic: the same installed packages and arguments give the same list, in the same
    order (sorted by speaker, then file). Built once and cached (see the module docstring).

    Args:
        split: ``"train"`` (extra training sources) or ``"real-dev"`` (held-out speakers);
            the two share no speaker.
        sample_rate: Hz of every returned waveform.
        cache_dir: cache root (default ``$SEPARENA_CACHE`` or ``~/.cache/separena``).
        system_root: filesystem root holding dpkg's database and the packages' files.
        workers: decoding threads while building (does not change the data).
        catalogue: whose speakers (default :data:`REAL`; the ``transfer`` set has its own).

    Raises:
        SeparenaError: a package of :data:`REAL_PACKAGES` is not installed (the message names
            them and the apt command that installs them), ``$SEPARENA_CARRIED`` holds no
            carried copy of the pool (:func:`carried_pool`), or a split name is unknown.
    """
    if split not in catalogue.splits:
        expected = " or ".join(repr(s) for s in dict.fromkeys(catalogue.splits))
        raise SeparenaError(f"{catalogue.label}: unknown split {split!r}; expected {expected}")
    root = _pool_dir(int(sample_rate), cache_dir, Path(system_root), workers, catalogue)
    meta = json.loads((root / "meta.json").read_text())
    out: list[RealUtterance] = []
    for speaker, info in sorted(meta["speakers"].items()):
        if info["split"] != split:
            continue
        wav = read_wav(root / info["file"], int(sample_rate))
        offsets = np.concatenate([[0], np.cumsum(info["lengths"])])
        if offsets[-1] != len(wav):
            raise SeparenaError(f"{root / info['file']}: cached audio has {len(wav)} samples; "
                                f"expected {offsets[-1]} (delete {root} to rebuild)")
        for a, b in zip(offsets[:-1], offsets[1:]):
            out.append(RealUtterance(speaker, wav[int(a):int(b)].clone(), info["package"]))
    return out


def joined_speech_pool(split: str, sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None,
                       *, seed: int = 0, system_root: str | os.PathLike[str] = "/", workers: int = 2,
                       catalogue: Catalogue = REAL) -> UtterancePool:
    """The speakers of :func:`real_speech_pool` (same arguments) as a training pool, each
    speaker's clips joined by pauses drawn from ``seed`` (:func:`~separena.data.pool.joined_pool`),
    kept beside the pool's folder in the cache (never in a carried copy) and memory-mapped by later
    calls (:func:`~separena.data.pool.mapped_joined_pool`)."""
    root = _pool_dir(int(sample_rate), cache_dir, Path(system_root), workers, catalogue)
    return mapped_joined_pool(
        _cache_root(cache_dir) / f"{root.name}-joined-{split}-{int(seed)}", int(sample_rate), int(seed),
        lambda: real_speech_pool(split, sample_rate, cache_dir, system_root=system_root, workers=workers,
                                 catalogue=catalogue))


# --------------------------------------------------------------------------------------------
# real-dev mixtures


def _mixtures(pool: list[RealUtterance], n: int, seconds: float, sample_rate: int,
              seed: int, split: str = "real-dev", n_src: int = 2) -> Iterator[Example]:
    clips: dict[str, list[np.ndarray]] = {}
    for u in pool:
        clips.setdefault(u.speaker, []).append(u.waveform.numpy())
    if len(clips) < n_src:
        raise SeparenaError(f"{split}: {len(clips)} {split} speaker(s) found; expected at least {n_src}")
    return clip_mixtures(clips, n, seconds, sample_rate, seed, n_src)


def build_real_dev(root: str | os.PathLike[str] | None = None, *, sample_rate: int = 8000, n_mixtures: int = 200,
                   seconds: float = 4.0, seed: int = 0, cache_dir: str | os.PathLike[str] | None = None,
                   system_root: str | os.PathLike[str] = "/", n_src: int = 2) -> Path:
    """Write ``n_mixtures`` mixtures of ``n_src`` different ``real-dev`` speakers in the
    wsj0-2mix layout, ``<root>/tt/{mix,s1,s2}/<name>.wav`` (and ``s3/`` ...), and return ``root``.

    Each mixture draws ``n_src`` distinct speakers uniformly, ``seconds`` of each (one clip, or
    short clips of that speaker joined by pauses), each source at unit RMS times
    :data:`UTTERANCE_RMS`, relative level uniform in +-2.5 dB (:func:`~separena.data.pool.source_levels_db`),
    ``mix = s1 + s2`` exactly. Deterministic in all arguments. ``root=None``: a content-hash
    folder in the cache, built once. An explicit ``root`` is rebuilt unless it already holds
    the same set.
    """
    return build_mixtures(REAL, "real-dev", MIXTURES_VERSION, root, sample_rate=sample_rate, n_mixtures=n_mixtures,
                          seconds=seconds, seed=seed, cache_dir=cache_dir, system_root=system_root, n_src=n_src)


def build_mixtures(catalogue: Catalogue, split: str, version: str, root: str | os.PathLike[str] | None = None, *,
                   sample_rate: int = 8000, n_mixtures: int = 200, seconds: float = 4.0, seed: int = 0,
                   cache_dir: str | os.PathLike[str] | None = None,
                   system_root: str | os.PathLike[str] = "/", n_src: int = 2) -> Path:
    """:func:`build_real_dev` for the speakers of ``split`` of any ``catalogue``; ``version``
    (of the mixtures) enters the hash, and ``root=None`` is ``<cache>/<split>-<hash16>``."""
    pool_dir = _pool_dir(int(sample_rate), cache_dir, Path(system_root), 2, catalogue)
    params = {"generator": version, "pool": pool_dir.name, "sample_rate": int(sample_rate),
              "n_mixtures": int(n_mixtures), "seconds": float(seconds), "seed": int(seed)}
    if n_src != 2:  # two speakers keep the folder they had
        params["n_src"] = int(n_src)
    key = hashlib.sha256(json.dumps(params, sort_keys=True).encode()).hexdigest()[:16]
    base = Path(root).expanduser() if root is not None else _cache_root(cache_dir) / f"{split}-{key}"
    marker = base / "tt" / "meta.json"
    if marker.is_file() and json.loads(marker.read_text()).get("key") == key:
        return base
    with atomic_dir(base / "tt", replace=True) as tmp:
        pool = real_speech_pool(split, sample_rate, cache_dir, system_root=system_root, catalogue=catalogue)
        with progress_bar(transient=False) as progress:
            task = progress.add_task(f"{split}: writing mixtures", total=n_mixtures)
            for ex in _mixtures(pool, n_mixtures, seconds, int(sample_rate), seed, split, int(n_src)):
                write_mixture_folder(tmp, "", [ex], int(sample_rate))
                progress.advance(task)
        (tmp / "meta.json").write_text(json.dumps({"key": key, **params}, indent=1))
    return base


def real_dev(*, sample_rate: int = 8000, n_mixtures: int = 200, seconds: float = 4.0, seed: int = 0,
             cache_dir: str | os.PathLike[str] | None = None, root: str | os.PathLike[str] | None = None,
             system_root: str | os.PathLike[str] = "/", n_src: int = 2) -> MixtureFolder:
    """The ``real-dev`` mixtures (built by :func:`build_real_dev` when not cached) as a
    :class:`~separena.data.MixtureSet`: ``Example.mix [time]``, ``sources [n_src, time]``."""
    base = build_real_dev(root, sample_rate=sample_rate, n_mixtures=n_mixtures, seconds=seconds, seed=seed,
                          cache_dir=cache_dir, system_root=system_root, n_src=n_src)
    return MixtureFolder(base, "tt", int(sample_rate), n_src, mix_from_sources=True)


# --------------------------------------------------------------------------------------------
# The `real-dev` dataset


def real_dev_dataset(*, seed: int = 0, sample_rate: int = 8000, n_test: int = 200, n_valid: int = 100,
                     test_seconds: float = 4.0, augment: bool = True, cache_dir: str | None = None,
                     workers: int = 2):
    """The registered dataset ``real-dev``: ``test`` is the real-dev set (:func:`real_dev`,
    ``n_test`` mixtures of the held-out real speakers, seed 0 as everywhere), ``valid`` another
    ``n_valid`` mixtures of the same speakers (mixture seed ``seed + 1``), and ``train`` fresh
    mixtures of the real ``train`` speakers only (an
    :class:`~separena.data.stream.SpeakerMixtureStream` over them: each speaker's clips joined
    by short pauses, augmented as ``espeak-2mix`` unless ``augment=False``).

    Returns a :class:`~separena.data.SeparationData` named ``real-dev@<hash8>``."""
    from . import SeparationData
    from .augment import AugmentConfig

    sr = int(sample_rate)
    test = real_dev(sample_rate=sr, n_mixtures=n_test, seconds=test_seconds, seed=0, cache_dir=cache_dir)
    valid = real_dev(sample_rate=sr, n_mixtures=n_valid, seconds=test_seconds, seed=int(seed) + 1,
                     cache_dir=cache_dir)
    pool = joined_speech_pool("train", sr, cache_dir, seed=int(seed), workers=workers)
    train = SpeakerMixtureStream(pool, sr, AugmentConfig() if augment else None)
    key = json.dumps({"test": str(test.root), "valid": str(valid.root), "seed": int(seed), "augment": bool(augment),
                      "train": [GENERATOR_VERSION, int(pool.lengths.sum())]}, sort_keys=True)
    name = f"real-dev@{hashlib.sha256(key.encode()).hexdigest()[:8]}" + ("" if augment else "+noaug")
    return SeparationData(name=name, sample_rate=sr, n_src=2, train=train, valid=valid, test=test,
                          train_mix_is_sum=train.augment is None or train.augment.noise_prob == 0)
