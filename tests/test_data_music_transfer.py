"""midi-4stem's ``transfer`` test set: human-composed songs rendered with another soundfont."""

from __future__ import annotations

import functools
import hashlib
import json
import re
import subprocess
from pathlib import Path

import pytest
import torch

from separena import SeparenaError
from separena.data import music, music_transfer
from separena.data.music import SOURCES, find_soundfont, midi_4stem, transfer_kit
from separena.data.music_transfer import MIDI_PACKAGES, SOUNDFONT, SOUNDFONT_PACKAGE, assign_stems, transfer_set

REPO = Path(__file__).resolve().parents[1]
SECONDS = 1.5
# A few real songs of each package, linked into a fake system root with dpkg lists naming them.
SONGS = {"planetblupi-music-midi": ["music006.mid"], "simutrans-data": ["01-Simutrans-Main-Theme.mid"],
         "mma": ["aria/barb.mid", "tutorial/fella1.mid"]}  # fella1 has no melody: skipped

pytestmark = pytest.mark.skipif(
    not SOUNDFONT.is_file() or not all((Path(MIDI_PACKAGES[p][1]) / SONGS[p][0]).is_file() for p in SONGS),
    reason="the transfer set's Debian packages are not installed (scripts/setup.sh installs them)")


@pytest.fixture(scope="module")
def system_root(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("root")
    info = root / "var" / "lib" / "dpkg" / "info"
    info.mkdir(parents=True)
    for package, names in SONGS.items():
        paths = [MIDI_PACKAGES[package][1] + name for name in names]
        for p in paths:
            (root / p.lstrip("/")).parent.mkdir(parents=True, exist_ok=True)
            (root / p.lstrip("/")).symlink_to(p)
        (info / f"{package}.list").write_text("\n".join(paths) + "\n")
    (root / SOUNDFONT.parent.relative_to("/")).mkdir(parents=True)
    (root / SOUNDFONT.relative_to("/")).symlink_to(SOUNDFONT)
    return root


@pytest.fixture(scope="module")
def built(system_root, tmp_path_factory):
    return transfer_set(transfer_kit(), seconds=SECONDS, cache_dir=str(tmp_path_factory.mktemp("tr-a")), progress=False,
                        system_root=system_root)


def test_excerpts_are_4_stem_mixtures_that_sum(built) -> None:
    mixtures, _ = built
    assert len(mixtures) >= 3
    for ex in mixtures:
        assert ex.sources.shape == (4, int(SECONDS * 16000))
        assert torch.equal(ex.mix, ex.sources.sum(0))
        rms = ex.sources.square().mean(-1).sqrt()
        assert (rms > 1e-3).all(), f"{ex.name}: silent stem, RMS per source {rms.tolist()}"
        assert ex.mix.abs().max() <= 0.951


def test_deterministic_rebuild(built, system_root, tmp_path) -> None:
    mixtures, digest = built
    again, digest2 = transfer_set(transfer_kit(), seconds=SECONDS, cache_dir=str(tmp_path), progress=False, system_root=system_root)
    assert digest == digest2 and len(again) == len(mixtures)
    for a, b in zip(mixtures, again):
        assert a.name == b.name and torch.equal(a.sources, b.sources)  # samples, not file hashes


def test_another_soundfont_renders_the_same_excerpts(built, system_root, tmp_path) -> None:
    mixtures, digest = built
    other, digest2 = transfer_set(transfer_kit(), seconds=SECONDS, cache_dir=str(tmp_path), progress=False,
                                  system_root=system_root, soundfont=find_soundfont("fluidr3"))
    assert digest2 != digest and [ex.name for ex in other] == [ex.name for ex in mixtures]
    for a, b in zip(mixtures, other):
        assert not torch.equal(a.sources, b.sources)
        assert (b.sources.square().mean(-1).sqrt() > 1e-3).all()


def test_every_window_or_a_few_per_song() -> None:
    import pretty_midi

    path = Path(MIDI_PACKAGES["simutrans-data"][1]) / SONGS["simutrans-data"][0]
    stems = assign_stems(pretty_midi.PrettyMIDI(str(path)).instruments)
    every = music_transfer.song_windows(stems, 6.0, per_song=None)
    few = music_transfer.song_windows(stems, 6.0)
    assert len(every) > len(few) == music_transfer.PER_SONG and set(few) <= set(every)


def test_songs_come_only_from_the_named_packages(built, system_root) -> None:
    mixtures, _ = built
    meta = json.loads((mixtures.root / "meta.json").read_text())
    assert meta["soundfont"] == [SOUNDFONT_PACKAGE, SOUNDFONT.name]
    listed = {line for p in MIDI_PACKAGES for line in
              (system_root / "var/lib/dpkg/info" / f"{p}.list").read_text().split()}
    assert {e["file"] for e in meta["excerpts"]} <= {str(system_root / p.lstrip("/")) for p in listed}
    assert {e["package"] for e in meta["excerpts"]} == set(SONGS)  # every source gives excerpts
    skipped = {Path(s["file"]).name: s["skipped"] for s in meta["songs"]}
    assert skipped["fella1.mid"] == "a stem has no track"
    for e in meta["excerpts"]:
        assert e["vocal_program"] in music_transfer.VOICE_PROGRAMS


def test_transfer_soundfont_is_not_a_training_soundfont(tmp_path) -> None:
    trained = {find_soundfont("auto").resolve(), find_soundfont("timgm6mb").resolve()}
    if music.FLUIDR3.is_file():
        trained.add(find_soundfont("fluidr3").resolve())
    assert SOUNDFONT.resolve() not in trained
    assert SOUNDFONT.name not in {p.name for p in trained}
    sizes = {p.stat().st_size for p in trained}
    assert SOUNDFONT.stat().st_size not in sizes  # not a renamed copy either
    with pytest.raises(SeparenaError, match=r"^midi-4stem: soundfont sf_GMbank.sf2 is the transfer set's"):
        midi_4stem(cache_dir=str(tmp_path), soundfont=str(SOUNDFONT), n_train=1, n_valid=1, n_test=1,
                   train_seconds=1.0, eval_seconds=1.0, progress=False)


def test_midi_4stem_reports_transfer_as_an_extra_test_set(system_root, monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(music_transfer, "transfer_set",
                        functools.partial(music_transfer.transfer_set, system_root=system_root))
    tiny = dict(n_train=1, n_valid=1, n_test=1, train_seconds=1.5, eval_seconds=SECONDS, progress=False,
                cache_dir=str(tmp_path))
    plain = midi_4stem(transfer_set=False, **tiny)
    data = midi_4stem(**tiny)
    assert plain.extra_tests == {} and set(data.test_sets()) == {"test", "transfer"}
    assert data.name != plain.name  # the transfer set is part of the data's name
    assert data.test.root == plain.test.root  # ... but not of the main cache: nothing rebuilt
    assert torch.equal(data.test[0].sources, plain.test[0].sources)
    assert data.extra_tests["transfer"][0].sources.shape == (len(SOURCES), int(SECONDS * 16000))


def test_missing_packages_are_one_line_errors(tmp_path) -> None:
    with pytest.raises(SeparenaError, match=r"^midi-4stem: the transfer set needs the Debian package\(s\) "
                                            r"planetblupi-music-midi simutrans-data mma csound-soundfont "
                                            r"\(apt-get install .*\), or transfer_set=False$"):
        transfer_set(transfer_kit(), system_root=tmp_path, cache_dir=str(tmp_path))


def test_stem_rule() -> None:
    import pretty_midi

    def inst(program, pitches, drum=False, step=0.5, length=0.45):
        i = pretty_midi.Instrument(program, is_drum=drum)
        i.notes = [pretty_midi.Note(90, p, k * step, k * step + length) for k, p in enumerate(pitches)]
        return i

    drums = inst(0, [36, 38] * 20, drum=True)
    bass = inst(33, [40] * 40)
    low_tuba = inst(58, [36, 38] * 20)  # not a bass program, but monophonic and low: bass
    flute = inst(73, [72, 74] * 20)  # a solo wind melody
    choir = inst(52, [67, 69] * 20)  # a voice-like melody ranks first
    piano = inst(0, [60, 64, 67] * 20, step=0.0, length=4.0)  # chords: other
    stems = assign_stems([drums, bass, low_tuba, flute, choir, piano])
    assert stems["drums"] == [drums] and stems["bass"] == [bass, low_tuba]
    assert stems["vocals"] == [choir, flute] and stems["other"] == [piano]
    assert assign_stems([drums, bass, piano]) is None  # no melody: no excerpt


# Names of the Debian packages reserved for independent evaluation, as (SHA-256 prefix, length,
# name-prefix?), so that this file never spells them. None may appear in the library, plugins,
# scripts, docs or configuration (tests may hold guard lists of them).
RESERVED = [("91d83a94b6ee894d00f2aebf5c7bf8bf", 27, True), ("25b095b6896736c1a5119d2aac644eee", 22, False),
            ("5a165156ddfa44a0acf79cd8115060b6", 8, False), ("3119e72374266f0b567ed79d43cd2b07", 15, False),
            ("0b958ea65c2e6773db17fd238ec89e30", 15, True), ("101cb8e9f25de7463cd248b0b5aa01eb", 21, True),
            ("311149f4073a285bd84f5ed993974640", 30, False)]


def _reserved(token: str) -> bool:
    for digest, n, prefix in RESERVED:
        part = token[:n] if prefix else token
        if len(part) == n and hashlib.sha256(part.encode()).hexdigest()[:32] == digest:
            return True
    return False


def test_no_reserved_package_is_used_or_named() -> None:
    assert not any(_reserved(p) for p in [*MIDI_PACKAGES, SOUNDFONT_PACKAGE])
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True).stdout.split()
    files.append(str(Path(music_transfer.__file__).relative_to(REPO)))
    hits = []
    for name in sorted(set(files)):
        path = REPO / name
        if name.startswith("tests/") or not path.is_file() or \
                path.suffix not in {".py", ".md", ".sh", ".yaml", ".yml", ".toml", ".txt", ""}:
            continue
        for token in set(re.findall(r"[a-z0-9][a-z0-9.+_-]*", path.read_text(errors="replace").lower())):
            if _reserved(token):
                hits.append(name)
    assert not hits, f"files naming a reserved package: {hits}"
