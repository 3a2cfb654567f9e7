"""Tests of separena.data: WAV I/O, the wsj0-2mix layout, and the espeak-2mix generator."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from separena.data import Example, TensorMixtureSet
from separena.data.audio import read_wav, write_wav
from separena.data.disk import MixtureFolder, write_mixture_folder
from separena.data.wsj0mix import wsj0_2mix
from separena.errors import AudioFileError, SeparenaError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")

TINY = dict(n_train_speakers=6, n_valid_speakers=4, n_test_speakers=4, utterances_per_speaker=2,
            sentences_min=1, sentences_max=1, n_valid=4, n_test=6, test_seconds=1.5,
            n_valid_variants=2, n_test_variants=2, n_valid_languages=1, n_test_languages=1,
            real_dev_set=False, real_fraction=0.0, reverb=0.0)  # eSpeak only: no Debian speech packages needed


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert "\n" not in msg and msg
    return msg


# ---------------------------------------------------------------------------------------------
# read_wav / write_wav


def test_round_trip_mono_and_stereo(tmp_path: Path) -> None:
    x = torch.linspace(-1, 1, 800)
    write_wav(tmp_path / "a.wav", x, 8000)
    y = read_wav(tmp_path / "a.wav", 8000)
    assert y.dtype == torch.float32 and y.shape == (800,)
    assert torch.allclose(x, y, atol=1e-4)
    st_ = torch.stack([x, -x])
    write_wav(tmp_path / "b.wav", st_, 8000)
    assert read_wav(tmp_path / "b.wav", 8000, mono=False).shape == (2, 800)
    assert torch.allclose(read_wav(tmp_path / "b.wav", 8000), torch.zeros(800), atol=1e-4)  # averaged
    assert not list(tmp_path.glob(".*tmp"))  # no temporary files left behind


def test_write_clips(tmp_path: Path) -> None:
    write_wav(tmp_path / "c.wav", torch.tensor([2.0, -3.0, 0.5]), 8000)
    y = read_wav(tmp_path / "c.wav")
    assert y.abs().max() <= 1.0 and abs(float(y[2]) - 0.5) < 1e-3


def test_missing(tmp_path: Path) -> None:
    with pytest.raises(AudioFileError, match="no such audio file") as e:
        read_wav(tmp_path / "nope.wav")
    assert "nope.wav" in one_line(e.value)


def test_corrupt_and_truncated(tmp_path: Path) -> None:
    (tmp_path / "bad.wav").write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(AudioFileError, match="unreadable") as e:
        read_wav(tmp_path / "bad.wav")
    one_line(e.value)
    write_wav(tmp_path / "t.wav", torch.zeros(8000), 8000)
    data = (tmp_path / "t.wav").read_bytes()
    (tmp_path / "t.wav").write_bytes(data[: len(data) // 2])
    with pytest.raises(AudioFileError) as e:
        read_wav(tmp_path / "t.wav")
    one_line(e.value)


def test_wrong_rate(tmp_path: Path) -> None:
    write_wav(tmp_path / "r.wav", torch.zeros(160), 16000)
    with pytest.raises(AudioFileError) as e:
        read_wav(tmp_path / "r.wav", 8000)
    msg = one_line(e.value)
    assert "r.wav" in msg and "8000" in msg and "16000" in msg


def test_empty(tmp_path: Path) -> None:
    sf.write(tmp_path / "e.wav", np.zeros((0, 1), np.int16), 8000, subtype="PCM_16")
    with pytest.raises(AudioFileError, match="empty") as e:
        read_wav(tmp_path / "e.wav")
    one_line(e.value)


def test_nan(tmp_path: Path) -> None:
    sf.write(tmp_path / "n.wav", np.array([0.0, np.nan, 0.1], np.float32), 8000, subtype="FLOAT")
    with pytest.raises(AudioFileError, match="non-finite") as e:
        read_wav(tmp_path / "n.wav")
    one_line(e.value)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(1, 3000), rate=st.sampled_from([8000, 11025, 16000, 22050, 44100]),
       channels=st.integers(1, 3), seed=st.integers(0, 2**32 - 1))
def test_round_trip_property(tmp_path: Path, n: int, rate: int, channels: int, seed: int) -> None:
    x = torch.from_numpy(np.random.default_rng(seed).uniform(-1, 1, (channels, n)).astype(np.float32))
    path = write_wav(tmp_path / "p.wav", x, rate)
    y = read_wav(path, rate, mono=False)
    assert y.shape == (channels, n)
    assert float((x - y).abs().max()) <= 1.5 / 32767
    with pytest.raises(AudioFileError):
        read_wav(path, rate + 1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=st.binary(max_size=200), header=st.booleans())
def test_garbage_gives_audio_file_error(tmp_path: Path, blob: bytes, header: bool) -> None:
    path = tmp_path / "g.wav"
    path.write_bytes((b"RIFF\x24\x00\x00\x00WAVEfmt " if header else b"") + blob)
    try:
        y = read_wav(path)
    except AudioFileError as e:
        one_line(e)
    else:  # libsndfile accepted the bytes: then it must be finite, non-empty float32 audio
        assert y.dtype == torch.float32 and y.numel() > 0 and torch.isfinite(y).all()


# ---------------------------------------------------------------------------------------------
# wsj0-2mix layout


def _examples(n: int, length: int = 400) -> TensorMixtureSet:
    g = torch.Generator().manual_seed(0)
    srcs = [torch.rand(2, length + 10 * i, generator=g) * 0.4 - 0.2 for i in range(n)]
    return TensorMixtureSet([s.sum(0) for s in srcs], srcs)


def test_mixture_folder_round_trip(tmp_path: Path) -> None:
    ex = _examples(5)
    for split in ("tr", "cv", "tt"):
        write_mixture_folder(tmp_path, split, ex, 8000)
    data = wsj0_2mix(root=str(tmp_path))
    assert len(data.test) == 5 and data.name.startswith("wsj0-2mix@")
    for i in range(5):
        got = data.test[i]
        assert got.name == ex.names[i]
        assert torch.allclose(got.sources, ex.sources[i], atol=1e-4)
        assert torch.allclose(got.mix, ex.mixes[i], atol=1e-4)
    mix, src = data.train.batch(0, 3, 4, 300)
    mix2, src2 = data.train.batch(0, 3, 4, 300)
    assert mix.shape == (4, 300) and src.shape == (4, 2, 300)
    assert torch.equal(mix, mix2) and torch.equal(src, src2)
    assert torch.allclose(src.sum(1), mix, atol=1e-4)


def test_wsj0mix_librimix_names_and_missing_source(tmp_path: Path) -> None:
    write_mixture_folder(tmp_path, "tt", _examples(3), 8000)
    (tmp_path / "tt" / "mix").rename(tmp_path / "tt" / "mix_clean")
    assert len(MixtureFolder(tmp_path, "tt", 8000)) == 3
    with pytest.raises(AudioFileError, match="wrong sample rate"):
        MixtureFolder(tmp_path, "tt", 16000)[0]
    (tmp_path / "tt" / "s2" / "00001.wav").unlink()
    with pytest.raises(AudioFileError, match="missing source file") as e:
        MixtureFolder(tmp_path, "tt", 8000)
    assert "s2/00001.wav" in one_line(e.value)
    with pytest.raises(SeparenaError):
        wsj0_2mix(root=str(tmp_path / "nowhere"))


# ---------------------------------------------------------------------------------------------
# espeak-2mix


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory):
    from separena.data.speech import espeak_2mix

    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    root = tmp_path_factory.mktemp("cache-a")
    return espeak_2mix(cache_dir=str(root), **TINY), root


@needs_espeak
def test_espeak_deterministic_across_caches(tiny, tmp_path: Path) -> None:
    from separena.data.speech import espeak_2mix

    a, _ = tiny
    b = espeak_2mix(cache_dir=str(tmp_path), **TINY)
    assert a.name == b.name
    assert torch.equal(a.train.audio, b.train.audio)
    for i in range(len(a.test)):
        assert a.test[i].name == b.test[i].name
        assert torch.equal(a.test[i].sources, b.test[i].sources)
    c = espeak_2mix(cache_dir=str(tmp_path), seed=1, **TINY)
    assert c.name != a.name


@needs_espeak
def test_exported_word_lists_build_the_same_data_without_wordfreq(tiny, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """A machine without wordfreq (a GPU machine it was carried to) builds the same data, by
    name and sample for sample, from the exported word lists."""
    import sys

    from separena.data import espeak
    from separena.data.speech import espeak_2mix

    a, _ = tiny
    lists = espeak.export_word_lists(tmp_path / "words.json.xz")
    assert lists.stat().st_size < 2_000_000
    monkeypatch.setitem(sys.modules, "wordfreq", None)  # `import wordfreq` now fails
    with pytest.raises(SeparenaError, match="wordfreq is not installed.*SEPARENA_WORD_LISTS"):
        espeak_2mix(cache_dir=str(tmp_path / "none"), **TINY)
    monkeypatch.setenv(espeak.WORD_LISTS_ENV, str(lists))
    b = espeak_2mix(cache_dir=str(tmp_path / "cache"), **TINY)
    assert b.name == a.name and torch.equal(a.train.audio, b.train.audio)
    assert all(torch.equal(a.test[i].sources, b.test[i].sources) for i in range(len(a.test)))
    (tmp_path / "bad.xz").write_bytes(b"not xz")
    monkeypatch.setenv(espeak.WORD_LISTS_ENV, str(tmp_path / "bad.xz"))
    with pytest.raises(SeparenaError, match="bad.xz: cannot be read") as e:
        espeak.text_source()
    one_line(e.value)


@needs_espeak
def test_espeak_speakers_disjoint(tiny) -> None:
    data, _ = tiny
    sets = {}
    for split, ms in (("valid", data.valid), ("test", data.test)):
        sets[split] = {n for i in range(len(ms)) for n in ms[i].name.split("_")[1:]}
        assert all(s.startswith(split) for s in sets[split])
    train = data.train.pool.speakers
    assert len(train) == TINY["n_train_speakers"]
    import json

    meta = json.loads((Path(data.test.root) / "meta.json").read_text())
    by_split: dict[str, set] = {}
    for s in meta["speakers"]:
        by_split.setdefault(s["split"], set()).add(s["variant"])
    assert not by_split["train"] & by_split["test"] and not by_split["train"] & by_split["valid"]
    assert not by_split["valid"] & by_split["test"]


@needs_espeak
def test_espeak_mixtures_are_sums_with_levels_in_range(tiny) -> None:
    data, _ = tiny
    n = round(TINY["test_seconds"] * data.sample_rate)
    for ms in (data.valid, data.test):
        for i in range(len(ms)):
            ex: Example = ms[i]
            assert ex.mix.shape == (n,) and ex.sources.shape == (2, n)
            assert torch.allclose(ex.sources.sum(0), ex.mix, atol=1e-6)
            rms = ex.sources.pow(2).mean(-1).sqrt()
            level = 20 * math.log10(float(rms[0] / rms[1]))
            assert abs(level) <= 2.5 + 0.05
            assert ex.mix.abs().max() <= 1.0
    # the cached sets are in the wsj0-2mix layout: the generic reader opens them too
    generic = wsj0_2mix(root=str(data.test.root), train_split="valid", valid_split="valid", test_split="test")
    assert len(generic.test) == len(data.test)
    assert torch.allclose(generic.test[0].mix, data.test[0].mix, atol=2e-4)


@needs_espeak
def test_espeak_train_batches(tiny) -> None:
    data, _ = tiny
    mix, src = data.train.batch(7, 3, 8, 4000)
    mix2, src2 = data.train.batch(7, 3, 8, 4000)
    assert mix.shape == (8, 4000) and src.shape == (8, 2, 4000)
    assert mix.dtype == torch.float32 and torch.isfinite(mix).all()
    assert torch.equal(mix, mix2) and torch.equal(src, src2)
    assert not torch.equal(mix, data.train.batch(7, 4, 8, 4000)[0])
    assert not torch.equal(mix, data.train.batch(8, 3, 8, 4000)[0])
    assert (src.pow(2).mean(-1) > 0).all()  # two active speakers per item
    assert mix.abs().max() <= 1.0


@needs_espeak
def test_espeak_no_augment_is_exact_sum(tiny) -> None:
    from separena.data.speech import espeak_2mix

    _, root = tiny
    plain = espeak_2mix(cache_dir=str(root), augment=False, **TINY)
    assert plain.name.endswith("+noaug")
    mix, src = plain.train.batch(0, 0, 4, 4000)
    assert torch.allclose(src.sum(1), mix, atol=1e-6)
    rms = src.pow(2).mean(-1).sqrt()
    assert (20 * torch.log10(rms[:, 0] / rms[:, 1])).abs().max() <= 2.5 + 1e-3


@needs_espeak
def test_espeak_cache_reused_and_its_pool_shared_by_memory_map(tiny, monkeypatch: pytest.MonkeyPatch) -> None:
    import separena.data.pool as pool
    import separena.data.speech as speech

    data, root = tiny
    def fail(*args, **kwargs):  # noqa: ANN002, ANN003
        raise AssertionError("regenerated or read the speakers' files again although cached")

    monkeypatch.setattr(speech, "_build", fail)
    monkeypatch.setattr(pool, "_read_speakers", fail)
    again = speech.espeak_2mix(cache_dir=str(root), **TINY)
    assert again.name == data.name
    assert not list(root.glob(".*tmp*"))  # nothing half-built left
    assert isinstance(again.train.pool.audio, np.memmap)
    assert np.array_equal(again.train.pool.audio, data.train.pool.audio)
    again.train.pool.audio[:100] = 0.5  # a coded channel rewrites its pool so: the next load is unchanged
    assert np.array_equal(speech.espeak_2mix(cache_dir=str(root), **TINY).train.pool.audio, data.train.pool.audio)


@needs_espeak
def test_espeak_interrupted_build_not_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import separena.data.speech as speech

    def boom(*args, **kwargs):  # noqa: ANN002, ANN003
        raise KeyboardInterrupt

    monkeypatch.setattr(speech, "fixed_mixtures", boom)
    with pytest.raises(KeyboardInterrupt):
        speech.espeak_2mix(cache_dir=str(tmp_path), **TINY)
    assert list(tmp_path.iterdir()) == []


def test_espeak_missing_is_clear(monkeypatch: pytest.MonkeyPatch) -> None:
    import separena.data.espeak as espeak
    import separena.data.speech as speech

    monkeypatch.setattr(espeak.shutil, "which", lambda name: None)
    with pytest.raises(SeparenaError, match="Debian package espeak-ng") as e:
        speech.espeak_2mix(**TINY)
    one_line(e.value)


def test_bad_params() -> None:
    from separena.data.speech import espeak_2mix

    with pytest.raises(SeparenaError, match="n_train_speakers"):
        espeak_2mix(n_train_speakers=1)


# ---------------------------------------------------------------------------------------------
# espeak-2mix training-stream options: real sources, reverberation, realism switches


def _fake_real_pool(n_speakers: int = 4, clips: int = 6, sr: int = 8000):
    """A real-speech pool of ``n_speakers`` with ~1-s noise-burst "clips" each (no packages)."""
    from separena.data.pool import joined_pool
    from separena.data.real import RealUtterance

    g = torch.Generator().manual_seed(0)
    utts = [RealUtterance(f"pkg/spk{s}", (torch.rand(int(sr * (0.6 + 0.1 * c)), generator=g) - 0.5) * 0.2 + 0.01 * s,
                          "pkg") for s in range(n_speakers) for c in range(clips)]
    return joined_pool(utts, sr, seed=0), utts


def test_real_pool_joins_clips_with_pauses_deterministically() -> None:
    pool, utts = _fake_real_pool()
    again, _ = _fake_real_pool()
    assert np.array_equal(pool.audio, again.audio) and pool.speakers == [f"pkg/spk{s}" for s in range(4)]
    assert len(pool.lengths) == 4 and (pool.speaker_of == np.arange(4)).all()
    for s in range(4):
        x = pool.audio[pool.offsets[s]: pool.offsets[s] + pool.lengths[s]]
        speech = sum(len(u.waveform) for u in utts if u.speaker == f"pkg/spk{s}")
        assert speech == int((x != 0).sum())  # every clip sample is there, once
        assert 0.6 < speech / len(x) < 0.95  # pauses of 0.1-0.4 s between ~1-s clips
        # any 2-s window is mostly speech
        frames = (np.abs(x[: len(x) // 80 * 80].reshape(-1, 80)).max(1) > 0).astype(float)
        win = np.convolve(frames, np.ones(200), "valid") / 200
        assert win.min() > 0.5


def test_a_joined_pool_is_joined_once_then_shared_by_memory_map(tmp_path: Path) -> None:
    from separena.data.pool import mapped_joined_pool

    pool, utts = _fake_real_pool()
    calls: list[int] = []

    def clips() -> list:
        calls.append(1)
        return utts

    first = mapped_joined_pool(tmp_path / "joined-0", 8000, 0, clips)
    second = mapped_joined_pool(tmp_path / "joined-0", 8000, 0, clips)
    assert calls == [1] and isinstance(second.audio, np.memmap)
    for kept in (first, second):
        assert np.array_equal(kept.audio, pool.audio) and kept.speakers == pool.speakers
        assert np.array_equal(kept.offsets, pool.offsets) and np.array_equal(kept.lengths, pool.lengths)
        assert np.array_equal(kept.speaker_of, pool.speaker_of)
    (npy,) = tmp_path.glob("joined-0-*.npy")
    npy.write_bytes(npy.read_bytes()[:-4])  # cut short: joined again
    assert np.array_equal(mapped_joined_pool(tmp_path / "joined-0", 8000, 0, clips).audio, pool.audio)
    assert calls == [1, 1]
    other_seed = mapped_joined_pool(tmp_path / "joined-1", 8000, 1, clips)
    assert not np.array_equal(other_seed.lengths, pool.lengths) or not np.array_equal(other_seed.audio, pool.audio)


@needs_espeak
def test_real_fraction_zero_is_the_espeak_only_stream(tiny) -> None:
    from separena.data.augment import AugmentConfig
    from separena.data.speech import train_stream
    from separena.data.stream import SpeakerMixtureStream

    data, _ = tiny
    legacy = SpeakerMixtureStream(data.train.pool, data.sample_rate, AugmentConfig())
    real_pool, _ = _fake_real_pool()
    opts = dict(augment=True, speed=0.1, eq=0.8, band_limit=0.4, noise=0.5, gain_db=6.0, level_db=2.5,
                reverb=0.0, real_fraction=0.0)
    with_pool = train_stream(data.train.pool, data.sample_rate, opts, real_pool, None)
    for step in (0, 5):
        ref = legacy.batch(1, step, 4, 4000)
        for stream in (data.train, with_pool):
            got = stream.batch(1, step, 4, 4000)
            assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1])


@needs_espeak
def test_real_sources_replace_espeak_sources_deterministically(tiny) -> None:
    from separena.data.speech import train_stream

    data, _ = tiny
    real_pool, _ = _fake_real_pool()
    plain = dict(augment=False, speed=0.1, eq=0.8, band_limit=0.4, noise=0.5, gain_db=6.0, level_db=2.5,
                 reverb=0.0)
    only_espeak = train_stream(data.train.pool, data.sample_rate, {**plain, "real_fraction": 0.0})
    half = train_stream(data.train.pool, data.sample_rate, {**plain, "real_fraction": 0.5}, real_pool)
    n_real = n_total = 0
    for step in range(12):
        mix, src = half.batch(3, step, 8, 2000)
        mix2, src2 = half.batch(3, step, 8, 2000)
        assert torch.equal(mix, mix2) and torch.equal(src, src2)
        assert torch.allclose(src.sum(1), mix, atol=1e-6)
        _, ref = only_espeak.batch(3, step, 8, 2000)
        same = torch.isclose(src, ref, atol=1e-6).all(-1)  # [batch, 2]: the eSpeak draws are unchanged
        real = np.random.default_rng([3, step, 0x4EA1]).random((8, 2)) < 0.5
        assert same.numpy()[~real].all() and not same.numpy()[real].any()
        n_real += int(real.sum())
        n_total += real.size
    assert 0.3 < n_real / n_total < 0.7
    # a real source is a crop of one real speaker's joined clips (gain aside)
    mix, src = half.batch(3, 0, 8, 2000)
    real = np.random.default_rng([3, 0, 0x4EA1]).random((8, 2)) < 0.5
    b, k = map(int, np.argwhere(real)[0])
    x = src[b, k].numpy()
    pieces = [real_pool.audio[o:o + n] for o, n in zip(real_pool.offsets, real_pool.lengths)]
    hits = [s for s, p in enumerate(pieces) if _contains_scaled(p, x)]
    assert len(hits) == 1


def _contains_scaled(hay: np.ndarray, x: np.ndarray) -> bool:
    """Whether ``x`` is a scaled window of ``hay`` (normalised cross-correlation ~ 1)."""
    hay = np.concatenate([hay, np.zeros(len(x))]).astype(np.float64)
    xc = np.correlate(hay, x.astype(np.float64), "valid")
    energy = np.convolve(hay ** 2, np.ones(len(x)), "valid")
    ncc = xc / np.sqrt(np.maximum(energy, 1e-12) * float((x.astype(np.float64) ** 2).sum()))
    return bool(ncc.max() > 0.9999)


@needs_espeak
def test_two_real_sources_of_a_mixture_are_different_speakers(tiny) -> None:
    from separena.data.speech import train_stream

    data, _ = tiny
    real_pool, _ = _fake_real_pool(n_speakers=2)
    only_real = train_stream(data.train.pool, data.sample_rate,
                             dict(augment=False, speed=0.0, eq=0.0, band_limit=0.0, noise=0.0, gain_db=0.0,
                                  level_db=0.0, reverb=0.0, real_fraction=1.0), real_pool)
    for step in range(4):
        _, src = only_real.batch(0, step, 8, 8000)
        # the fake speakers differ by a DC offset of 0.01 * speaker: means of the two sources differ
        means = src.mean(-1) / src.pow(2).mean(-1).sqrt()
        assert ((means[:, 0] - means[:, 1]).abs() > 0.01).all()


def test_rir_bank_is_cached_and_deterministic(tmp_path: Path) -> None:
    pytest.importorskip("pyroomacoustics")
    from separena.data.reverb import RirBankConfig, reverberate, rir_bank

    cfg = RirBankConfig(n_rooms=3)
    a = rir_bank(5, 8000, tmp_path / "a", cfg, progress=False)
    b = rir_bank(5, 8000, tmp_path / "b", cfg, progress=False)
    assert a.shape == (3, 2, 4000) and torch.equal(a, b)
    assert len(list((tmp_path / "a").glob("rir-bank-*.npy"))) == 1
    assert not torch.equal(a, rir_bank(6, 8000, tmp_path / "a", cfg, progress=False))
    assert torch.allclose(a.pow(2).sum(-1), torch.ones(3, 2), atol=1e-4)  # unit energy
    assert (a.abs().argmax(-1) <= 2).all()  # direct path first
    x = torch.zeros(1, 2, 1000)
    x[0, :, 10] = 1.0
    y = reverberate(x, a[:1])
    assert torch.allclose(y[0, :, 10:], a[0, :, :990], atol=1e-5) and y.shape == x.shape


@needs_espeak
def test_reverb_stream_is_deterministic_and_off_is_unchanged(tiny) -> None:
    pytest.importorskip("pyroomacoustics")
    from separena.data.reverb import RirBankConfig, rir_bank
    from separena.data.speech import train_stream

    data, root = tiny
    rirs = rir_bank(0, data.sample_rate, root, RirBankConfig(n_rooms=4), progress=False)
    opts = dict(augment=False, speed=0.0, eq=0.0, band_limit=0.0, noise=0.0, gain_db=0.0, level_db=2.5,
                real_fraction=0.0)
    wet = train_stream(data.train.pool, data.sample_rate, {**opts, "reverb": 1.0}, None, rirs)
    dry = train_stream(data.train.pool, data.sample_rate, {**opts, "reverb": 0.0}, None, rirs)
    m1, s1 = wet.batch(0, 2, 4, 4000)
    m2, s2 = wet.batch(0, 2, 4, 4000)
    assert torch.equal(m1, m2) and torch.equal(s1, s2)
    assert torch.allclose(s1.sum(1), m1, atol=1e-6)  # reference = the reverberant source
    _, sd = dry.batch(0, 2, 4, 4000)
    assert not torch.allclose(s1, sd, atol=1e-3)
    # reverberation smears: the reverberant source correlates with the dry one, not exactly
    corr = (s1 * sd).sum(-1) / (s1.norm(dim=-1) * sd.norm(dim=-1))
    assert corr.mean() > 0.2 and (corr < 0.999).all()


@needs_espeak
def test_realism_switches_change_the_stream_and_the_name(tiny) -> None:
    from separena.data.speech import espeak_2mix

    data, root = tiny
    ref = data.train.batch(0, 1, 4, 4000)
    names = {data.name}
    for key, value in (("speed", 0.0), ("eq", 0.0), ("band_limit", 0.0), ("noise", 0.0), ("gain_db", 0.0),
                       ("level_db", 6.0)):
        other = espeak_2mix(cache_dir=str(root), **{**TINY, key: value})
        names.add(other.name)
        got = other.train.batch(0, 1, 4, 4000)
        assert not (torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1])), key
        assert torch.equal(got[0], other.train.batch(0, 1, 4, 4000)[0])
    assert len(names) == 7  # every option is in the data name (stored runs are never mixed up)


def test_bad_stream_params() -> None:
    from separena.data.speech import espeak_2mix

    for kw in (dict(real_fraction=1.5), dict(reverb=-0.1), dict(speed=0.7), dict(gain_db=-1.0)):
        with pytest.raises(SeparenaError, match=next(iter(kw))) as e:
            espeak_2mix(**{**TINY, **kw})
        one_line(e.value)


def test_background_cache_warmer_is_optional_and_interruptible() -> None:
    import subprocess
    import sys
    import time

    from separena.data import speech

    assert speech._warm_real_cache(8000, None, pool=False, dev=False) is None
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    t0 = time.perf_counter()
    speech._stop(proc)
    assert proc.poll() is not None and time.perf_counter() - t0 < 20
    speech._join(None)
    speech._stop(None)


def _ignore_sigint() -> None:
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


def test_the_cache_warmer_stops_promptly_when_started_with_sigint_ignored() -> None:
    """As under `nohup make test &`: children inherit an ignored SIGINT."""
    import subprocess
    import sys
    import time

    from separena.data import speech

    # a child that ignores SIGINT (what every child was there): SIGTERM after the grace stops it
    deaf = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], preexec_fn=_ignore_sigint)
    t0 = time.perf_counter()
    speech._stop(deaf)
    assert deaf.poll() is not None and time.perf_counter() - t0 < speech.STOP_GRACE_SECONDS + 3
    # the warmer's own code restores Ctrl-C, so SIGINT (and its clean-up) reaches it at once
    # 'ready' is printed inside the try: a SIGINT sent as soon as it is read cannot land before it
    code = speech.INTERRUPTIBLE + "import sys, time\ntry:\n print('ready', flush=True)\n time.sleep(60)\n" \
        "except KeyboardInterrupt:\n sys.exit(3)"
    warmer = subprocess.Popen([sys.executable, "-c", code], preexec_fn=_ignore_sigint, stdout=subprocess.PIPE,
                              text=True)
    assert warmer.stdout.readline().strip() == "ready"
    t0 = time.perf_counter()
    speech._stop(warmer)
    assert warmer.returncode == 3 and time.perf_counter() - t0 < speech.STOP_GRACE_SECONDS


@pytest.mark.parametrize("compression", [0.0, 0.5])
def test_a_stream_built_on_a_device_gives_the_same_batches(compression: float) -> None:
    """``to(device)`` joins the pools on the device; on the CPU that path is bit for bit the
    stream's own, and on the meta device (no data: any tensor left on the CPU is an error) every
    step of a batch stays on the device, rooms included."""
    from separena.data.augment import AugmentConfig
    from separena.data.stream import SpeakerMixtureStream

    pool, _ = _fake_real_pool(n_speakers=5, clips=8)
    real_pool, _ = _fake_real_pool(n_speakers=3, clips=5)
    rirs = torch.randn(3, 2, 200, generator=torch.Generator().manual_seed(0)) * torch.linspace(1, 0, 200)
    stream = SpeakerMixtureStream(pool, 8000, AugmentConfig(compression=compression), real=real_pool,
                              real_fraction=0.5, rirs=rirs, reverb=0.5)
    assert stream.to("cpu") is stream
    joined = stream._joined_on(torch.device("cpu"))
    for step in range(4):
        ref, got = stream.batch(2, step, 6, 3000), joined.batch(2, step, 6, 3000)
        assert torch.equal(ref[0], got[0]) and torch.equal(ref[1], got[1])
    if compression == 0:  # the compressor runs scipy on the CPU (a round trip), which meta has no data for
        mix, sources = stream.to("meta").batch(2, 0, 6, 3000)
        assert mix.device.type == sources.device.type == "meta"
        assert mix.shape == (6, 3000) and sources.shape == (6, 2, 3000)
