"""Voices close in pitch: each speaker's pitch, and the training stream's pitch-matched mixtures."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from separena.data.pitch import median_pitch, semitones, speaker_pitches
from separena.data.pool import UtterancePool
from separena.data.stream import SpeakerMixtureStream
from separena.errors import SeparenaError

SR = 8000
TONES = (250.0, 260.0, 500.0, 520.0, 1000.0, 1040.0, 1500.0)  # speaker s hums TONES[s]: pairs ~0.7 st apart


def _pool(tones=TONES, per_speaker: int = 2, seconds: float = 1.5) -> UtterancePool:
    lengths = np.full(len(tones) * per_speaker, int(seconds * SR), np.int64)
    speaker_of = np.repeat(np.arange(len(tones)), per_speaker).astype(np.int64)
    t = np.arange(int(lengths.sum())) / SR
    audio = (0.1 * np.sin(2 * np.pi * np.repeat(np.asarray(tones)[speaker_of], lengths) * t)).astype(np.float32)
    offsets = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
    return UtterancePool(audio, offsets, lengths, speaker_of, [f"spk{s}" for s in range(len(tones))])


def _tones_of(sources: torch.Tensor) -> np.ndarray:
    """``[batch, n_src]`` the frequency (Hz) of each source's tone."""
    spectrum = torch.fft.rfft(sources).abs()
    return spectrum.argmax(-1).numpy() * SR / sources.shape[-1]


def test_median_pitch_of_a_voice_and_of_silence() -> None:
    t = np.arange(SR) / SR
    voice = 0.1 * np.sin(2 * np.pi * 150 * t) + 0.05 * np.sin(2 * np.pi * 300 * t)
    assert abs(semitones(median_pitch(voice, SR), 150.0)) < 0.3
    assert np.isnan(median_pitch(np.zeros(SR), SR))


def test_speaker_pitches_are_measured_once_and_kept(tmp_path: Path) -> None:
    pool = _pool(tones=(110.0, 180.0, 330.0), seconds=1.0)
    first = speaker_pitches(pool, SR, tmp_path)
    assert np.all(semitones(first, [110.0, 180.0, 330.0]) < 0.3)
    (kept,) = tmp_path.glob("*.json")
    kept.write_text("[1.0, 2.0, null]")  # read back as it is: no second measurement
    again = speaker_pitches(pool, SR, tmp_path)
    assert again[:2].tolist() == [1.0, 2.0] and np.isnan(again[2])
    other = _pool(tones=(110.0, 180.0, 331.0), seconds=1.0)  # other audio: measured afresh
    assert len(list(tmp_path.glob("*.json"))) == 1 and speaker_pitches(other, SR, tmp_path)[0] > 100
    assert len(list(tmp_path.glob("*.json"))) == 2


@pytest.mark.parametrize("n_src", [2, 3])
def test_pitch_matched_items_are_voices_within_the_gap(n_src: int) -> None:
    tones = TONES if n_src == 2 else (250.0, 255.0, 260.0, 500.0, 505.0, 510.0, 1000.0)
    pool = _pool(tones)
    matched = SpeakerMixtureStream(pool, SR, None, n_src=n_src, pitch_matched=1.0, pitch_gap=1.0,
                                   pitches=[np.asarray(tones)])
    plain = SpeakerMixtureStream(pool, SR, None, n_src=n_src)
    close = spread = 0
    for step in range(8):
        _, src = matched.batch(0, step, 6, 2000)
        heard = _tones_of(src)
        for row in heard:
            gaps = semitones(row[1:], row[0])
            if tones[-1] in row:  # a speaker with no neighbour: its item stays as drawn
                continue
            assert np.all(gaps < 1.0 + 0.2) and len(set(row.tolist())) == n_src, row
            close += 1
        _, src = plain.batch(0, step, 6, 2000)
        spread += int((semitones(_tones_of(src)[:, 1], _tones_of(src)[:, 0]) > 2).sum())
    assert close >= 20 and spread >= 10  # the plain stream mixes distant voices too


def test_pitch_matching_off_is_the_stream_as_it_was_and_half_changes_about_half() -> None:
    pool = _pool()
    plain = SpeakerMixtureStream(pool, SR, None)
    off = SpeakerMixtureStream(pool, SR, None, pitch_matched=0.0, pitches=[np.asarray(TONES)])
    half = SpeakerMixtureStream(pool, SR, None, pitch_matched=0.5, pitches=[np.asarray(TONES)])
    changed = 0
    for step in range(10):
        ref = plain.batch(3, step, 8, 1600)
        assert all(torch.equal(a, b) for a, b in zip(ref, off.batch(3, step, 8, 1600)))
        got = half.batch(3, step, 8, 1600)
        assert torch.equal(ref[1][:, 0], got[1][:, 0])  # the first voice is never redrawn
        changed += int((~torch.isclose(ref[1][:, 1], got[1][:, 1]).all(-1)).sum())
    assert 15 <= changed <= 50  # 80 items, half matched; some already were close


def test_pitch_matching_needs_every_pool_s_pitches() -> None:
    pool, real = _pool(), _pool(tones=(300.0, 310.0, 600.0), per_speaker=1)
    with pytest.raises(SeparenaError, match="pitch_matched needs the pitch of each of the 7 speakers of the eSpeak "
                                            "pool; got none"):
        SpeakerMixtureStream(pool, SR, None, pitch_matched=0.5)
    with pytest.raises(SeparenaError, match="of the 3 speakers of the real pool; got 2"):
        SpeakerMixtureStream(pool, SR, None, real=real, real_fraction=0.5, pitch_matched=0.5,
                             pitches=[np.asarray(TONES), np.ones(2)])
    mixed = SpeakerMixtureStream(pool, SR, None, real=real, real_fraction=0.5, pitch_matched=1.0,
                                 pitches=[np.asarray(TONES), np.asarray([300.0, 310.0, 600.0])])
    mix, src = mixed.batch(0, 0, 8, 2000)
    assert torch.isfinite(src).all() and torch.allclose(src.sum(1), mix, atol=1e-6)


@pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
def test_espeak_2mix_with_pitch_matched_pairs(tmp_path: Path) -> None:
    from separena.data.speech import espeak_2mix

    tiny = dict(n_train_speakers=6, n_valid_speakers=2, n_test_speakers=2, utterances_per_speaker=1,
                sentences_min=1, sentences_max=1, n_valid=2, n_test=2, test_seconds=1.0, n_valid_variants=1,
                n_test_variants=1, n_valid_languages=0, n_test_languages=0, real_dev_set=False,
                real_fraction=0.0, reverb=0.0, cache_dir=str(tmp_path))
    plain = espeak_2mix(**tiny)
    matched = espeak_2mix(**tiny, pitch_matched=1.0, pitch_gap=4.0)
    assert matched.name != plain.name and len(list((tmp_path / "pitch").glob("*.json"))) == 1
    pitches = matched.train.pitches[0]
    assert pitches.shape == (6,) and np.all((pitches > 60) & (pitches < 500))
    mix, src = matched.train.batch(0, 0, 4, 4000)
    assert src.shape == (4, 2, 4000)
    assert espeak_2mix(**tiny, pitch_matched=1.0, pitch_gap=4.0).name == matched.name
    with pytest.raises(SeparenaError, match="espeak-2mix: bad pitch_gap; expected > 0 semitones, got 0.0"):
        espeak_2mix(**tiny, pitch_matched=0.5, pitch_gap=0.0)
