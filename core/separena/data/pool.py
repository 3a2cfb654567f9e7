"""Speech utterances held in memory, and the fixed mixtures of distinct speakers drawn from them.

An :class:`UtterancePool` keeps every utterance of a split in one float32 array (the eSpeak
NG speakers of ``espeak-2mix``, or the real recorded speakers of :mod:`separena.data.real`,
each speaker's clips joined by short pauses: :func:`joined_pool`). The fixed evaluation
mixtures of both (:func:`fixed_mixtures`, :func:`clip_mixtures`) follow one recipe: ``n_src``
(two unless asked) distinct speakers, each source at unit RMS times :data:`UTTERANCE_RMS`, at
levels of :func:`source_levels_db` (two sources differ by up to ``+-LEVEL_DB`` dB), scaled
down together when anything would peak above :data:`PEAK`, ``mix = s1 + s2 (+ s3 ...)``. The
training stream over a pool is :class:`separena.data.stream.SpeakerMixtureStream`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..errors import SeparenaError
from . import Example
from .cache import map_array, mapped_array, save_array

__all__ = ["UtterancePool", "joined_pool", "trim_normalise", "fixed_mixtures", "clip_mixtures", "fill_from_clips",
           "load_pool", "mapped_joined_pool", "synthesise_speakers", "distinct_speakers", "source_levels_db",
           "UTTERANCE_RMS", "LEVEL_DB", "PEAK", "JOIN_GAP_SECONDS"]

UTTERANCE_RMS = 0.05  # active-speech RMS of every stored utterance and of each evaluation source
LEVEL_DB = 2.5  # relative level of the two sources is uniform in [-LEVEL_DB, +LEVEL_DB]
PEAK = 0.95  # sources and mixture of a fixed mixture are scaled down together to peak below this
JOIN_GAP_SECONDS = (0.1, 0.4)  # pauses between the clips of a speaker joined into one recording
_JOIN_VERSION = "join/1"  # how joined_pool joins clips: names its cached files


def trim_normalise(y: np.ndarray, sample_rate: int) -> np.ndarray:
    """Trim leading/trailing silence (-50 dB re the loudest 10-ms frame, 30 ms margin) and set
    the RMS of active frames (-40 dB) to :data:`UTTERANCE_RMS`, peak below 0.99. float32 ``[time]``
    (empty when nothing is above the threshold)."""
    frame = max(1, sample_rate // 100)  # 10 ms
    n = len(y) // frame
    if n == 0:
        return np.zeros(0, np.float32)
    energy = (y[: n * frame].reshape(n, frame) ** 2).mean(1)
    if not energy.max() > 0:
        return np.zeros(0, np.float32)
    idx = np.flatnonzero(energy > energy.max() * 1e-5)
    margin = 3  # frames
    lo, hi = max(0, idx[0] - margin) * frame, min(n, idx[-1] + 1 + margin) * frame
    y = y[lo:hi]
    rms = math.sqrt(float(energy[energy > energy.max() * 1e-4].mean()))  # -40 dB: active speech
    gain = min(UTTERANCE_RMS / max(rms, 1e-8), 0.99 / max(float(np.abs(y).max()), 1e-8))
    return (y * gain).astype(np.float32)


@dataclass
class UtterancePool:
    """Utterances of one split held in memory: ``audio [total]`` float32, utterance ``u`` is
    ``audio[offsets[u]:offsets[u] + lengths[u]]`` spoken by ``speaker_of[u]`` (utterances
    grouped by speaker)."""

    audio: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    speaker_of: np.ndarray
    speakers: list  # Speaker objects (eSpeak) or speaker ids (real recordings)

    def utterances_of(self) -> list[np.ndarray]:
        return [np.flatnonzero(self.speaker_of == s) for s in range(len(self.speakers))]

    def speaker_id(self, s: int) -> str:
        speaker = self.speakers[s]
        return speaker if isinstance(speaker, str) else speaker.id

    def crop(self, u: int, start: int, n: int) -> np.ndarray:
        """``n`` samples of utterance ``u`` from ``start`` (zero-padded past its end)."""
        out = np.zeros(n, np.float32)
        length = int(self.lengths[u])
        take = max(0, min(n, length - start))
        out[:take] = self.audio[self.offsets[u] + start: self.offsets[u] + start + take]
        return out


def load_pool(root: Path, split: str, speakers: Sequence, lengths: Mapping[str, list[int]],
              sample_rate: int) -> UtterancePool:
    """The cached utterances of the speakers of ``split`` (objects with ``id`` and ``split``),
    stored one file per speaker as ``<root>/speakers/<split>/<id>.wav`` with ``lengths[id]``
    the lengths of its utterances. They are read once into one float32 file beside those
    (``<split>-<hash8>.npy``, the hash naming the speakers and lengths) that later loads
    memory-map: :func:`~separena.data.cache.mapped_array`."""
    spk = [s for s in speakers if s.split == split]
    lens = [n for s in spk for n in lengths[s.id]]
    owner = [j for j, s in enumerate(spk) for _ in lengths[s.id]]
    lengths_arr = np.asarray(lens, dtype=np.int64)
    key = hashlib.sha256(json.dumps([[s.id, lengths[s.id]] for s in spk]).encode()).hexdigest()[:8]
    audio = mapped_array(root / "speakers" / f"{split}-{key}.npy", int(lengths_arr.sum()),
                         lambda: _read_speakers(root, split, spk, lengths, sample_rate))
    offsets = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int64)
    return UtterancePool(audio, offsets, lengths_arr, np.asarray(owner, dtype=np.int64), spk)


def _read_speakers(root: Path, split: str, speakers: Sequence, lengths: Mapping[str, list[int]],
                   sample_rate: int) -> np.ndarray:
    import soundfile as sf

    audio = np.empty(sum(n for s in speakers for n in lengths[s.id]), np.float32)
    at = 0
    for s in speakers:
        path = root / "speakers" / split / f"{s.id}.wav"
        want = sum(lengths[s.id])
        try:
            with sf.SoundFile(str(path)) as f:
                ok = f.samplerate == sample_rate and f.channels == 1 and f.frames == want
                got = f.read(frames=want, dtype="float32", out=audio[at:at + want]) if ok else None
        except Exception as exc:
            raise SeparenaError(f"{path}: unreadable cached audio ({exc}); delete {root} to rebuild") from None
        if got is None or len(got) != want:
            raise SeparenaError(f"{path}: cached audio is not {want} mono samples at {sample_rate} Hz; "
                                f"delete {root} to rebuild")
        at += want
    return audio


def synthesise_speakers(bar: Any, description: str, jobs: Sequence[tuple[Any, list[str]]],
                        build: Callable[[Any, list[str], int, Path], list[int]], sample_rate: int, root: Path,
                        workers: int) -> dict[str, list[int]]:
    """Build every speaker of ``jobs`` (``(speaker, texts)``; speakers with ``id`` and ``split``)
    with ``build(speaker, texts, sample_rate, <root>/speakers/<split>/<id>.wav)`` on ``workers``
    threads (the synthesisers are processes), advancing a task of the progress bar ``bar``;
    returns each speaker's utterance lengths. A failure cancels what has not started."""
    from concurrent.futures import ThreadPoolExecutor

    lengths: dict[str, list[int]] = {}
    task = bar.add_task(description, total=len(jobs))
    with ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
        futures = {s.id: pool.submit(build, s, texts, sample_rate, root / "speakers" / s.split / f"{s.id}.wav")
                   for s, texts in jobs}
        try:
            for sid, fut in futures.items():
                lengths[sid] = fut.result()
                bar.advance(task)
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise
    return lengths


def joined_pool(utterances: Sequence, sample_rate: int, seed: int) -> UtterancePool:
    """Speakers as an :class:`UtterancePool` with one "utterance" per speaker: all its clips
    (objects with ``speaker`` and ``waveform``, e.g. :class:`~separena.data.real.RealUtterance`)
    in a seeded random order, joined by pauses uniform in :data:`JOIN_GAP_SECONDS`, so a 2-s
    crop anywhere is mostly speech even where the clips are ~1 s words."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for u in utterances:
        by_speaker.setdefault(u.speaker, []).append(u.waveform.numpy())
    names = sorted(by_speaker)
    if len(names) < 2:
        raise SeparenaError(f"speech pool: {len(names)} speaker(s) found; expected at least 2")
    lengths = []
    for j, name in enumerate(names):
        rng = np.random.default_rng([int(seed), 0x5EA1, j])
        clips = by_speaker[name]
        order = rng.permutation(len(clips))
        gaps = (rng.uniform(*JOIN_GAP_SECONDS, size=len(clips)) * sample_rate).astype(np.int64)
        by_speaker[name] = [x for i, g in zip(order, gaps) for x in (clips[i], np.zeros(g, np.float32))]
        lengths.append(sum(len(x) for x in by_speaker[name]))
    lengths_arr = np.asarray(lengths, dtype=np.int64)
    audio = np.empty(int(lengths_arr.sum()), np.float32)
    at = 0
    for name in names:
        for x in by_speaker.pop(name):
            audio[at:at + len(x)] = x
            at += len(x)
    offsets = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int64)
    return UtterancePool(audio, offsets, lengths_arr, np.arange(len(names), dtype=np.int64), names)


def mapped_joined_pool(stem: Path, sample_rate: int, seed: int, utterances: Callable[[], Sequence]) -> UtterancePool:
    """:func:`joined_pool` of ``utterances()``, kept as ``<stem>.npy`` (the audio, memory-mapped:
    :func:`~separena.data.cache.mapped_array`) and ``<stem>.json`` (the speakers and their
    lengths), so that later calls read neither the clips nor a private copy of the audio (the
    file names also carry a hash of how clips are joined)."""
    tag = hashlib.sha256(json.dumps([_JOIN_VERSION, JOIN_GAP_SECONDS]).encode()).hexdigest()[:8]
    npy, meta_path = stem.with_name(f"{stem.name}-{tag}.npy"), stem.with_name(f"{stem.name}-{tag}.json")
    try:
        meta = json.loads(meta_path.read_text())
        names, lengths = [str(n) for n in meta["speakers"]], np.asarray(meta["lengths"], dtype=np.int64)
        audio = map_array(npy, int(lengths.sum())) if len(names) == len(lengths) else None
    except (OSError, ValueError, KeyError, TypeError):
        audio = None
    if audio is not None:
        offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        return UtterancePool(audio, offsets, lengths, np.arange(len(names), dtype=np.int64), names)
    pool = joined_pool(utterances(), sample_rate, seed)
    pool.audio = save_array(npy, pool.audio)
    tmp = meta_path.with_name(f".{meta_path.name}.tmp-{os.getpid()}")  # removed by later saves if left
    try:  # after the audio: a reader that finds the speakers finds their audio complete
        tmp.write_text(json.dumps({"speakers": pool.speakers, "lengths": pool.lengths.tolist()}))
        os.replace(tmp, meta_path)
    except OSError:  # a read-only cache: the pool is built on each call
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
    return pool


def distinct_speakers(rng: np.random.Generator, n_speakers: int, batch: int, n_src: int) -> np.ndarray:
    """``[batch, n_src]`` speakers of ``range(n_speakers)``, distinct within each row, uniform.

    The first column is uniform; column ``k`` is the ``r``-th speaker (``r`` uniform in
    ``[0, n_speakers - k)``) after the first, cyclically, among those not drawn yet: for two
    speakers ``(s0 + 1 + r) % n_speakers``, so that 2-speaker streams keep their draws."""
    chosen = [rng.integers(0, n_speakers, size=batch)]
    for k in range(1, n_src):
        position = 1 + rng.integers(0, n_speakers - k, size=batch)  # among the others, counted from s0 + 1
        taken = np.sort(np.stack([(s - chosen[0]) % n_speakers for s in chosen[1:]], 1), 1) if k > 1 else None
        for j in range(k - 1):  # step over the speakers drawn already, nearest first
            position += taken[:, j] <= position
        chosen.append((chosen[0] + position) % n_speakers)
    return np.stack(chosen, 1)


def source_levels_db(rng: np.random.Generator, n_src: int, level_db: float,
                     size: int | None = None) -> np.ndarray:
    """Level in dB of each of ``n_src`` sources (``[n_src]``, or ``[size, n_src]``): two
    sources at ``+-rel / 2`` with ``rel`` uniform in ``+-level_db``; more, each uniform in
    ``+-level_db / 2`` (any two differ by up to ``level_db``, as two do)."""
    if n_src == 2:
        rel = rng.uniform(-level_db, level_db, size=size)
        return np.stack([rel / 2, -rel / 2], -1)
    return rng.uniform(-level_db / 2, level_db / 2, size=(n_src,) if size is None else (size, n_src))


def _groups(rng: np.random.Generator, n_speakers: int, n: int, draw: Callable[[int], np.ndarray],
            n_src: int = 2) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """``n`` times: ``n_src`` distinct speakers and their sources ``[n_src, time]`` float64 at
    :data:`UTTERANCE_RMS` times their level, peak below :data:`PEAK`. ``draw(s)`` gives a crop
    of speaker ``s`` (drawn from ``rng`` between the speakers and the levels)."""
    for _ in range(n):
        group = rng.choice(n_speakers, size=n_src, replace=False)
        srcs = []
        for s in group:
            x = draw(s)
            srcs.append(x / max(float(np.sqrt((x ** 2).mean())), 1e-8))
        level = source_levels_db(rng, n_src, LEVEL_DB)
        src = np.stack(srcs) * UTTERANCE_RMS * (10 ** (level / 20))[:, None]
        peak = max(float(np.abs(src.sum(0)).max()), float(np.abs(src).max()))
        if peak > PEAK:
            src *= PEAK / peak
        yield group, src


def fixed_mixtures(pool: UtterancePool, n: int, seconds: float, sample_rate: int, seed: int,
                   salt: int, n_src: int = 2) -> Iterator[Example]:
    """wsj0-2mix-style evaluation mixtures of ``pool`` (wsj0-3mix-style with ``n_src=3``): a
    random ``seconds`` crop of one utterance of each speaker (a shorter utterance whole, at a
    random offset). Yields :class:`Example` named ``<index>_<speaker>_<speaker>...`` with
    ``sources [n_src, time]``, ``mix = sum``."""
    rng = np.random.default_rng([seed, 3, salt])
    utts = pool.utterances_of()
    length = int(round(seconds * sample_rate))

    def draw(s: int) -> np.ndarray:
        u = int(utts[s][rng.integers(len(utts[s]))])
        ulen = int(pool.lengths[u])
        if ulen >= length:
            return pool.crop(u, int(rng.integers(0, ulen - length + 1)), length)
        x = np.zeros(length, np.float32)  # place the whole utterance at a random offset
        at = int(rng.integers(0, length - ulen + 1))
        x[at:at + ulen] = pool.crop(u, 0, ulen)
        return x

    for j, (group, src) in enumerate(_groups(rng, len(pool.speakers), n, draw, n_src)):
        src_t = torch.from_numpy(src.astype(np.float32))
        names = "_".join(pool.speaker_id(s) for s in group)
        yield Example(f"{j:05d}_{names}", src_t.sum(0), src_t)


def fill_from_clips(rng: np.random.Generator, clips: list[np.ndarray], length: int, sample_rate: int) -> np.ndarray:
    """``length`` samples of one speaker: a random crop of one clip if it is long enough, else
    clips in random order separated by pauses in :data:`JOIN_GAP_SECONDS`, and a random window of that."""
    i = int(rng.integers(len(clips)))
    if len(clips[i]) >= length:
        start = int(rng.integers(0, len(clips[i]) - length + 1))
        return clips[i][start:start + length].astype(np.float64)
    pieces, total = [], 0
    while total < length + sample_rate // 2 or not pieces:
        c = clips[int(rng.integers(len(clips)))] if pieces else clips[i]
        gap = np.zeros(int(rng.uniform(*JOIN_GAP_SECONDS) * sample_rate))
        pieces += [c, gap]
        total += len(c) + len(gap)
    y = np.concatenate(pieces)
    start = int(rng.integers(0, len(y) - length + 1))
    return y[start:start + length].astype(np.float64)


def clip_mixtures(clips: Mapping[str, list[np.ndarray]], n: int, seconds: float, sample_rate: int,
                  seed: int, n_src: int = 2) -> Iterator[Example]:
    """Evaluation mixtures of ``n_src`` speakers given as short clips (``{speaker: [clip, ...]}``,
    at least ``n_src`` speakers): ``seconds`` of each speaker by :func:`fill_from_clips`, sources
    on the 16-bit grid so that a written mixture is their exact sum. Yields :class:`Example`
    named ``<index>__<speaker>__<speaker>...`` (``/`` in a speaker id written ``-``)."""
    speakers = sorted(clips)
    rng = np.random.default_rng([int(seed), 0x5EA1])
    length = int(round(seconds * sample_rate))

    def draw(s: int) -> np.ndarray:
        return fill_from_clips(rng, clips[speakers[s]], length, sample_rate)

    for j, (group, src) in enumerate(_groups(rng, len(speakers), n, draw, n_src)):
        src = np.round(src * 32767.0) / 32767.0  # on the 16-bit grid: the written mix is the exact sum
        src_t = torch.from_numpy(src.astype(np.float32))
        mix = torch.from_numpy((src.sum(0)).astype(np.float32))
        names = "__".join(speakers[s].replace("/", "-") for s in group)
        yield Example(f"{j:05d}__{names}", mix, src_t)  # e.g. 00000__klettres-data-en__hedgewars-data-pl
