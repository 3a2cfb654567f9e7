"""Fresh training mixtures of distinct speakers from utterance pools, a pure function of ``(seed, step)``.

The training stream of ``espeak-2mix`` and ``espeak-3mix`` (eSpeak NG speakers, with real
recorded speakers mixed in) and of ``real-dev`` (real recorded speakers only): see
:class:`SpeakerMixtureStream`.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from ..errors import SeparenaError
from .augment import AugmentConfig, augment_sources, noise_and_gain
from .channel import compress
from .pitch import semitones
from .pool import LEVEL_DB, UTTERANCE_RMS, UtterancePool, distinct_speakers, source_levels_db
from .reverb import reverberate

__all__ = ["SpeakerMixtureStream"]


class SpeakerMixtureStream:
    """Fresh training mixtures of ``n_src`` speakers, a pure function of ``(seed, step)``.

    Each item draws ``n_src`` distinct training speakers, one utterance of each and a random crop of
    it. With ``real`` and ``real_fraction > 0`` each source is instead, with probability
    ``real_fraction``, a random crop of a real recorded training speaker (the real sources of
    one item are distinct speakers); likewise, with ``tts`` and ``tts_fraction > 0``, a source
    is with probability ``tts_fraction`` a crop of a Flite/Festival speaker
    (:mod:`separena.data.tts`; ``real_fraction + tts_fraction <= 1``). With ``rirs`` and
    ``reverb > 0`` (two speakers only) each item is, with probability ``reverb``, placed in a room
    of the bank: both sources convolved with the room's two RIRs (the reference is the
    reverberant source). With ``pitch_matched > 0`` an item is, with that probability, made of
    voices close in pitch: each source after the first is redrawn among the speakers of its pool
    whose pitch (``pitches``: Hz per speaker of the eSpeak, real and tts pools, from
    :func:`~separena.data.pitch.speaker_pitches`) lies within ``pitch_gap`` semitones of the
    first source's (it stays as drawn where no such speaker is left). Then it optionally augments
    each source (``augment``: random speed, EQ, band limits, see :mod:`separena.data.augment`),
    normalises each source and sets their levels (:func:`~separena.data.pool.source_levels_db`:
    two sources differ by up to ``+-level_db``), sums them, and with augmentation adds low-level
    noise to the mixture only and a random overall gain. The real, reverb and pitch choices come
    from random generators of their own, so with ``real_fraction=0``, ``tts_fraction=0``,
    ``reverb=0`` and ``pitch_matched=0`` the stream is exactly the stream of ``pool`` alone (and
    adding ``tts`` leaves the real draws as they were).

    ``batch`` returns ``(mix [batch, time], sources [batch, n_src, time])`` float32, on the CPU or,
    for the stream :meth:`to` gives, built on that device from pools held in its memory (the
    random draws stay on the CPU's generators: the same numbers on any device, up to the
    device's floating-point rounding).
    """

    def __init__(self, pool: UtterancePool, sample_rate: int, augment: AugmentConfig | None, *,
                 real: UtterancePool | None = None, real_fraction: float = 0.0, rirs: Tensor | None = None,
                 reverb: float = 0.0, level_db: float = LEVEL_DB, tts: UtterancePool | None = None,
                 tts_fraction: float = 0.0, n_src: int = 2, pitch_matched: float = 0.0, pitch_gap: float = 3.0,
                 pitches: Sequence[np.ndarray | None] = ()) -> None:
        self.pool, self.sample_rate, self.augment, self.n_src = pool, sample_rate, augment, int(n_src)
        self.real, self.real_fraction = real, float(real_fraction) if real is not None else 0.0
        self.tts, self.tts_fraction = tts, float(tts_fraction) if tts is not None else 0.0
        if self.real_fraction + self.tts_fraction > 1.0 + 1e-9:
            raise SeparenaError(f"speaker stream: real_fraction + tts_fraction = "
                                f"{self.real_fraction + self.tts_fraction}; expected at most 1")
        self.rirs, self.reverb = rirs, float(reverb) if rirs is not None else 0.0
        self.level_db = float(level_db)
        self.pitch_matched, self.pitch_gap = float(pitch_matched), float(pitch_gap)
        self.pitches = tuple(None if p is None else np.asarray(p, float) for p in pitches)
        if self.pitch_matched > 0:
            counts = (len(pool.speakers), len(real.lengths) if real is not None else 0,
                      len(tts.lengths) if tts is not None else 0)
            in_use = (True, self.real_fraction > 0, self.tts_fraction > 0)
            for kind, name in enumerate(("eSpeak", "real", "tts")):
                got = self.pitches[kind] if kind < len(self.pitches) else None
                if in_use[kind] and (got is None or len(got) != counts[kind]):
                    raise SeparenaError(f"speaker stream: pitch_matched needs the pitch of each of the {counts[kind]} "
                                        f"speakers of the {name} pool; got {'none' if got is None else len(got)}")
        if self.n_src < 1:
            raise SeparenaError(f"speaker stream: bad n_src; expected >= 1 speaker per mixture, got {n_src}")
        if self.reverb > 0 and self.n_src != 2:
            raise SeparenaError(f"speaker stream: reverb={reverb} places two talkers in a room; expected reverb=0 "
                                f"with n_src={self.n_src}")
        if len(pool.speakers) < self.n_src or (np.diff(pool.speaker_of) < 0).any():
            raise SeparenaError(f"speaker stream: the pool needs >= {self.n_src} speakers, utterances grouped by "
                                f"speaker; got {len(pool.speakers)} speakers")
        for name, extra in (("real", real), ("tts", tts)):
            if extra is not None and len(extra.lengths) < self.n_src:
                raise SeparenaError(f"speaker stream: the {name} pool needs >= {self.n_src} speakers, got "
                                    f"{len(extra.lengths)}")
        # utterances of speaker s are first_utt[s] .. first_utt[s + 1] - 1
        self._first_utt = np.searchsorted(pool.speaker_of, np.arange(len(pool.speakers) + 1)).astype(np.int64)
        self.audio = torch.from_numpy(pool.audio)
        self.device = torch.device("cpu")
        self._on_device: tuple[Tensor, np.ndarray] | None = None  # (every pool joined, where each starts)

    def to(self, device: str | torch.device) -> SpeakerMixtureStream:
        """This stream building its batches on ``device``: the eSpeak, real and tts pools joined
        into one tensor there (and the room bank), so that a batch is a few gathers and FFTs on
        the device rather than work for the CPU. The CPU's stream is ``self``."""
        device = torch.device(device)
        return self if device == self.device else self._joined_on(device)

    def _joined_on(self, device: torch.device) -> SpeakerMixtureStream:
        other = copy.copy(self)
        pools = [p.audio for p in (self.pool, self.real, self.tts) if p is not None]
        starts = np.cumsum([0] + [len(p.audio) if p is not None else 0 for p in (self.pool, self.real)])
        joined = torch.cat([torch.as_tensor(a, dtype=torch.float32) for a in pools]).to(device)
        other.device, other._on_device = device, (joined, starts.astype(np.int64))
        if self.rirs is not None:
            other.rirs = self.rirs.to(device)
        return other

    @property
    def n_speakers(self) -> int:
        return len(self.pool.speakers)

    @property
    def minutes(self) -> float:
        """Minutes of training speech in the pool."""
        return len(self.pool.audio) / self.sample_rate / 60

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([int(seed), int(step), 0xE5EA])
        aug, pool, n, k = self.augment, self.pool, segment_samples, self.n_src
        n_spk = len(self._first_utt) - 1
        # distinct speakers per item, one utterance of each, a crop start in it
        spk = distinct_speakers(rng, n_spk, batch_size, k)  # [batch, n_src]
        count = self._first_utt[spk + 1] - self._first_utt[spk]
        utt = self._first_utt[spk] + (rng.random((batch_size, k)) * count).astype(np.int64)
        speed_range = aug.speed if aug is not None else 0.0
        speed = rng.uniform(1 - speed_range, 1 + speed_range, size=(batch_size, k)) if speed_range > 0 \
            else np.ones((batch_size, k))
        need = np.ceil((n - 1) * speed).astype(np.int64) + 1
        ulen = pool.lengths[utt]
        start = (rng.random((batch_size, k)) * (np.maximum(ulen - need, 0) + 1)).astype(np.int64)
        first, avail = pool.offsets[utt] + start, ulen - start
        source = np.zeros((batch_size, k), np.int64)  # 0: eSpeak, 1: real, 2: tts (index into self._pools)
        speaker = spk.copy()  # in the pool of its source
        free = np.ones((batch_size, k), bool)
        for kind, extra, fraction, salt in ((1, self.real, self.real_fraction, 0x4EA1),
                                            (2, self.tts, self.tts_fraction, 0x7755)):
            if fraction <= 0:
                continue
            # own generator: the draws before stay as they were; ``fraction`` of all sources
            rr = np.random.default_rng([int(seed), int(step), salt])
            share = fraction / max(1.0 - (self.real_fraction if kind == 2 else 0.0), 1e-12)
            chosen = free & (rr.random((batch_size, k)) < share)
            rspk = distinct_speakers(rr, len(extra.lengths), batch_size, k)
            rlen = extra.lengths[rspk]
            rstart = (rr.random((batch_size, k)) * (np.maximum(rlen - need, 0) + 1)).astype(np.int64)
            first = np.where(chosen, extra.offsets[rspk] + rstart, first)
            avail = np.where(chosen, rlen - rstart, avail)
            speaker = np.where(chosen, rspk, speaker)
            source[chosen], free = kind, free & ~chosen
        if self.pitch_matched > 0:
            self._match_pitch(np.random.default_rng([int(seed), int(step), 0x917C]), source, speaker, first, avail,
                              need)
        out = self._gather(first, avail, speed, n, source)
        dev = out.device
        if self.reverb > 0:  # own generator too
            rv = np.random.default_rng([int(seed), int(step), 0x4EB])
            rows = np.flatnonzero(rv.random(batch_size) < self.reverb)
            room = rv.integers(0, self.rirs.shape[0], size=batch_size)[rows]
            swap = torch.from_numpy(rv.random(batch_size)[rows] < 0.5).to(dev)  # which talker is which source
            if len(rows):
                h = self.rirs[torch.from_numpy(room).to(dev)]
                h = torch.where(swap[:, None, None], h.flip(1), h)
                idx = torch.from_numpy(rows).to(dev)
                out[idx] = reverberate(out[idx], h)
        if aug is not None:
            out = augment_sources(out, self.sample_rate, rng, aug)
            if aug.compression > 0:  # own generator: the other draws stay as they were
                out = compress(out, self.sample_rate, np.random.default_rng([int(seed), int(step), 0xC0A1]),
                               aug.compression)
        out = out / out.pow(2).mean(-1, keepdim=True).sqrt().clamp_min(1e-6)
        level = torch.from_numpy(source_levels_db(rng, k, self.level_db, batch_size).astype(np.float32)).to(dev)
        out = out * (UTTERANCE_RMS * 10 ** (level / 20))[:, :, None]
        mix = out.sum(1)
        if aug is not None:
            mix, out = noise_and_gain(mix, out, rng, aug)
        return mix.contiguous(), out.contiguous()

    def _match_pitch(self, rng: np.random.Generator, source: np.ndarray, speaker: np.ndarray, first: np.ndarray,
                     avail: np.ndarray, need: np.ndarray) -> None:
        """Redraw, in place, the sources after the first of ``pitch_matched`` of the items among
        the speakers of their pool within ``pitch_gap`` semitones of the first source's pitch
        (other than the item's others), with a new utterance and crop."""
        batch, k = source.shape
        rows = np.flatnonzero(rng.random(batch) < self.pitch_matched)
        draws = rng.random((batch, k, 3))  # speaker, utterance, crop start: fixed shape, so rows do not shift them
        pools = (self.pool, self.real, self.tts)
        for b in rows:
            target = self.pitches[source[b, 0]][speaker[b, 0]]
            for j in range(1, k):
                kind = source[b, j]
                near = semitones(self.pitches[kind], target) < self.pitch_gap  # NaN (unvoiced) is never near
                near[speaker[b][source[b] == kind]] = False  # the item's voices stay distinct
                candidates = np.flatnonzero(near)
                if not len(candidates):
                    continue
                s = int(candidates[int(draws[b, j, 0] * len(candidates))])
                if kind == 0:  # an eSpeak speaker: one of its utterances
                    u = self._first_utt[s] + int(draws[b, j, 1] * (self._first_utt[s + 1] - self._first_utt[s]))
                else:  # a real or tts speaker: its one joined recording
                    u = s
                length = int(pools[kind].lengths[u])
                start = int(draws[b, j, 2] * (max(length - int(need[b, j]), 0) + 1))
                first[b, j], avail[b, j], speaker[b, j] = pools[kind].offsets[u] + start, length - start, s

    def _gather(self, first: np.ndarray, avail: np.ndarray, speed: np.ndarray, n: int,
                source: np.ndarray | None = None) -> Tensor:
        """Crops ``[batch, n_src, n]`` read at ``first + t * speed`` (linear interpolation), zero
        past the end of each utterance; ``first`` indexes the eSpeak, real or tts pool as
        ``source`` says (0, 1, 2; all eSpeak when ``None``). Windows are copied out of the pool
        first, so the interpolation works on a small buffer."""
        bsz = first.shape[0]
        width = int(np.ceil((n - 1) * speed.max())) + 2
        take = np.minimum(avail, width)  # samples of each utterance inside the window
        if self._on_device is not None:
            joined, starts = self._on_device
            dev = joined.device
            begin = torch.from_numpy(first + (starts[source] if source is not None else 0)).to(dev)
            j = torch.arange(width + 1, device=dev)
            inside = j < torch.from_numpy(take).to(dev)[..., None]
            index = (begin[..., None] + j).clamp_(max=len(joined) - 1)
            buf_t = torch.where(inside, joined[index], 0.0)
            if (speed == 1.0).all():
                return buf_t[:, :, :n].contiguous()
            flat = buf_t.reshape(bsz * self.n_src, -1)
        else:
            pools = tuple(p.audio if p is not None else None for p in (self.pool, self.real, self.tts))
            dev = torch.device("cpu")
            buf = np.zeros((bsz, self.n_src, width + 1), np.float32)
            for b in range(bsz):
                for k in range(self.n_src):
                    audio = pools[source[b, k]] if source is not None else pools[0]
                    buf[b, k, : take[b, k]] = audio[first[b, k]: first[b, k] + take[b, k]]
            if (speed == 1.0).all():
                return torch.from_numpy(buf[:, :, :n].copy())
            flat = torch.from_numpy(buf.reshape(bsz * self.n_src, -1))
        pos = torch.arange(n, dtype=torch.float64, device=dev)[None] * \
            torch.from_numpy(speed.reshape(bsz * self.n_src, 1)).to(dev)
        i0 = pos.long()
        frac = (pos - i0).float()
        a = torch.gather(flat, 1, i0)
        c = torch.gather(flat, 1, i0 + 1)
        return (a + (c - a) * frac).reshape(bsz, self.n_src, n)
