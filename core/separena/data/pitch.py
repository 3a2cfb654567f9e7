"""The pitch of a voice: the median F0 of its voiced frames (pYIN), per recording and per speaker.

Mixtures of two voices close in pitch are the hard ones (docs/benchmarks/pitch_gap.md): the
training stream can draw such pairs more often (``pitch_matched`` of ``espeak-2mix``), from
each pool's speaker pitches, measured once and kept in the data cache.
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np

from ..progress import progress_bar
from .pool import UtterancePool

__all__ = ["median_pitch", "semitones", "speaker_pitches", "PITCH_RANGE_HZ"]

PITCH_RANGE_HZ = (60.0, 500.0)  # speech F0 searched by pYIN
SPEAKER_SECONDS = 6.0  # speech per speaker whose pitch is measured (its first utterances)


def median_pitch(wav: np.ndarray, sample_rate: int) -> float:
    """Median F0 in Hz of the voiced frames of ``wav`` ``[time]`` (NaN if none is voiced)."""
    import librosa

    f0, voiced, _ = librosa.pyin(np.asarray(wav, np.float32), fmin=PITCH_RANGE_HZ[0], fmax=PITCH_RANGE_HZ[1],
                                 sr=sample_rate, frame_length=512)
    return float(np.nanmedian(f0[voiced])) if voiced.any() else math.nan


def semitones(a: np.ndarray | float, b: np.ndarray | float) -> np.ndarray:
    """``|12 log2(a / b)|``: the distance between pitches in semitones (NaN where either is)."""
    return np.abs(12 * np.log2(np.asarray(a, float) / np.asarray(b, float)))


def _fingerprint(pool: UtterancePool, sample_rate: int) -> str:
    """A content hash of ``pool`` (speaker ids, utterance layout, a sample every 997)."""
    digest = hashlib.sha256(json.dumps({"speakers": [pool.speaker_id(s) for s in range(len(pool.speakers))],
                                        "lengths": np.asarray(pool.lengths).tolist(), "rate": int(sample_rate),
                                        "measure": [*PITCH_RANGE_HZ, SPEAKER_SECONDS]}).encode())
    digest.update(np.ascontiguousarray(pool.audio[::997], np.float32).tobytes())
    return digest.hexdigest()[:16]


def speaker_pitches(pool: UtterancePool, sample_rate: int, cache: Path | None = None,
                    description: str = "pitch of speakers") -> np.ndarray:
    """``[speakers]``: the median pitch in Hz of each speaker of ``pool`` (NaN where nothing is
    voiced), measured on up to :data:`SPEAKER_SECONDS` of its first utterances, and kept as JSON
    under the folder ``cache`` (named by the pool's content) for the next call."""
    path = None if cache is None else Path(cache) / f"{_fingerprint(pool, sample_rate)}.json"
    if path is not None and path.is_file():
        return np.asarray(json.loads(path.read_text()), float)
    utterances = pool.utterances_of()
    pitches = []
    with progress_bar(True) as bar:
        for s in bar.track(range(len(pool.speakers)), description=description):
            pieces, total = [], 0
            for u in utterances[s]:
                take = min(int(pool.lengths[u]), int(SPEAKER_SECONDS * sample_rate) - total)
                pieces.append(pool.crop(int(u), 0, take))
                total += take
                if total >= SPEAKER_SECONDS * sample_rate:
                    break
            pitches.append(median_pitch(np.concatenate(pieces), sample_rate) if total else math.nan)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps([None if math.isnan(p) else p for p in pitches]))
        tmp.replace(path)
    return np.asarray(pitches, float)
