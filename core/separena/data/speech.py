"""``espeak-2mix``: 2-speaker mixtures of eSpeak NG voices, generated locally and cached.

A *speaker* is one combination of an eSpeak NG language/accent, a voice variant, a base pitch,
a pitch range, a speaking rate and a formant (vocal-tract length) shift. Speakers are disjoint
across splits by construction: valid and test speakers use voice variants that no training
speaker uses, and about half of them speak languages that no training speaker speaks.

Text is drawn from the word-frequency lists of the ``wordfreq`` package in the speaker's own
language where it has one (42 languages), otherwise English read with that language's
phonology: sentences of 4-13 words weighted by frequency, with commas, questions and
exclamations, so every utterance is different.

The utterances are synthesised by ``espeak-ng`` (two at a time), moved to ``sample_rate`` with
the formant shift folded into the resampling ratio, trimmed, level-normalised and stored as
16-bit PCM under ``<cache_dir>/espeak-2mix-<hash>/``; the hash covers every generation
parameter, the generator version and the versions of eSpeak NG, wordfreq, numpy and scipy. The
build happens in a temporary folder that is renamed into place when complete, so an
interrupted build is never read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import subprocess
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import torch
from torch import Tensor

from ..errors import SeparenaError
from ..progress import progress_bar
from . import SeparationData
from .audio import write_wav
from .cache import atomic_dir, default_cache_dir
from .augment import AugmentConfig, RirBankConfig, augment_sources, reverberate, rir_bank
from .disk import MixtureFolder, write_mixture_folder

__all__ = ["espeak_2mix", "EspeakTrainStream", "Speaker", "train_stream", "GENERATOR_VERSION"]

log = logging.getLogger(__name__)

GENERATOR_VERSION = "espeak-2mix/2"
ESPEAK = "espeak-ng"

# Voices whose output is not usable speech for this purpose: constructed fantasy languages,
# and languages that spell out foreign text letter by letter (no usable native word list).
EXCLUDED_LANGUAGES = frozenset({
    "chr-US-Qaaa-x-west", "piqd", "py", "qdb", "qya", "sjn", "jbo",
    "hak", "hyw", "my", "kok", "shn", "mi",
})
# Variants that are not a human voice (robots, whisper, effects) or a speed test.
EXCLUDED_VARIANTS = frozenset({
    "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7",
    "robosoft8", "UniRobot", "anikaRobot", "Demonic", "announcer", "whisper", "whisperf", "fast",
})
# eSpeak language code (its first part) -> wordfreq language of the text it reads.
TEXT_LANGUAGE_ALIASES = {
    "cmn": "zh", "yue": "zh", "bs": "sh", "hr": "sh", "sr": "sh",
    "be": "ru", "ba": "ru", "cv": "ru", "ky": "ru", "nog": "ru", "tt": "ru", "kk": "ru",
}
VOCABULARY_SIZE = 5000  # most frequent words of each language
UTTERANCE_RMS = 0.05  # active-speech RMS of every stored utterance and of each test source
LEVEL_DB = 2.5  # relative level of the two sources is uniform in [-LEVEL_DB, +LEVEL_DB]
REAL_GAP_SECONDS = (0.1, 0.4)  # pauses between the clips of a real speaker in the training pool
# Defaults of the training stream (chosen from docs/benchmarks/data_ablation.md).
DEFAULT_REAL_FRACTION = 0.5
DEFAULT_REVERB = 0.0


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: eSpeak NG ``-v language+variant -p pitch -s rate``, SSML
    ``<prosody range="pitch_range%">``, and frequencies scaled by ``formant`` (durations by
    ``1 / formant``)."""

    id: str
    split: str
    language: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int
    formant: float
    text_language: str


# --------------------------------------------------------------------------------------------
# eSpeak NG


def _espeak(*args: str) -> str:
    if shutil.which(ESPEAK) is None:
        raise SeparenaError(
            "espeak-2mix: espeak-ng not found on PATH; install the Debian package espeak-ng "
            "(apt-get install espeak-ng)"
        )
    try:
        res = subprocess.run([ESPEAK, *args], capture_output=True, text=True, check=True, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        raise SeparenaError(f"espeak-2mix: `{ESPEAK} {' '.join(args)}` failed: {exc}") from None
    return res.stdout


def espeak_inventory() -> tuple[str, list[str], list[str]]:
    """``(version line, languages, variants)`` of the installed eSpeak NG, filtered and sorted."""
    version = _espeak("--version").strip()
    languages = set()
    for line in _espeak("--voices").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[1] not in EXCLUDED_LANGUAGES:
            languages.add(fields[1])
    variants = set()
    for line in _espeak("--voices=variant").splitlines()[1:]:
        fields = line.split()
        if fields and fields[-1].startswith("!v/"):
            name = fields[-1][3:]
            if name not in EXCLUDED_VARIANTS:
                variants.add(name)
    return version, sorted(languages), sorted(variants)


def _text_language(language: str, available: set[str]) -> str:
    base = language.split("-")[0].lower()
    base = TEXT_LANGUAGE_ALIASES.get(base, base)
    return base if base in available else "en"


def _vocabulary(lang: str) -> tuple[list[str], np.ndarray]:
    """The most frequent alphabetic words of ``lang`` and sampling weights (Zipf, flattened)."""
    import wordfreq

    words = [w for w in wordfreq.top_n_list(lang, VOCABULARY_SIZE * 2, wordlist="small") if w.isalpha()]
    words = words[:VOCABULARY_SIZE]
    weights = 1.0 / np.arange(1, len(words) + 1) ** 0.6
    return words, weights / weights.sum()


def _sentences(rng: np.random.Generator, vocab: tuple[list[str], np.ndarray], n: int) -> str:
    """``n`` random sentences of 4-13 frequency-weighted words with punctuation.

    No digits: eSpeak NG 1.51 reads numbers in some languages (Arabic) non-deterministically."""
    words, weights = vocab
    out = []
    for _ in range(n):
        k = int(rng.integers(4, 14))
        picked = [words[i] for i in rng.choice(len(words), size=k, p=weights)]
        if k > 6 and rng.random() < 0.4:
            c = int(rng.integers(2, k - 2))
            picked[c] += ","
        picked[0] = picked[0][:1].upper() + picked[0][1:]
        end = rng.choice([".", ".", ".", "?", "!"])
        out.append(" ".join(picked) + end)
    return " ".join(out)


def _synthesize(speaker: Speaker, text: str) -> tuple[np.ndarray, int]:
    """Run eSpeak NG; ``(int16 samples, sample rate)``."""
    ssml = f'<speak><prosody range="{speaker.pitch_range}%">{escape(text)}</prosody></speak>'
    cmd = [ESPEAK, "-m", "-v", f"{speaker.language}+{speaker.variant}", "-p", str(speaker.pitch),
           "-s", str(speaker.rate), "--stdout", ssml]
    try:
        res = subprocess.run(cmd, capture_output=True, check=True, timeout=120)
    except FileNotFoundError:
        raise SeparenaError("espeak-2mix: espeak-ng not found on PATH; install the Debian package espeak-ng") from None
    except subprocess.SubprocessError as exc:
        raise SeparenaError(f"espeak-2mix: espeak-ng failed for speaker {speaker.id}: {exc}") from None
    data = res.stdout
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SeparenaError(
            f"espeak-2mix: espeak-ng gave no WAV for speaker {speaker.id} "
            f"({speaker.language}+{speaker.variant}); expected RIFF/WAVE, got {len(data)} bytes"
        )
    rate = int.from_bytes(data[24:28], "little")
    body = data[44:]
    return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2"), rate


def _resample_ratio(rate_in: int, rate_out: int, formant: float) -> tuple[int, int]:
    """``(up, down)`` for :func:`scipy.signal.resample_poly` that treats input sampled at
    ``rate_in`` as if sampled at ``rate_in * formant`` (all frequencies times ``formant``) and
    brings it to ``rate_out``. ``formant`` is quantised to a step of about 0.25 %."""
    g = math.gcd(rate_in, rate_out)
    m = max(1, math.ceil(400 / (rate_in // g)))
    base = rate_in // g * m  # formant = k / base
    k = max(1, round(formant * base))
    up, down = rate_out // g * m, k
    r = math.gcd(up, down)
    return up // r, down // r


def _process(pcm: np.ndarray, rate_in: int, rate_out: int, formant: float) -> np.ndarray:
    """Resample with formant shift, trim silence, normalise level. float32 ``[time]``."""
    from scipy.signal import resample_poly

    x = pcm.astype(np.float64) / 32768.0
    up, down = _resample_ratio(rate_in, rate_out, formant)
    y = resample_poly(x, up, down)
    frame = max(1, rate_out // 100)  # 10 ms
    n = len(y) // frame
    if n == 0:
        return np.zeros(0, np.float32)
    energy = (y[: n * frame].reshape(n, frame) ** 2).mean(1)
    active = energy > energy.max() * 1e-5  # -50 dB re the loudest frame
    idx = np.flatnonzero(active)
    if len(idx) == 0:
        return np.zeros(0, np.float32)
    margin = 3  # frames
    lo, hi = max(0, idx[0] - margin) * frame, min(n, idx[-1] + 1 + margin) * frame
    y = y[lo:hi]
    loud = energy > energy.max() * 1e-4  # -40 dB: active speech for the level
    rms = math.sqrt(float(energy[loud].mean()))
    gain = min(UTTERANCE_RMS / max(rms, 1e-8), 0.99 / max(float(np.abs(y).max()), 1e-8))
    return (y * gain).astype(np.float32)


def _build_speaker(speaker: Speaker, texts: list[str], sample_rate: int, out: Path) -> list[int]:
    """Synthesise every utterance of one speaker into ``out`` (one file, utterances
    concatenated); returns the utterance lengths in samples."""
    pieces = []
    for text in texts:
        pcm, rate = _synthesize(speaker, text)
        y = _process(pcm, rate, sample_rate, speaker.formant)
        if len(y) < sample_rate // 2:
            raise SeparenaError(
                f"espeak-2mix: speaker {speaker.id} ({speaker.language}+{speaker.variant}) gave "
                f"{len(y)} samples for {text[:40]!r}; expected at least 0.5 s of speech"
            )
        pieces.append(y)
    write_wav(out, np.concatenate(pieces), sample_rate)
    return [len(p) for p in pieces]


# --------------------------------------------------------------------------------------------
# Speakers and plan


def _make_speakers(rng: np.random.Generator, split: str, n: int, languages: Sequence[str],
                   held_out_languages: Sequence[str], variants: Sequence[str], formant_shift: float,
                   text_langs: set[str]) -> list[Speaker]:
    """``n`` distinct speakers; every other one speaks a held-out language when there are any."""
    seen: set[tuple] = set()
    out: list[Speaker] = []
    lang_order = list(rng.permutation(len(languages)))
    while len(out) < n:
        i = len(out)
        if held_out_languages and i % 2 == 0:
            lang = held_out_languages[(i // 2) % len(held_out_languages)]
        else:
            lang = languages[lang_order[(i // (2 if held_out_languages else 1)) % len(languages)]]
        variant = variants[int(rng.integers(len(variants)))]
        pitch = int(rng.integers(15, 86))
        pitch_range = int(rng.integers(40, 181))
        rate = int(rng.integers(130, 211))
        formant = round(float(rng.uniform(1 - formant_shift, 1 + formant_shift)), 3)
        key = (lang, variant, pitch, pitch_range, rate, formant)
        if key in seen:
            continue
        seen.add(key)
        out.append(Speaker(f"{split}{i:04d}", split, lang, variant, pitch, pitch_range, rate, formant,
                           _text_language(lang, text_langs)))
    return out


def _plan(params: dict, languages: list[str], variants: list[str], text_langs: set[str]) -> list[Speaker]:
    """Every speaker of every split, a pure function of ``params`` and the voice inventory."""
    rng = np.random.default_rng([params["seed"], 1])
    langs = [languages[i] for i in rng.permutation(len(languages))]
    vars_ = [variants[i] for i in rng.permutation(len(variants))]
    nl_t, nl_v = params["n_test_languages"], params["n_valid_languages"]
    nv_t, nv_v = params["n_test_variants"], params["n_valid_variants"]
    if nv_t + nv_v >= len(vars_) or nl_t + nl_v >= len(langs):
        raise SeparenaError(
            f"espeak-2mix: too many held-out voices; expected fewer than {len(vars_)} variants and "
            f"{len(langs)} languages, got {nv_t + nv_v} and {nl_t + nl_v}"
        )
    test_l, valid_l, train_l = langs[:nl_t], langs[nl_t:nl_t + nl_v], langs[nl_t + nl_v:]
    test_v, valid_v, train_v = vars_[:nv_t], vars_[nv_t:nv_t + nv_v], vars_[nv_t + nv_v:]
    shift = params["formant_shift"]
    return [
        *_make_speakers(rng, "train", params["n_train_speakers"], train_l, [], train_v, shift, text_langs),
        *_make_speakers(rng, "valid", params["n_valid_speakers"], train_l, valid_l, valid_v, shift, text_langs),
        *_make_speakers(rng, "test", params["n_test_speakers"], train_l, test_l, test_v, shift, text_langs),
    ]


# --------------------------------------------------------------------------------------------
# Pools and mixtures


@dataclass
class _Pool:
    """Utterances of one split held in memory: ``audio [total]`` float32, utterance ``u`` is
    ``audio[offsets[u]:offsets[u] + lengths[u]]`` spoken by ``speaker_of[u]``."""

    audio: np.ndarray
    offsets: np.ndarray
    lengths: np.ndarray
    speaker_of: np.ndarray
    speakers: list  # Speaker objects (eSpeak) or speaker ids (real recordings)

    def utterances_of(self) -> list[np.ndarray]:
        return [np.flatnonzero(self.speaker_of == s) for s in range(len(self.speakers))]


def _load_pool(root: Path, split: str, speakers: list[Speaker], lengths: dict[str, list[int]],
               sample_rate: int) -> _Pool:
    """Read every utterance of ``split`` from the cache into one preallocated float32 array."""
    import soundfile as sf

    spk = [s for s in speakers if s.split == split]
    lens = [n for s in spk for n in lengths[s.id]]
    owner = [j for j, s in enumerate(spk) for _ in lengths[s.id]]
    lengths_arr = np.asarray(lens, dtype=np.int64)
    audio = np.empty(int(lengths_arr.sum()), np.float32)
    at = 0
    for s in spk:
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
    offsets = np.concatenate([[0], np.cumsum(lengths_arr)[:-1]]).astype(np.int64)
    return _Pool(audio, offsets, lengths_arr, np.asarray(owner, dtype=np.int64), spk)


def _real_pool(utterances: Sequence, sample_rate: int, seed: int) -> _Pool:
    """Real training speakers as a :class:`_Pool` with one "utterance" per speaker: all its
    clips (:class:`~separena.data.real.RealUtterance`) in a seeded random order, joined by
    pauses uniform in :data:`REAL_GAP_SECONDS`, so a 2-s crop anywhere is mostly speech even
    where the clips are ~1 s words."""
    by_speaker: dict[str, list[np.ndarray]] = {}
    for u in utterances:
        by_speaker.setdefault(u.speaker, []).append(u.waveform.numpy())
    names = sorted(by_speaker)
    if len(names) < 2:
        raise SeparenaError(f"espeak-2mix: {len(names)} real training speaker(s) found; expected at least 2")
    lengths = []
    for j, name in enumerate(names):
        rng = np.random.default_rng([int(seed), 0x5EA1, j])
        clips = by_speaker[name]
        order = rng.permutation(len(clips))
        gaps = (rng.uniform(*REAL_GAP_SECONDS, size=len(clips)) * sample_rate).astype(np.int64)
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
    return _Pool(audio, offsets, lengths_arr, np.arange(len(names), dtype=np.int64), names)


def _crop(pool: _Pool, u: int, start: int, n: int) -> np.ndarray:
    """``n`` samples of utterance ``u`` from ``start`` (zero-padded past its end)."""
    out = np.zeros(n, np.float32)
    length = int(pool.lengths[u])
    take = max(0, min(n, length - start))
    out[:take] = pool.audio[pool.offsets[u] + start: pool.offsets[u] + start + take]
    return out


def _fixed_mixtures(pool: _Pool, n: int, seconds: float, sample_rate: int, seed: int, salt: int):
    """wsj0-2mix-style evaluation mixtures: 2 distinct speakers, a random ``seconds`` crop of
    one utterance each, each source at ``UTTERANCE_RMS`` times a relative level uniform in
    ``+-LEVEL_DB`` dB. Yields :class:`Example` with ``sources [2, time]``, ``mix = sum``."""
    from . import Example

    rng = np.random.default_rng([seed, 3, salt])
    utts = pool.utterances_of()
    length = int(round(seconds * sample_rate))
    for j in range(n):
        pair = rng.choice(len(pool.speakers), size=2, replace=False)
        srcs = []
        for s in pair:
            u = int(utts[s][rng.integers(len(utts[s]))])
            ulen = int(pool.lengths[u])
            if ulen >= length:
                x = _crop(pool, u, int(rng.integers(0, ulen - length + 1)), length)
            else:  # place the whole utterance at a random offset
                x = np.zeros(length, np.float32)
                at = int(rng.integers(0, length - ulen + 1))
                x[at:at + ulen] = _crop(pool, u, 0, ulen)
            srcs.append(x / max(float(np.sqrt((x ** 2).mean())), 1e-8))
        rel = float(rng.uniform(-LEVEL_DB, LEVEL_DB))
        src = np.stack(srcs) * UTTERANCE_RMS * np.array([[10 ** (rel / 40)], [10 ** (-rel / 40)]])
        peak = max(float(np.abs(src.sum(0)).max()), float(np.abs(src).max()))
        if peak > 0.95:
            src *= 0.95 / peak
        src_t = torch.from_numpy(src.astype(np.float32))
        names = "_".join(pool.speakers[s].id for s in pair)
        yield Example(f"{j:05d}_{names}", src_t.sum(0), src_t)


# --------------------------------------------------------------------------------------------
# Training stream


class EspeakTrainStream:
    """Fresh 2-speaker training mixtures, a pure function of ``(seed, step)``.

    Each item draws 2 distinct training speakers, one utterance of each and a random crop of
    it. With ``real`` and ``real_fraction > 0`` each source is instead, with probability
    ``real_fraction``, a random crop of a real recorded training speaker (two real sources of
    one item are distinct speakers). With ``rirs`` and ``reverb > 0`` each item is, with
    probability ``reverb``, placed in a room of the bank: both sources convolved with the
    room's two RIRs (the reference is the reverberant source). Then it optionally augments
    each source (``augment``: random speed, EQ, band limits, see :mod:`separena.data.augment`),
    normalises each source and sets their relative level uniformly in ``+-level_db``, sums
    them, and with augmentation adds low-level noise to the mixture only and a random overall
    gain. The real and reverb choices come from random generators of their own, so with
    ``real_fraction=0`` and ``reverb=0`` the stream is exactly the eSpeak-only stream.

    ``batch`` returns ``(mix [batch, time], sources [batch, 2, time])`` float32.
    """

    n_src = 2

    def __init__(self, pool: _Pool, sample_rate: int, augment: AugmentConfig | None, *,
                 real: _Pool | None = None, real_fraction: float = 0.0, rirs: Tensor | None = None,
                 reverb: float = 0.0, level_db: float = LEVEL_DB) -> None:
        self.pool, self.sample_rate, self.augment = pool, sample_rate, augment
        self.real, self.real_fraction = real, float(real_fraction) if real is not None else 0.0
        self.rirs, self.reverb = rirs, float(reverb) if rirs is not None else 0.0
        self.level_db = float(level_db)
        if len(pool.speakers) < 2 or (np.diff(pool.speaker_of) < 0).any():
            raise SeparenaError("espeak-2mix: the training pool needs >= 2 speakers, utterances grouped by speaker")
        if real is not None and len(real.lengths) < 2:
            raise SeparenaError("espeak-2mix: the real training pool needs >= 2 speakers")
        # utterances of speaker s are first_utt[s] .. first_utt[s + 1] - 1
        self._first_utt = np.searchsorted(pool.speaker_of, np.arange(len(pool.speakers) + 1)).astype(np.int64)
        self.audio = torch.from_numpy(pool.audio)

    @property
    def n_speakers(self) -> int:
        return len(self.pool.speakers)

    @property
    def minutes(self) -> float:
        """Minutes of training speech in the pool."""
        return len(self.pool.audio) / self.sample_rate / 60

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([int(seed), int(step), 0xE5EA])
        aug, pool, n = self.augment, self.pool, segment_samples
        n_spk = len(self._first_utt) - 1
        # two distinct speakers per item, one utterance of each, a crop start in it
        s0 = rng.integers(0, n_spk, size=batch_size)
        s1 = (s0 + 1 + rng.integers(0, n_spk - 1, size=batch_size)) % n_spk
        spk = np.stack([s0, s1], 1)  # [batch, 2]
        count = self._first_utt[spk + 1] - self._first_utt[spk]
        utt = self._first_utt[spk] + (rng.random((batch_size, 2)) * count).astype(np.int64)
        speed_range = aug.speed if aug is not None else 0.0
        speed = rng.uniform(1 - speed_range, 1 + speed_range, size=(batch_size, 2)) if speed_range > 0 \
            else np.ones((batch_size, 2))
        need = np.ceil((n - 1) * speed).astype(np.int64) + 1
        ulen = pool.lengths[utt]
        start = (rng.random((batch_size, 2)) * (np.maximum(ulen - need, 0) + 1)).astype(np.int64)
        first, avail = pool.offsets[utt] + start, ulen - start
        is_real = np.zeros((batch_size, 2), bool)
        if self.real_fraction > 0:  # own generator: the eSpeak draws above stay as they were
            real, rr = self.real, np.random.default_rng([int(seed), int(step), 0x4EA1])
            is_real = rr.random((batch_size, 2)) < self.real_fraction
            n_real = len(real.lengths)
            r0 = rr.integers(0, n_real, size=batch_size)
            rspk = np.stack([r0, (r0 + 1 + rr.integers(0, n_real - 1, size=batch_size)) % n_real], 1)
            rlen = real.lengths[rspk]
            rstart = (rr.random((batch_size, 2)) * (np.maximum(rlen - need, 0) + 1)).astype(np.int64)
            first = np.where(is_real, real.offsets[rspk] + rstart, first)
            avail = np.where(is_real, rlen - rstart, avail)
        out = self._gather(first, avail, speed, n, is_real)
        if self.reverb > 0:  # own generator too
            rv = np.random.default_rng([int(seed), int(step), 0x4EB])
            rows = np.flatnonzero(rv.random(batch_size) < self.reverb)
            room = rv.integers(0, self.rirs.shape[0], size=batch_size)[rows]
            swap = torch.from_numpy(rv.random(batch_size)[rows] < 0.5)  # which talker is which source
            if len(rows):
                h = self.rirs[torch.from_numpy(room)]
                h = torch.where(swap[:, None, None], h.flip(1), h)
                idx = torch.from_numpy(rows)
                out[idx] = reverberate(out[idx], h)
        if aug is not None:
            out = augment_sources(out, self.sample_rate, rng, aug)
        out = out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-6)
        rel = torch.from_numpy(rng.uniform(-self.level_db, self.level_db, size=batch_size).astype(np.float32))
        out = out * (UTTERANCE_RMS * torch.stack([10 ** (rel / 40), 10 ** (-rel / 40)], 1))[:, :, None]
        mix = out.sum(1)
        if aug is not None:
            mix, out = _noise_and_gain(mix, out, rng, aug)
        return mix.contiguous(), out.contiguous()

    def _gather(self, first: np.ndarray, avail: np.ndarray, speed: np.ndarray, n: int,
                is_real: np.ndarray | None = None) -> Tensor:
        """Crops ``[batch, 2, n]`` read at ``first + t * speed`` (linear interpolation), zero
        past the end of each utterance; ``first`` indexes the real pool where ``is_real``.
        Windows are copied out of the pool first, so the interpolation works on a small buffer."""
        pools = (self.pool.audio, self.real.audio if self.real is not None else None)
        bsz = first.shape[0]
        width = int(np.ceil((n - 1) * speed.max())) + 2
        take = np.minimum(avail, width)  # samples of each utterance inside the window
        buf = np.zeros((bsz, 2, width + 1), np.float32)
        for b in range(bsz):
            for k in range(2):
                audio = pools[1] if is_real is not None and is_real[b, k] else pools[0]
                buf[b, k, : take[b, k]] = audio[first[b, k]: first[b, k] + take[b, k]]
        if (speed == 1.0).all():
            return torch.from_numpy(buf[:, :, :n].copy())
        pos = torch.arange(n, dtype=torch.float64)[None] * torch.from_numpy(speed.reshape(bsz * 2, 1))
        i0 = pos.long()
        frac = (pos - i0).float()
        flat = torch.from_numpy(buf.reshape(bsz * 2, -1))
        a = torch.gather(flat, 1, i0)
        c = torch.gather(flat, 1, i0 + 1)
        return (a + (c - a) * frac).reshape(bsz, 2, n)


def _noise_and_gain(mix: Tensor, sources: Tensor, rng: np.random.Generator,
                    aug: AugmentConfig) -> tuple[Tensor, Tensor]:
    """Low-level noise on the mixture only (``mix [batch, time]``), then a random overall gain
    on mixture and ``sources [batch, n_src, time]`` alike, kept below full scale."""
    b, n = mix.shape
    has_noise = rng.random(b) < aug.noise_prob
    snr = rng.uniform(aug.noise_snr_db[0], aug.noise_snr_db[1], size=b)
    tilt = rng.uniform(-1.0, 1.0, size=b)  # 0 white, < 0 darker (pinkish), > 0 brighter
    gain_db = rng.uniform(-aug.gain_db, aug.gain_db, size=b)
    noise_seed = int(rng.integers(0, 2**62))
    if has_noise.any():
        gen = torch.Generator().manual_seed(noise_seed)
        n_freq = n // 2 + 1
        spec = torch.randn(b, n_freq, 2, generator=gen)
        f = torch.linspace(1.0 / n_freq, 1.0, n_freq, dtype=torch.float64)
        shape = f[None] ** (0.5 * torch.from_numpy(tilt)[:, None])
        noise = torch.fft.irfft(torch.view_as_complex(spec) * shape.float(), n=n, dim=-1)
        mix_rms = mix.pow(2).mean(-1).sqrt()
        noise_rms = noise.pow(2).mean(-1).sqrt().clamp_min(1e-12)
        scale = torch.from_numpy(np.where(has_noise, 10 ** (-snr / 20), 0.0).astype(np.float32))
        mix = mix + noise * (scale * mix_rms / noise_rms)[:, None]
    g = torch.from_numpy((10 ** (gain_db / 20)).astype(np.float32))
    peak = torch.maximum(mix.abs().amax(-1), sources.abs().amax((-2, -1))).clamp_min(1e-8)
    g = torch.minimum(g, 0.99 / peak)
    return mix * g[:, None], sources * g[:, None, None]


# --------------------------------------------------------------------------------------------
# Cache and builder


def _versions() -> dict[str, str]:
    import scipy

    try:
        import wordfreq  # noqa: F401
        from importlib.metadata import version

        wf = version("wordfreq")
    except ImportError:
        raise SeparenaError(
            "espeak-2mix: the Python package wordfreq is not installed; expected it for the text "
            "(pip install wordfreq)"
        ) from None
    return {"generator": GENERATOR_VERSION, "wordfreq": wf, "numpy": np.__version__,
            "scipy": scipy.__version__}


def _content_hash(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _build(final: Path, params: dict, speakers: list[Speaker], workers: int) -> None:
    """Synthesise every speaker and write the fixed valid/test mixtures into ``final``."""
    t0 = time.perf_counter()
    sr = params["sample_rate"]
    log.info("espeak-2mix: building %d speakers into %s", len(speakers), final)
    with atomic_dir(final) as tmp:
        text_rngs = {s.id: np.random.default_rng([params["seed"], 2, i]) for i, s in enumerate(speakers)}
        vocabs = {lang: _vocabulary(lang) for lang in sorted({s.text_language for s in speakers})}
        jobs = []
        for s in speakers:
            rng = text_rngs[s.id]
            texts = [_sentences(rng, vocabs[s.text_language], int(rng.integers(params["sentences_min"],
                                                                                 params["sentences_max"] + 1)))
                     for _ in range(params["utterances_per_speaker"])]
            jobs.append((s, texts))
        lengths: dict[str, list[int]] = {}
        with progress_bar(transient=False) as progress, ThreadPoolExecutor(max_workers=max(1, workers)) as pool:
            task = progress.add_task("espeak-2mix: synthesising speakers", total=len(jobs))
            futures = {
                s.id: pool.submit(_build_speaker, s, texts, sr, tmp / "speakers" / s.split / f"{s.id}.wav")
                for s, texts in jobs
            }
            try:
                for sid, fut in futures.items():
                    lengths[sid] = fut.result()
                    progress.advance(task)
            except BaseException:
                pool.shutdown(wait=True, cancel_futures=True)
                raise
            for salt, split, n in ((1, "valid", params["n_valid"]), (2, "test", params["n_test"])):
                pool_ = _load_pool(tmp, split, speakers, lengths, sr)
                task = progress.add_task(f"espeak-2mix: writing {split} mixtures", total=n)
                for ex in _fixed_mixtures(pool_, n, params["test_seconds"], sr, params["seed"], salt):
                    write_mixture_folder(tmp, split, [ex], sr)
                    progress.advance(task)
        seconds = time.perf_counter() - t0
        meta = {"params": params, "speakers": [asdict(s) for s in speakers], "lengths": lengths,
                "build_seconds": round(seconds, 2)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("espeak-2mix: built %s in %.1f s", final.name, seconds)


def _warm_real_cache(sample_rate: int, cache_dir: str | None, pool: bool, dev: bool) -> subprocess.Popen | None:
    """Start a background process that builds the cached real-speech pool (and real-dev)
    when they are needed and not cached yet; ``None`` otherwise. It only fills the cache: the
    builder reads the cache afterwards and raises any error itself."""
    if not pool:
        return None
    import sys

    from . import real

    try:
        files = real._catalogue(Path("/"))
    except SeparenaError:
        return None  # the later call raises the one-line error naming the packages
    cache = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    if (cache / f"real-speech-{real._pool_hash(files, sample_rate)}" / "meta.json").is_file():
        return None
    code = (INTERRUPTIBLE + "import sys; from pathlib import Path; from separena.data import real; "
            "sr, cache, dev = int(sys.argv[1]), sys.argv[2] or None, sys.argv[3] == '1'; "
            "real._pool_dir(sr, cache, Path('/'), 2); "
            "dev and real.build_real_dev(sample_rate=sr, cache_dir=cache)")
    return subprocess.Popen([sys.executable, "-c", code, str(sample_rate), str(cache_dir or ""), "1" if dev else "0"],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# A process started with SIGINT ignored (`cmd &` in a non-interactive shell, nohup) passes that on
# to its children, and Python then leaves SIGINT ignored: the warmer restores Ctrl-C first, so
# that _stop's SIGINT reaches it and it removes its temporary folder.
INTERRUPTIBLE = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
STOP_GRACE_SECONDS = 5.0  # how long _stop waits after SIGINT, then after SIGTERM


def _join(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with progress_bar(transient=False) as progress:
        progress.add_task("real speech: decoding the Debian packages (background)", total=None)
        proc.wait()


def _stop(proc: subprocess.Popen | None) -> None:
    """Interrupt a still-running cache warmer (it removes its temporary folder) and reap it:
    SIGINT, then SIGTERM, then SIGKILL, :data:`STOP_GRACE_SECONDS` apart."""
    if proc is None or proc.poll() is not None:
        return
    import signal

    for send in (lambda: proc.send_signal(signal.SIGINT), proc.terminate):
        send()
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


def espeak_2mix(*, seed: int = 0, sample_rate: int = 8000, n_train_speakers: int = 600,
                n_valid_speakers: int = 24, n_test_speakers: int = 48, utterances_per_speaker: int = 5,
                sentences_min: int = 2, sentences_max: int = 3, n_valid: int = 100, n_test: int = 200,
                test_seconds: float = 4.0, n_valid_variants: int = 6, n_test_variants: int = 16,
                n_valid_languages: int = 4, n_test_languages: int = 8, formant_shift: float = 0.10,
                augment: bool = True, speed: float = 0.10, eq: float = 0.8, band_limit: float = 0.4,
                noise: float = 0.5, gain_db: float = 6.0, level_db: float = LEVEL_DB,
                reverb: float = DEFAULT_REVERB, real_fraction: float = DEFAULT_REAL_FRACTION,
                real_dev: bool = True, cache_dir: str | None = None, workers: int = 2) -> SeparationData:
    """2-speaker mixtures of synthetic eSpeak NG speakers, disjoint across splits.

    Args:
        seed: everything (speakers, text, held-out voices, evaluation mixtures) follows from it.
        sample_rate: Hz of every waveform.
        n_train_speakers, n_valid_speakers, n_test_speakers: speakers per split.
        utterances_per_speaker: utterances of each speaker, each of ``sentences_min`` to
            ``sentences_max`` sentences (about 3-4 s per sentence).
        n_valid, n_test: fixed evaluation mixtures, ``test_seconds`` long each.
        n_valid_variants, n_test_variants: voice variants held out for valid / test speakers.
        n_valid_languages, n_test_languages: languages held out for valid / test; half of the
            speakers of those splits speak them, the other half training languages.
        formant_shift: frequencies of each speaker scaled by a factor uniform in ``1 +- shift``.
        augment: augment training batches (speed, EQ, band limits, noise, gain, as set by the
            next five arguments); ``False`` turns all five off.
        speed: each training source resampled by a factor uniform in ``1 +- speed``.
        eq: probability of a smooth random EQ (+-6 dB, 6 bands) on each training source.
        band_limit: probability of a random low-pass (1.8-3.8 kHz) and, independently, of a
            random high-pass (60-400 Hz) on each training source.
        noise: probability of low-level noise (20-45 dB SNR) on each training mixture.
        gain_db: overall gain of each training mixture uniform in ``+-gain_db``.
        level_db: relative level of the two training sources uniform in ``+-level_db`` (the
            evaluation sets keep +-2.5 dB).
        reverb: probability that a training mixture is reverberated: both sources convolved
            with the two RIRs of a random shoebox room of a cached bank of 100 rooms; the
            reference is the reverberant source. Needs ``pyroomacoustics``.
        real_fraction: probability that each training source is a real recorded speaker of
            :func:`separena.data.real.real_speech_pool` ``("train")`` instead of an eSpeak one.
        real_dev: report the real recorded ``real-dev`` mixtures (:func:`separena.data.real.real_dev`)
            as the extra test set ``"real-dev"``.
        cache_dir: where generated audio is kept (default ``$SEPARENA_CACHE`` or
            ``~/.cache/separena``).
        workers: eSpeak NG processes run at once while building (does not change the data).

    Returns:
        :class:`SeparationData` named ``espeak-2mix@<hash>`` (``+noaug`` without augmentation;
        the hash covers the audio and every training-stream option), with ``train`` an
        :class:`EspeakTrainStream`, ``valid``/``test`` read from the cache in the wsj0-2mix
        layout, and ``extra_tests={"real-dev": ...}`` unless ``real_dev=False``.

    Raises:
        SeparenaError: a bad parameter, eSpeak NG or wordfreq missing, or (with
            ``real_fraction > 0`` or ``real_dev``) the Debian packages of real speech missing
            (the message names them and the apt command).
    """
    params = {
        "seed": int(seed), "sample_rate": int(sample_rate), "n_train_speakers": int(n_train_speakers),
        "n_valid_speakers": int(n_valid_speakers), "n_test_speakers": int(n_test_speakers),
        "utterances_per_speaker": int(utterances_per_speaker), "sentences_min": int(sentences_min),
        "sentences_max": int(sentences_max), "n_valid": int(n_valid), "n_test": int(n_test),
        "test_seconds": float(test_seconds), "n_valid_variants": int(n_valid_variants),
        "n_test_variants": int(n_test_variants), "n_valid_languages": int(n_valid_languages),
        "n_test_languages": int(n_test_languages), "formant_shift": float(formant_shift),
    }
    _check_params(params)
    stream = {"augment": bool(augment), "speed": float(speed), "eq": float(eq), "band_limit": float(band_limit),
              "noise": float(noise), "gain_db": float(gain_db), "level_db": float(level_db),
              "reverb": float(reverb), "real_fraction": float(real_fraction), "real_dev": bool(real_dev)}
    _check_stream(stream)
    version, languages, variants = espeak_inventory()
    versions = {**_versions(), "espeak-ng": version}
    import wordfreq

    text_langs = set(wordfreq.available_languages(wordlist="small"))
    speakers = _plan(params, languages, variants, text_langs)
    digest = _content_hash({"params": params, "versions": versions, "languages": languages,
                            "variants": variants, "text_languages": sorted(text_langs)})
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    final = root / f"espeak-2mix-{digest[:16]}"
    if not (final / "meta.json").is_file():
        # decode the real recordings (one core: it is GIL-bound) while eSpeak NG synthesises
        warm = _warm_real_cache(sample_rate, cache_dir, real_fraction > 0 or real_dev, real_dev)
        try:
            _build(final, params, speakers, workers)
            _join(warm)
        finally:
            _stop(warm)
    else:
        log.info("espeak-2mix: using cached %s", final)
    meta = json.loads((final / "meta.json").read_text())
    cached = [Speaker(**d) for d in meta["speakers"]]
    train_pool = _load_pool(final, "train", cached, meta["lengths"], sample_rate)
    extra: dict = {}
    real_pool, rirs, signature = None, None, dict(stream)
    if real_fraction > 0:
        from . import real as real_mod

        utts = real_mod.real_speech_pool("train", sample_rate, cache_dir, workers=workers)
        real_pool = _real_pool(utts, sample_rate, params["seed"])
        del utts
        signature["real_pool"] = [real_mod.GENERATOR_VERSION, real_pool.speakers, int(real_pool.lengths.sum())]
    if reverb > 0:
        rirs = rir_bank(params["seed"], sample_rate, root)
        signature["rir_bank"] = [asdict(RirBankConfig()), float(rirs.double().abs().sum())]
    if real_dev:
        from .real import real_dev as real_dev_set

        extra["real-dev"] = real_dev_set(sample_rate=sample_rate, cache_dir=cache_dir)
    train = train_stream(train_pool, sample_rate, stream, real_pool, rirs)
    valid = MixtureFolder(final, "valid", sample_rate, 2, mix_from_sources=True)
    test = MixtureFolder(final, "test", sample_rate, 2, mix_from_sources=True)
    name_hash = _content_hash({"audio": digest, "stream": signature})
    name = f"espeak-2mix@{name_hash[:8]}" + ("" if augment else "+noaug")
    return SeparationData(name=name, sample_rate=sample_rate, n_src=2, train=train, valid=valid, test=test,
                          extra_tests=extra)


def train_stream(pool: _Pool, sample_rate: int, stream: dict, real_pool: _Pool | None = None,
                 rirs: Tensor | None = None) -> EspeakTrainStream:
    """The training stream of ``espeak_2mix`` for the stream options ``stream`` (its keyword
    arguments ``augment, speed, eq, band_limit, noise, gain_db, level_db, reverb,
    real_fraction``), over ``pool`` and, where used, the real pool and the RIR bank."""
    aug = AugmentConfig(speed=float(stream["speed"]), eq_prob=float(stream["eq"]),
                        lowpass_prob=float(stream["band_limit"]), highpass_prob=float(stream["band_limit"]),
                        noise_prob=float(stream["noise"]), gain_db=float(stream["gain_db"])) \
        if stream["augment"] else None
    return EspeakTrainStream(pool, sample_rate, aug, real=real_pool, real_fraction=stream["real_fraction"],
                             rirs=rirs, reverb=stream["reverb"], level_db=stream["level_db"])


def _check_stream(p: dict) -> None:
    def need(ok: bool, what: str, expected: str) -> None:
        if not ok:
            raise SeparenaError(f"espeak-2mix: bad {what}; expected {expected}, got {p[what]!r}")

    for k in ("eq", "band_limit", "noise", "reverb", "real_fraction"):
        need(0.0 <= p[k] <= 1.0, k, "a probability in [0, 1]")
    need(0.0 <= p["speed"] < 0.5, "speed", "in [0, 0.5)")
    need(p["gain_db"] >= 0, "gain_db", ">= 0 dB")
    need(p["level_db"] >= 0, "level_db", ">= 0 dB")


def _check_params(p: dict) -> None:
    def need(ok: bool, what: str, expected: str, got: object) -> None:
        if not ok:
            raise SeparenaError(f"espeak-2mix: bad {what}; expected {expected}, got {got!r}")

    need(p["sample_rate"] >= 4000, "sample_rate", ">= 4000 Hz", p["sample_rate"])
    need(p["n_train_speakers"] >= 2, "n_train_speakers", ">= 2", p["n_train_speakers"])
    need(p["n_valid_speakers"] >= 2, "n_valid_speakers", ">= 2", p["n_valid_speakers"])
    need(p["n_test_speakers"] >= 2, "n_test_speakers", ">= 2", p["n_test_speakers"])
    need(p["utterances_per_speaker"] >= 1, "utterances_per_speaker", ">= 1", p["utterances_per_speaker"])
    need(1 <= p["sentences_min"] <= p["sentences_max"], "sentences_min/max", "1 <= min <= max",
         (p["sentences_min"], p["sentences_max"]))
    need(p["n_valid"] >= 1 and p["n_test"] >= 1, "n_valid/n_test", ">= 1", (p["n_valid"], p["n_test"]))
    need(p["test_seconds"] > 0, "test_seconds", "> 0", p["test_seconds"])
    need(0 <= p["formant_shift"] < 0.5, "formant_shift", "in [0, 0.5)", p["formant_shift"])
    for k in ("n_valid_variants", "n_test_variants"):
        need(p[k] >= 1, k, ">= 1 (held-out variants keep splits disjoint)", p[k])
    for k in ("n_valid_languages", "n_test_languages"):
        need(p[k] >= 0, k, ">= 0", p[k])
