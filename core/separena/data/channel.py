"""Recording channels of training speech: lossy codecs and dynamic-range compression.

Held-out recordings differ from the training speech by channel as much as by voice: telephone
coding (GSM, G.711 mu-law and A-law, G.726 ADPCM), low bit-rate MP3, Opus and Vorbis (the game
and desktop packages ship Ogg files), and mastering with a compressor.

A codec is a property of a recording, so :func:`coded_pool` gives each utterance of a pool,
with probability ``prob``, one codec of :data:`CODECS` (a seeded draw) and replaces it in place
by its decoded version: the reference of a training source is then the coded source, as a
reverberant source is the reference under reverberation. ``ffmpeg`` codes all utterances of a
codec in one call (each process start costs ~0.3 s); the coded utterances are cached as 16-bit
PCM beside the other generated data, keyed by the pool's content and the codec table.

:func:`compress` is a feed-forward compressor applied per training crop (cheap in torch).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import SeparenaError
from ..progress import progress_bar
from .audio import read_wav, write_wav
from .cache import atomic_dir, default_cache_dir
from .pool import UtterancePool

__all__ = ["Codec", "CODECS", "code_signal", "coded_pool", "compress", "CHANNEL_VERSION"]

CHANNEL_VERSION = "channel/1"  # bump to rebuild every cached coded pool
GAP_SECONDS = 0.05  # silence between utterances coded together: no codec frame spans two
MAX_LAG_SECONDS = 0.25  # codec delays searched for when aligning the decoded signal


@dataclass(frozen=True)
class Codec:
    """One lossy channel: ffmpeg encoder options ``encode`` into container ``container``, run at
    ``rate`` Hz (``None``: the pool's rate; telephone codecs are 8 kHz narrowband)."""

    name: str
    encode: tuple[str, ...]
    container: str
    rate: int | None = None


CODECS: tuple[Codec, ...] = (
    Codec("gsm", ("-c:a", "libgsm"), "gsm", 8000),
    Codec("mulaw", ("-c:a", "pcm_mulaw"), "mulaw", 8000),
    Codec("alaw", ("-c:a", "pcm_alaw"), "alaw", 8000),
    Codec("g726-16k", ("-c:a", "g726", "-b:a", "16k"), "wav", 8000),
    Codec("mp3-16k", ("-c:a", "libmp3lame", "-b:a", "16k"), "mp3"),
    Codec("opus-8k", ("-c:a", "libopus", "-b:a", "8k"), "ogg"),
    Codec("opus-16k", ("-c:a", "libopus", "-b:a", "16k"), "ogg"),
    Codec("vorbis-q0", ("-c:a", "libvorbis", "-q:a", "0"), "ogg"),
)
_RAW = {"gsm", "mulaw", "alaw"}  # containers without a header: the decoder is told the rate


def _ffmpeg(args: list[str], data: bytes, what: str) -> bytes:
    try:
        res = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", *args], input=data, capture_output=True,
                             check=True, timeout=600)
    except FileNotFoundError:
        raise SeparenaError("channel: ffmpeg not found on PATH; install the Debian package ffmpeg") from None
    except subprocess.CalledProcessError as exc:
        msg = exc.stderr.decode(errors="replace").strip().splitlines()
        raise SeparenaError(f"channel: ffmpeg failed to {what}: {msg[-1] if msg else exc.returncode}") from None
    return res.stdout


def code_signal(x: np.ndarray, sample_rate: int, codec: Codec) -> np.ndarray:
    """``x [time]`` float32 through ``codec`` and back: same rate, same length, aligned (the
    codec's delay removed by cross-correlation)."""
    rate = codec.rate or sample_rate
    x = np.ascontiguousarray(x, dtype=np.float32)
    coded = _ffmpeg(["-f", "f32le", "-ar", str(sample_rate), "-ac", "1", "-i", "pipe:0", "-ar", str(rate),
                     *codec.encode, "-f", codec.container, "pipe:1"], x.tobytes(), f"encode {codec.name}")
    raw_in = ["-ar", str(rate)] if codec.container in _RAW else []
    y = np.frombuffer(_ffmpeg(["-f", codec.container, *raw_in, "-i", "pipe:0", "-f", "f32le", "-ac", "1",
                               "-ar", str(sample_rate), "pipe:1"], coded, f"decode {codec.name}"), np.float32)
    max_lag = min(int(MAX_LAG_SECONDS * sample_rate), len(y) // 2)
    probe = x[: min(4 * sample_rate, len(y) - max_lag)]
    lag = 0
    if len(probe) >= sample_rate // 10 and probe.any():
        from scipy.signal import correlate

        lag = int(np.argmax(correlate(y[: len(probe) + max_lag], probe, mode="valid", method="fft")))
    out = np.zeros_like(x)
    take = min(len(x), max(0, len(y) - lag))
    out[:take] = y[lag:lag + take]
    return out


def coded_pool(pool: UtterancePool, sample_rate: int, prob: float, seed: int, key: str,
               cache_dir: str | None = None, codecs: tuple[Codec, ...] = CODECS,
               progress: bool = True) -> UtterancePool:
    """``pool`` with each utterance, with probability ``prob``, replaced *in place* by its coded
    version (one codec of ``codecs`` each, drawn from ``seed``); returns the same pool.

    ``key`` names the pool's content (e.g. its cache folder); the coded utterances are cached
    as ``<cache_dir>/channel-<hash16>.wav`` keyed by it, the draw and the codec table.
    """
    if not 0.0 <= prob <= 1.0:
        raise SeparenaError(f"channel: bad codec probability; expected a value in [0, 1], got {prob!r}")
    if prob == 0 or len(pool.lengths) == 0:
        return pool
    rng = np.random.default_rng([int(seed), 0xC0DE])
    use = rng.random(len(pool.lengths)) < prob
    which = rng.integers(0, len(codecs), size=len(pool.lengths))
    spec = {"version": CHANNEL_VERSION, "key": key, "rate": sample_rate, "prob": prob, "seed": int(seed),
            "codecs": [[c.name, list(c.encode), c.container, c.rate] for c in codecs],
            "lengths": hashlib.sha256(pool.lengths.tobytes()).hexdigest()}
    digest = hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:16]
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    final = root / f"channel-{digest}"
    chosen = np.flatnonzero(use)
    if not (final / "meta.json").is_file():
        with atomic_dir(final) as tmp, progress_bar(progress, transient=False) as bar:
            task = bar.add_task("channel: coding training utterances (ffmpeg)", total=len(codecs))
            coded = np.zeros(int(pool.lengths[chosen].sum()), np.float32)
            at = np.concatenate([[0], np.cumsum(pool.lengths[chosen])]).astype(np.int64)
            gap = np.zeros(int(GAP_SECONDS * sample_rate), np.float32)
            for k, codec in enumerate(codecs):
                rows = np.flatnonzero(which[chosen] == k)
                if len(rows):
                    spans = [(int(pool.offsets[chosen[r]]), int(pool.lengths[chosen[r]])) for r in rows]
                    parts = [x for o, n in spans for x in (pool.audio[o:o + n], gap)]
                    y = code_signal(np.concatenate(parts), sample_rate, codec)
                    pos = 0
                    for r in rows:
                        n = int(pool.lengths[chosen[r]])
                        coded[at[r]:at[r] + n] = y[pos:pos + n]
                        pos += n + len(gap)
                bar.advance(task)
            write_wav(tmp / "coded.wav", np.clip(coded, -1.0, 1.0), sample_rate)
            (tmp / "meta.json").write_text(json.dumps(spec))
    coded = read_wav(final / "coded.wav", sample_rate).numpy().reshape(-1)
    if len(coded) != int(pool.lengths[chosen].sum()):
        raise SeparenaError(f"{final}: cached coded audio has {len(coded)} samples; expected "
                            f"{int(pool.lengths[chosen].sum())}; delete it to rebuild")
    pos = 0
    for u in chosen:
        n = int(pool.lengths[u])
        pool.audio[pool.offsets[u]:pool.offsets[u] + n] = coded[pos:pos + n]
        pos += n
    return pool


def compress(sources: Tensor, sample_rate: int, rng: np.random.Generator, prob: float,
             threshold_db: tuple[float, float] = (-30.0, -10.0), ratio: tuple[float, float] = (2.0, 8.0),
             release_s: tuple[float, float] = (0.03, 0.2)) -> Tensor:
    """A feed-forward compressor on each source of ``sources [batch, n_src, time]`` with
    probability ``prob``: 10-ms RMS frames, gain reduction above a threshold (dB re the crop's
    loudest frame) at a ratio, released with a one-pole smoother, interpolated to samples.
    Threshold, ratio and release are drawn per source. Returns the same shape."""
    b, s, n = sources.shape
    use = rng.random((b, s)) < prob
    thr = rng.uniform(*threshold_db, size=(b, s))
    rat = rng.uniform(*ratio, size=(b, s))
    rel = rng.uniform(*release_s, size=(b, s))
    if not use.any():
        return sources
    from scipy.signal import lfilter

    hop = max(1, sample_rate // 100)
    frames = -(-n // hop)
    x = sources.detach().double().cpu().numpy().reshape(b * s, n)  # scipy's filters: on the CPU
    padded = np.zeros((b * s, frames * hop))
    padded[:, :n] = x
    level = 10 * np.log10((padded.reshape(b * s, frames, hop) ** 2).mean(-1) + 1e-12)
    level -= level.max(-1, keepdims=True)
    over = np.maximum(level - thr.reshape(-1, 1), 0.0)
    reduction = over * (1.0 - 1.0 / rat.reshape(-1, 1))  # dB to take off
    out = x.copy()
    for row in np.flatnonzero(use.reshape(-1)):
        a = np.exp(-hop / (rel.reshape(-1)[row] * sample_rate))
        smooth = lfilter([1.0 - a], [1.0, -a], reduction[row])
        smooth = np.maximum(smooth, reduction[row])  # instant attack, smooth release
        gain_db = np.interp(np.arange(n) / hop - 0.5, np.arange(frames), -smooth)
        out[row] = x[row] * 10 ** (gain_db / 20)
    return torch.from_numpy(out.reshape(b, s, n).astype(np.float32)).to(sources.device)
