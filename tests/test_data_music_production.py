"""midi-4stem's training ingredients (separena.data.music_production): soundfont pool, drum
samples, humanisation, effects, mix bus and varied writing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pytest
import torch

from separena import SeparenaError
from separena.data import midi, music_production, music_transfer
from separena.data.music import SOUNDFONT_POOL, midi_4stem
from separena.data.music_production import DRUMKIT_PACKAGE, DRUMKITS, SOUNDFONTS, bus, sample_kits, soundfont_paths


def _load_reserved():
    """The reserved-package check of tests/test_data_music_transfer.py (one list, one place)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("_music_transfer_tests",
                                                  Path(__file__).with_name("test_data_music_transfer.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module._reserved


_reserved = _load_reserved()

TINY = dict(n_train=4, n_valid=1, n_test=1, train_seconds=2.0, eval_seconds=1.5, progress=False, transfer_set=False)
ALL = dict(soundfonts=tuple(SOUNDFONTS), drum_samples=0.5, humanise=1.0, effects=1.0, bus=1.0, writing="varied")


@pytest.fixture(scope="module")
def plain(tmp_path_factory):
    return midi_4stem(cache_dir=str(tmp_path_factory.mktemp("plain")), **TINY)


@pytest.fixture(scope="module")
def varied(tmp_path_factory):
    return midi_4stem(cache_dir=str(tmp_path_factory.mktemp("varied")), **TINY, **ALL)


def test_ingredients_change_training_pieces_only(plain, varied) -> None:
    assert varied.name != plain.name
    assert torch.equal(varied.test[0].sources, plain.test[0].sources)  # test stays comparable
    assert torch.equal(varied.valid[0].sources, plain.valid[0].sources)
    assert not np.array_equal(varied.train.stems, plain.train.stems)
    meta = json.loads((varied.test.root / "meta.json").read_text())
    timbres = [t for p in meta["pieces"]["train"] for ts in p["timbres"].values() for t in ts]
    assert len(set(timbres)) >= 3, f"one soundfont for every part: {timbres}"
    assert all(p["style"] for p in meta["pieces"]["train"]) and not any(p["timbres"] for p in meta["pieces"]["test"])


def test_the_default_is_the_soundfont_pool_alone(plain, tmp_path) -> None:
    pool = dict(soundfonts=SOUNDFONT_POOL, drum_samples=0.0, humanise=0.0, effects=0.0, bus=0.0, writing="basic")
    assert midi_4stem(cache_dir=str(plain.test.root.parent), **TINY, **pool).name == plain.name
    today = midi_4stem(cache_dir=str(tmp_path), **TINY, soundfonts=())  # the data before the pool
    assert today.name != plain.name and torch.equal(today.test[0].sources, plain.test[0].sources)
    assert not np.array_equal(today.train.stems, plain.train.stems)


def test_rebuild_with_ingredients_is_sample_identical(varied, tmp_path) -> None:
    again = midi_4stem(cache_dir=str(tmp_path), **TINY, **ALL)
    assert again.name == varied.name
    assert np.array_equal(again.train.stems, varied.train.stems)


def test_training_pieces_sound_and_stay_in_range(varied) -> None:
    stems = varied.train.stems.astype(np.float32) / 32768
    assert (np.sqrt((stems ** 2).mean(-1)) > 1e-3).all()
    assert np.abs(stems.sum(1)).max() <= 0.951 and np.isfinite(stems).all()


def test_bad_ingredient_parameters_raise_one_line_errors(tmp_path) -> None:
    for kw, pattern in (({"soundfonts": ("fluidr3", "nope")}, r"^midi-4stem: bad soundfonts .*expected distinct"),
                        ({"drum_samples": 1.5}, r"^midi-4stem: bad drum_samples; expected a number in \[0, 1\], got 1.5$"),
                        ({"effects": -0.1}, r"^midi-4stem: bad effects;"),
                        ({"writing": "jazz"}, r"^midi-4stem: bad writing; expected 'basic' or 'varied', got 'jazz'$")):
        with pytest.raises(SeparenaError, match=pattern):
            midi_4stem(cache_dir=str(tmp_path), **TINY, **kw)


def test_every_drum_kit_plays_kick_snare_and_hat() -> None:
    import pretty_midi

    kits = sample_kits(16000)
    assert [k.folder.name for k in kits] == list(DRUMKITS)
    inst = pretty_midi.Instrument(0, is_drum=True)
    inst.notes = [pretty_midi.Note(100, p, 0.25 * i, 0.25 * i + 0.1) for i, p in enumerate((36, 38, 42, 46, 49, 51))]
    for kit in kits:
        wav = kit.render([inst], 32000)
        for i in range(3):  # each of kick, snare and closed hat sounds in its own quarter second
            seg = wav[4000 * i: 4000 * i + 2000]
            assert np.sqrt(np.mean(seg ** 2)) > 1e-4, f"{kit.folder.name}: note {(36, 38, 42)[i]} silent"


def test_bus_keeps_the_mixture_the_sum_of_the_stems() -> None:
    rng = np.random.default_rng(0)
    stems = rng.standard_normal((4, 16000)).astype(np.float32) * 0.1
    out = bus(np.random.default_rng(1), stems, 16000)
    mix = bus(np.random.default_rng(1), stems.sum(0, keepdims=True), 16000)  # the bus on the mixture alone
    assert not np.allclose(out, stems)
    # The same EQ, and the compressor keyed by the mixture in both: processing stems then summing
    # equals processing the mixture.
    np.testing.assert_allclose(out.sum(0), mix[0], atol=1e-4)


def test_varied_writing_has_meters_swing_and_lead_lines() -> None:
    styles = [midi.compose(np.random.default_rng(i), 8.0, "train", varied=True)[1].style for i in range(40)]
    assert {s["meter"] for s in styles} == {"3/4", "4/4"}
    assert any(s["swing"] > 0 for s in styles) and any(s["lead"] for s in styles)
    with pytest.raises(ValueError, match="training pieces"):
        midi.compose(np.random.default_rng(0), 8.0, "held-out", varied=True)


def test_no_reserved_package_or_transfer_font_in_the_pool() -> None:
    packages = [package for package, _ in SOUNDFONTS.values()] + [DRUMKIT_PACKAGE]
    assert not any(_reserved(p) for p in packages)
    paths = soundfont_paths(tuple(SOUNDFONTS))
    assert music_transfer.SOUNDFONT.resolve() not in {p.resolve() for p in paths}
    # Each file read is one its declared package installed (not a link to another package's font).
    for (package, _), path in zip(SOUNDFONTS.values(), paths):
        owner = subprocess.run(["dpkg", "-S", str(path.resolve())], capture_output=True, text=True).stdout
        if owner:  # the pretty_midi copy of TimGM6mb has no owner; a Debian file must be its package's
            assert owner.split(":")[0] == package, f"{path} belongs to {owner.strip()}"
    owner = subprocess.run(["dpkg", "-S", str(music_production.DRUMKIT_ROOT / DRUMKITS[0] / "drumkit.xml")],
                           capture_output=True, text=True).stdout
    assert owner.split(":")[0] == DRUMKIT_PACKAGE
    assert not any(_reserved(Path(p).name.lower()) for p in DRUMKITS)


def test_the_patch_set_renders_deterministically_and_on_time() -> None:
    import pretty_midi

    from separena.data.music import _PatchRenderer

    patches = _PatchRenderer(soundfont_paths(("freepats",))[0], 16000)
    assert patches.has_preset(0, 0) and patches.has_preset(128, 0)
    assert not patches.has_preset(0, 3) and not patches.has_preset(128, 8)  # freepats lacks both
    piano = pretty_midi.Instrument(0)
    piano.notes = [pretty_midi.Note(100, 60, 0.5, 0.9)]
    first, again = patches.render([piano], 16000), patches.render([piano], 16000)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (16000,) and first.dtype == np.float32
    assert np.abs(first[:7600]).max() < 1e-3 < np.abs(first[8000:12000]).max()  # the note starts at 0.5 s
