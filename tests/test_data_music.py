"""midi-4stem (generated 4-stem music) and the musdb18 reader."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile as sf
import torch

from separena import Registry, SeparenaError
from separena.data import midi, music
from separena.data.music import SOURCES, midi_4stem
from separena.data.musdb import musdb18

TINY = dict(n_train=2, n_valid=1, n_test=2, train_seconds=2.0, eval_seconds=1.5, progress=False,
            transfer_set=False)  # the transfer set: tests/test_data_music_transfer.py


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return midi_4stem(cache_dir=str(tmp_path_factory.mktemp("music-a")), **TINY)


def test_registered_as_music_dataset(tiny) -> None:
    registry = Registry(entry_points=False)
    spec = registry.dataset("midi-4stem")
    assert spec.tasks == ("music",) and spec.builder() is midi_4stem
    assert spec.source_names == tiny.source_names == SOURCES == registry.dataset("musdb18").source_names


def test_shapes_and_source_order(tiny) -> None:
    assert tiny.n_src == 4 and tiny.sample_rate == 16000 and SOURCES == ("vocals", "bass", "drums", "other")
    assert len(tiny.valid) == 1 and len(tiny.test) == 2
    ex = tiny.test[0]
    assert ex.sources.shape == (4, 24000) and ex.mix.shape == (24000,)
    mix, sources = tiny.train.batch(0, 0, 3, 8000)
    assert mix.shape == (3, 8000) and sources.shape == (3, 4, 8000)


def test_deterministic_from_seed(tiny, tmp_path) -> None:
    again = midi_4stem(cache_dir=str(tmp_path), **TINY)  # a fresh build in another folder
    for a, b in ((tiny.test[1], again.test[1]), (tiny.valid[0], again.valid[0])):
        assert torch.equal(a.sources, b.sources)
    assert np.array_equal(tiny.train.stems, again.train.stems)
    other = midi_4stem(cache_dir=str(tmp_path), seed=1, **TINY)
    assert not torch.equal(other.test[0].sources, tiny.test[0].sources)


def test_train_batches_are_pure_in_seed_and_step(tiny) -> None:
    a, b, c = (tiny.train.batch(*args, 2, 4000) for args in ((0, 5), (0, 5), (0, 6)))
    assert torch.equal(a[1], b[1]) and not torch.equal(a[1], c[1])


def test_mixture_is_sum_of_stems_and_every_stem_sounds(tiny) -> None:
    for ex in [*tiny.valid, *tiny.test]:
        assert torch.equal(ex.mix, ex.sources.sum(0))
        rms = ex.sources.square().mean(-1).sqrt()
        assert (rms > 1e-3).all(), f"{ex.name}: silent stem, RMS per source {rms.tolist()}"
        assert ex.sources.abs().max() < 1.0
    mix, sources = tiny.train.batch(0, 1, 4, 16000)
    assert torch.allclose(mix, sources.sum(1), atol=1e-6)
    assert (sources.square().mean(-1).sqrt() > 1e-3).all()


def test_stems_are_high_passed_without_moving_what_is_heard() -> None:
    sr, t = 16000, np.arange(32000) / 16000
    heard = 0.3 * np.sin(2 * np.pi * 60 * t) + 0.2 * np.sin(2 * np.pi * 440 * t)
    stem = (heard + 0.5 + 0.4 * np.sin(2 * np.pi * 3 * t)).astype(np.float32)  # a DC offset and a 3 Hz drift
    out = music._without_subsonics(stem, sr).astype(np.float64)
    middle = slice(4000, -4000)  # away from the ends, where a zero-phase filter settles
    assert abs(out[middle].mean()) < 1e-3 * out[middle].std()
    residual = out[middle] - heard[middle]  # 60 and 440 Hz kept, in place (zero phase)
    assert np.sqrt(np.mean(residual ** 2)) < 0.02 * np.sqrt(np.mean(heard[middle] ** 2))


def test_rendered_stems_have_no_dc_offset(tiny) -> None:
    for ex in [*tiny.valid, *tiny.test]:
        ratio = ex.sources.double().mean(-1).abs() / ex.sources.double().std(-1)
        assert (ratio < 0.01).all(), f"{ex.name}: |mean| / std per stem {ratio.tolist()}"
    sources = torch.from_numpy(tiny.train.stems).double()
    assert (sources.mean(-1).abs() / sources.std(-1) < 0.01).all()


def test_cache_is_reused(tiny, monkeypatch) -> None:
    root = str(tiny.valid.root.parent)
    monkeypatch.setattr(music, "_build", lambda *a, **k: pytest.fail("rebuilt a cached dataset"))
    again = midi_4stem(cache_dir=root, **TINY)
    assert again.name == tiny.name
    assert torch.equal(again.test[0].sources, tiny.test[0].sources)


def test_cache_dir_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEPARENA_CACHE", str(tmp_path))
    data = midi_4stem(**{**TINY, "n_test": 1})
    assert data.test.root.parent == tmp_path and data.test.root.name.startswith("midi-4stem-")


def test_interrupted_build_leaves_nothing(monkeypatch, tmp_path) -> None:
    calls = []

    def fail_second(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    real = music._render_piece
    monkeypatch.setattr(music, "_render_piece", fail_second)
    with pytest.raises(KeyboardInterrupt):
        midi_4stem(cache_dir=str(tmp_path), **TINY)
    assert list(tmp_path.iterdir()) == []


def test_evaluation_pieces_use_held_out_programs(tiny) -> None:
    meta = json.loads((tiny.test.root / "meta.json").read_text())
    for piece in meta["pieces"]["valid"] + meta["pieces"]["test"]:
        for part, program in piece["programs"].items():
            pool = midi.DRUM_KITS if part == "drums" else {k: v[part] for k, v in midi.PROGRAMS.items()}
            assert program in pool["held-out"] and program not in pool["train"]
    for piece in meta["pieces"]["train"]:
        assert piece["programs"]["vocals"] in midi.PROGRAMS["train"]["vocals"]


def test_bad_parameters_raise_one_line_errors(tmp_path) -> None:
    with pytest.raises(SeparenaError, match=r"^midi-4stem: bad n_train; expected >= 1, got 0$"):
        midi_4stem(cache_dir=str(tmp_path), n_train=0)
    with pytest.raises(SeparenaError, match=r"^midi-4stem: soundfont 'nope.sf2' not found"):
        midi_4stem(cache_dir=str(tmp_path), soundfont="nope.sf2")


@pytest.mark.parametrize("codec, least_db", [("flac10bit", 30.0), ("opus32k", 3.0)])
def test_carried_copy_stands_in_without_fluidsynth(tiny, tmp_path, monkeypatch, codec, least_db) -> None:
    """A machine without FluidSynth or soundfonts reads the pieces from their carried copy: same
    pieces and lengths, close samples, mixtures the sum of the sources, its own name."""
    from separena.data.cache import CARRIED_ENV

    monkeypatch.delenv(CARRIED_ENV, raising=False)
    folder = music.carry_midi_4stem(tmp_path / "kit", codec=codec, cache_dir=str(tiny.valid.root.parent), **TINY)
    meta = json.loads((folder / "meta.json").read_text())
    assert folder.name == f"{tiny.valid.root.name}+{codec}" and meta["name"] == tiny.name
    assert sorted(meta["carried"]["items"]) == ["test", "train", "valid"]
    suffix = codec[:4]
    assert sorted(p.name for p in (folder / "train").iterdir()) == [f"s{k}.{suffix}" for k in range(1, 5)]

    monkeypatch.setenv(CARRIED_ENV, str(tmp_path / "kit"))
    for name in ("find_soundfont", "_Studio", "_Renderer", "_versions"):
        monkeypatch.setattr(music, name, lambda *a, **k: pytest.fail("rendered on a machine with a carried copy"))
    copy = midi_4stem(cache_dir=str(tmp_path / "cache"), **TINY)
    assert copy.name.startswith("midi-4stem@") and copy.name != tiny.name
    assert copy.test.root.parent == tmp_path / "cache"  # decoded into the cache, not beside the copy

    def snr(x: torch.Tensor, y: torch.Tensor) -> float:
        return float(10 * torch.log10(x.double().square().sum() / (x.double() - y.double()).square().sum()))

    # FLAC of 10-bit samples keeps the waveform (38 dB); Opus keeps how the pieces sound, not
    # every sample: a dense pad in "other" falls to 6 dB over a short piece
    assert copy.train.stems.shape == tiny.train.stems.shape
    assert snr(torch.from_numpy(tiny.train.stems), torch.from_numpy(copy.train.stems)) > max(least_db, 12.0)
    for a, b in zip([*tiny.valid, *tiny.test], [*copy.valid, *copy.test]):
        assert a.name == b.name and b.sources.shape == a.sources.shape
        assert torch.equal(b.mix, b.sources.sum(0))
        assert snr(a.sources, b.sources) > least_db, f"{b.name}: {snr(a.sources, b.sources):.1f} dB from the pieces"
    again = midi_4stem(cache_dir=str(tmp_path / "cache"), **TINY)
    assert again.name == copy.name and torch.equal(again.test[0].sources, copy.test[0].sources)

    with pytest.raises(SeparenaError, match=f"^\\${CARRIED_ENV}=.*0 carried midi-4stem sets.*expected exactly one"):
        midi_4stem(cache_dir=str(tmp_path / "cache"), **{**TINY, "n_test": 1})
    with pytest.raises(SeparenaError, match=f"{CARRIED_ENV} is set; expected it unset"):
        music.carry_midi_4stem(tmp_path / "again", cache_dir=str(tiny.valid.root.parent), **TINY)


def test_carry_refuses_bad_codecs_and_splits(tiny, tmp_path) -> None:
    root = str(tiny.valid.root.parent)
    with pytest.raises(SeparenaError, match=r"^carry: bad codec 'mp3'; expected 'opus<6-256>k'.*'flac<1-16>bit'"):
        music.carry_midi_4stem(tmp_path, codec="mp3", cache_dir=root, **TINY)
    with pytest.raises(SeparenaError, match=r"^carry: bad splits \['train'\]; expected train, valid and test"):
        music.carry_midi_4stem(tmp_path, splits=("train",), cache_dir=root, **TINY)


# -- musdb18 -------------------------------------------------------------------------------


def test_musdb_missing_root_is_a_clear_error(tmp_path) -> None:
    missing = tmp_path / "MUSDB18"
    with pytest.raises(SeparenaError, match=r"^musdb18: root .*MUSDB18' is not a MUSDB18 folder; expected "
                                            r"<root>/train and <root>/test$"):
        musdb18(root=str(missing))


def _fake_hq_track(folder, seconds: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    stems = {name: 0.1 * rng.standard_normal((int(seconds * 44100), 2)) for name in ("vocals", "bass", "drums", "other")}
    for name, audio in stems.items():
        sf.write(folder / f"{name}.wav", audio, 44100, subtype="PCM_16")
    sf.write(folder / "mixture.wav", sum(stems.values()), 44100, subtype="PCM_16")


def test_musdb_hq_layout_converts_to_mono_chunks(tmp_path) -> None:
    root = tmp_path / "musdb18hq"
    _fake_hq_track(root / "train" / "Actions - One Minute Smile", 1.2, 0)  # a validation track in musdb
    _fake_hq_track(root / "train" / "Some Band - Some Song", 1.0, 1)
    _fake_hq_track(root / "test" / "Other Band - Test Song", 1.0, 2)
    data = musdb18(root=str(root), sample_rate=8000, chunk_seconds=0.5, cache_dir=str(tmp_path / "cache"),
                   progress=False)
    assert data.n_src == 4 and data.sample_rate == 8000
    assert len(data.valid) == 2 and len(data.test) == 2
    ex = data.test[0]
    assert ex.sources.shape == (4, 4000) and torch.equal(ex.mix, ex.sources.sum(0))
    mix, sources = data.train.batch(0, 0, 2, 2000)
    assert sources.shape == (2, 4, 2000)


def test_builds_with_the_soundfont_inside_pretty_midi(tiny, tmp_path) -> None:
    small = midi_4stem(cache_dir=str(tmp_path), soundfont="timgm6mb", soundfonts=("timgm6mb",),
                       **{**TINY, "n_train": 1, "n_test": 1})
    assert small.name != tiny.name  # the soundfont is part of the content hash
    assert (small.test[0].sources.square().mean(-1).sqrt() > 1e-3).all()
