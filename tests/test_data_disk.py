"""On-disk readers: the wsj0-2mix / LibriMix / WHAMR! layout (mixture folder, source suffix, counts,
hidden files, split names, a LibriMix metadata CSV and WHAMR! lists read by asteroid) and
MUSDB18-HQ folders that are not MUSDB's."""

from __future__ import annotations

import csv
import json
import logging
import tempfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch
from asteroid.data import LibriMix  # the peer reader: a missing asteroid must fail, not skip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from separena.data.musdb import musdb18
from separena.data.disk import MixtureFolder
from separena.data.wsj0mix import wsj0_2mix
from separena.errors import AudioFileError, SeparenaError

RATE = 8000
N = 800  # 0.1 s at 8 kHz


def one_line(exc: BaseException) -> str:
    msg = str(exc)
    assert msg and "\n" not in msg, msg
    return msg


def _signals(seed: int, length: int = N) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A sine and a noise source and a noise track, float64, well below full scale."""
    rng = np.random.default_rng(seed)
    t = np.arange(length) / RATE
    s1 = 0.3 * np.sin(2 * np.pi * (200 + 50 * seed) * t)
    s2 = 0.2 * rng.uniform(-1, 1, length)
    noise = 0.2 * rng.uniform(-1, 1, length)
    return s1, s2, noise


def _librimix_split(split_dir: Path, names: list[str], *, folders=("mix_clean", "mix_both", "mix_single"),
                    lengths: list[int] | None = None) -> None:
    """A LibriMix split as the LibriMix scripts write it: 16-bit sources, mixtures the float sums."""
    for folder in (*folders, "s1", "s2", "noise"):
        (split_dir / folder).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        s1, s2, noise = _signals(i, (lengths or [N] * len(names))[i])
        mixes = {"mix_clean": s1 + s2, "mix_both": s1 + s2 + noise, "mix_single": s1 + noise}
        for folder, wav in (("s1", s1), ("s2", s2), ("noise", noise)):
            sf.write(split_dir / folder / f"{name}.wav", wav, RATE, subtype="PCM_16")
        for folder in folders:
            sf.write(split_dir / folder / f"{name}.wav", mixes[folder], RATE, subtype="PCM_16")


def _wsj0_split(split_dir: Path, names: list[str], mix_suffix: str = ".wav") -> None:
    for folder in ("mix", "s1", "s2"):
        (split_dir / folder).mkdir(parents=True, exist_ok=True)
    for i, name in enumerate(names):
        s1, s2, _ = _signals(i)
        sf.write(split_dir / "s1" / f"{name}.wav", s1, RATE, subtype="PCM_16")
        sf.write(split_dir / "s2" / f"{name}.wav", s2, RATE, subtype="PCM_16")
        sf.write(split_dir / "mix" / f"{name}{mix_suffix}", s1 + s2, RATE, subtype="PCM_16")


NAMES = ["61-70968-0000_8455-210777-0012", "121-121726-0005_3575-170457-0013", "237-134500-0001_1089-134686-0000"]


# -- the mixture folder ---------------------------------------------------------------------


def test_only_mix_single_is_refused_not_read_as_two_speakers(tmp_path: Path) -> None:
    _librimix_split(tmp_path / "tt", NAMES[:2], folders=("mix_single",))
    with pytest.raises(SeparenaError) as e:
        MixtureFolder(tmp_path, "tt", RATE, 2)
    msg = one_line(e.value)
    assert "mix_single" in msg and "mix_dir=" in msg and str(tmp_path / "tt") in msg
    # asked for explicitly, mix_single is speaker 1 plus noise: one source, s1
    with pytest.raises(SeparenaError, match=r"n_src=1, got 2") as e:
        MixtureFolder(tmp_path, "tt", RATE, 2, mix_dir="mix_single")
    one_line(e.value)
    single = MixtureFolder(tmp_path, "tt", RATE, 1, mix_dir="mix_single")
    assert len(single) == 2 and single[0].sources.shape == (1, N)


def test_only_mix_both_is_not_silently_the_noisy_task(tmp_path: Path) -> None:
    for split in ("tr", "cv", "tt"):
        _librimix_split(tmp_path / split, NAMES, folders=("mix_both",))
    with pytest.raises(SeparenaError, match=r"mix_dir='mix_both'") as e:
        wsj0_2mix(root=str(tmp_path))
    one_line(e.value)
    noisy = wsj0_2mix(root=str(tmp_path), mix_dir="mix_both")
    assert noisy.name.endswith("+mix_both") and len(noisy.test) == 3
    ex = noisy.test[0]
    assert float((ex.mix - ex.sources.sum(0)).abs().max()) > 0.05  # the noise is in the mixture only


def test_mix_folder_is_in_the_data_name(tmp_path: Path) -> None:
    for split in ("tr", "cv", "tt"):
        _librimix_split(tmp_path / split, NAMES)
    clean = wsj0_2mix(root=str(tmp_path))  # default for LibriMix: mix_clean
    assert clean.name.startswith("wsj0-2mix@") and clean.name.endswith("+mix_clean")
    noisy = wsj0_2mix(root=str(tmp_path), mix_dir="mix_both")
    assert noisy.name != clean.name and noisy.name.endswith("+mix_both")
    assert torch.equal(clean.test[1].sources, noisy.test[1].sources)
    assert not torch.equal(clean.test[1].mix, noisy.test[1].mix)
    with pytest.raises(SeparenaError, match=r"mix_nope: no such mixture folder; .*found mix_both, mix_clean") as e:
        wsj0_2mix(root=str(tmp_path), mix_dir="mix_nope")
    one_line(e.value)


def _whamr_split(split_dir: Path, names: list[str]) -> None:
    """A WHAMR! split: anechoic sources (the direct path), reverberant ones, noise, and the
    mixtures of each kind as float sums written in 16 bits."""
    room = np.r_[1.0, np.zeros(30), 0.5, np.zeros(20), -0.3]  # the direct path, then two reflections
    for i, name in enumerate(names):
        s1, s2, noise = _signals(i)
        wet = [np.convolve(s, room)[: len(s)] for s in (s1, s2)]
        files = {"s1_anechoic": s1, "s2_anechoic": s2, "s1_reverb": wet[0], "s2_reverb": wet[1], "noise": noise,
                 "mix_clean_anechoic": s1 + s2, "mix_both_anechoic": s1 + s2 + noise,
                 "mix_clean_reverb": wet[0] + wet[1], "mix_both_reverb": wet[0] + wet[1] + noise,
                 "mix_single_reverb": wet[0] + noise}
        for folder, wav in files.items():
            (split_dir / folder).mkdir(parents=True, exist_ok=True)
            sf.write(split_dir / folder / f"{name}.wav", 0.6 * wav, RATE, subtype="PCM_16")


def test_whamr_folders_are_read_with_their_source_suffix(tmp_path: Path) -> None:
    for split in ("tr", "cv", "tt"):
        _whamr_split(tmp_path / split, NAMES)
    with pytest.raises(SeparenaError, match=r"no mix/ or mix_clean/ folder.*mix_dir='mix_both_reverb' for "
                                            r"s1_reverb \+ s2_reverb \+ noise \(WHAMR!\)") as e:
        wsj0_2mix(root=str(tmp_path))
    one_line(e.value)
    with pytest.raises(SeparenaError, match=r"s1: missing source folder; expected 2 folders s1..s2 \(found "
                                            r"s1_anechoic/, s1_reverb/: pass source_suffix='_anechoic' for the direct "
                                            r"path \(WHAMR!'s reference\) or source_suffix='_reverb'") as e:
        wsj0_2mix(root=str(tmp_path), mix_dir="mix_both_reverb")
    one_line(e.value)
    whamr = wsj0_2mix(root=str(tmp_path), mix_dir="mix_both_reverb", source_suffix="_anechoic")
    assert whamr.name.endswith("+mix_both_reverb+s_anechoic") and not whamr.mix_is_sum
    ex = whamr.test[2]
    s1, s2, _ = _signals(NAMES.index(ex.name))
    np.testing.assert_allclose(ex.sources.numpy(), 0.6 * np.stack([s1, s2]), atol=2 ** -15)
    # reverberant mixtures are sums of the reverberant sources (checked), not of the anechoic ones
    separation = wsj0_2mix(root=str(tmp_path), mix_dir="mix_clean_reverb", source_suffix="_reverb")
    assert separation.mix_is_sum and separation.name != whamr.name
    assert not MixtureFolder(tmp_path, "tt", RATE, mix_dir="mix_clean_reverb", source_suffix="_anechoic").mix_is_sum
    assert not MixtureFolder(tmp_path, "tt", RATE, mix_dir="mix_clean_anechoic", source_suffix="_reverb").mix_is_sum
    assert MixtureFolder(tmp_path, "tt", RATE, mix_dir="mix_clean_anechoic", source_suffix="_anechoic").mix_is_sum
    with pytest.raises(SeparenaError, match=r"mix_single_reverb holds s1_reverb \+ noise .*expected n_src=1, got 2"):
        MixtureFolder(tmp_path, "tt", RATE, 2, mix_dir="mix_single_reverb", source_suffix="_anechoic")
    single = MixtureFolder(tmp_path, "tt", RATE, 1, mix_dir="mix_single_reverb", source_suffix="_anechoic")
    assert not single.mix_is_sum and single[0].sources.shape == (1, N)


def test_wsj0_mix_folder_keeps_its_name(tmp_path: Path) -> None:
    for split in ("tr", "cv", "tt"):
        _wsj0_split(tmp_path / split, NAMES)
    data = wsj0_2mix(root=str(tmp_path))
    assert data.name.startswith("wsj0-2mix@") and "+" not in data.name
    assert wsj0_2mix(root=str(tmp_path), mix_dir="mix").name == data.name


def test_mixture_that_is_not_the_sum_is_refused_with_the_residual(tmp_path: Path) -> None:
    _librimix_split(tmp_path / "tt", NAMES, folders=("mix_single",))
    (tmp_path / "tt" / "mix_single").rename(tmp_path / "tt" / "mix_clean")  # s1 + noise, labelled clean
    with pytest.raises(SeparenaError) as e:
        MixtureFolder(tmp_path, "tt", RATE, 2)
    msg = one_line(e.value)
    assert "not the sum of its sources" in msg and "mix_clean" in msg and NAMES[1] in msg  # first in sorted order
    assert "max |mix - (s1 + s2)| <= 9.2e-05" in msg and "got 0.396 (residual -3.3 dB" in msg
    # the noisy folders are not sums by definition: no check
    _librimix_split(tmp_path / "cv", NAMES, folders=("mix_both",))
    assert len(MixtureFolder(tmp_path, "cv", RATE, 2, mix_dir="mix_both")) == 3
    # a folder name the reader does not know is checked unless told otherwise
    (tmp_path / "cv" / "mix_both").rename(tmp_path / "cv" / "noisy")
    with pytest.raises(SeparenaError, match="not the sum of its sources"):
        MixtureFolder(tmp_path, "cv", RATE, 2, mix_dir="noisy")
    assert len(MixtureFolder(tmp_path, "cv", RATE, 2, mix_dir="noisy", mix_is_sum=False)) == 3


def test_sum_check_allows_16_bit_rounding_near_full_scale(tmp_path: Path) -> None:
    split = tmp_path / "tt"
    for folder in ("mix", "s1", "s2", "s3"):
        (split / folder).mkdir(parents=True)
    rng = np.random.default_rng(3)
    for i in range(4):
        src = rng.uniform(-1, 1, (3, N)) / 3.0001  # the sum reaches full scale, every sample rounds
        for k in range(3):
            sf.write(split / f"s{k + 1}" / f"{i}.wav", src[k], RATE, subtype="PCM_16")
        sf.write(split / "mix" / f"{i}.wav", src.sum(0), RATE, subtype="PCM_16")
    assert len(MixtureFolder(tmp_path, "tt", RATE, 3)) == 4


# -- counts, hidden files, upper-case suffixes, split names ------------------------------------


def test_fewer_mixtures_than_sources_is_refused_in_one_line(tmp_path: Path) -> None:
    _wsj0_split(tmp_path / "tt", [f"{i:03d}" for i in range(5)])
    for name in ("001", "003"):
        (tmp_path / "tt" / "mix" / f"{name}.wav").unlink()
    with pytest.raises(SeparenaError) as e:
        MixtureFolder(tmp_path, "tt", RATE)
    msg = one_line(e.value)
    assert "2 source files in s1/ have no mixture in mix/" in msg and "s1/001.wav" in msg
    assert "skip_unmatched=True" in msg


def test_skip_unmatched_reads_the_complete_mixtures_and_says_so(tmp_path: Path, caplog) -> None:
    _wsj0_split(tmp_path / "tt", [f"{i:03d}" for i in range(5)])
    (tmp_path / "tt" / "mix" / "001.wav").unlink()
    (tmp_path / "tt" / "s2" / "004.wav").unlink()
    with caplog.at_level(logging.WARNING, logger="separena.data.disk"):
        ms = MixtureFolder(tmp_path, "tt", RATE, skip_unmatched=True)
    assert [ms[i].name for i in range(len(ms))] == ["000", "002", "003"]
    notes = [r.getMessage() for r in caplog.records]
    assert len(notes) == 1 and "reading 3 of" in notes[0] and "004" in notes[0] and "001" in notes[0]


def test_missing_source_is_still_named(tmp_path: Path) -> None:
    _wsj0_split(tmp_path / "tt", ["a", "b", "c"])
    (tmp_path / "tt" / "s2" / "b.wav").unlink()
    with pytest.raises(AudioFileError, match="missing source file") as e:
        MixtureFolder(tmp_path, "tt", RATE)
    assert "s2/b.wav" in one_line(e.value) and "1 of 3 mixtures" in str(e.value)


def test_hidden_resource_forks_are_ignored(tmp_path: Path) -> None:
    _wsj0_split(tmp_path / "tt", ["a", "b"])
    for folder in ("mix", "s1"):
        (tmp_path / "tt" / folder / "._a.wav").write_bytes(b"\x00\x05\x16\x07 resource fork")
    (tmp_path / "tt" / "mix" / ".DS_Store").write_bytes(b"\x00")
    ms = MixtureFolder(tmp_path, "tt", RATE)
    assert [ms[i].name for i in range(len(ms))] == ["a", "b"]


def test_upper_case_wav_suffix_is_accepted(tmp_path: Path) -> None:
    _wsj0_split(tmp_path / "tt", ["a", "b"], mix_suffix=".WAV")
    (tmp_path / "tt" / "s1" / "b.wav").rename(tmp_path / "tt" / "s1" / "b.WAV")
    ms = MixtureFolder(tmp_path, "tt", RATE)
    assert len(ms) == 2 and [ms[i].name for i in range(2)] == ["a", "b"]
    assert ms.lengths() == [N, N]
    assert torch.allclose(ms[1].mix, ms[1].sources.sum(0), atol=1e-4)


def test_same_name_twice_in_a_folder_is_refused(tmp_path: Path) -> None:
    _wsj0_split(tmp_path / "tt", ["a", "b"])
    src = tmp_path / "tt" / "mix" / "a.wav"
    (tmp_path / "tt" / "mix" / "a.WAV").write_bytes(src.read_bytes())
    if len(list((tmp_path / "tt" / "mix").iterdir())) < 3:
        pytest.skip("case-insensitive file system")
    with pytest.raises(SeparenaError, match=r"a\.WAV and a\.wav") as e:
        MixtureFolder(tmp_path, "tt", RATE)
    one_line(e.value)


def test_librimix_split_names_are_hinted(tmp_path: Path) -> None:
    for split in ("train-360", "train-100", "dev", "test"):
        _librimix_split(tmp_path / split, NAMES[:1], folders=("mix_clean",))
    (tmp_path / "metadata").mkdir()
    with pytest.raises(SeparenaError) as e:
        wsj0_2mix(root=str(tmp_path))
    msg = one_line(e.value)
    assert "'tr'" in msg and "found dev, metadata, test, train-100, train-360" in msg
    assert "train_split='train-360', valid_split='dev', test_split='test'" in msg
    data = wsj0_2mix(root=str(tmp_path), train_split="train-360", valid_split="dev", test_split="test")
    assert len(data.test) == 1


# -- the same mixtures as asteroid's LibriMix reads from its metadata CSV --------------------


def test_reader_matches_asteroid_librimix_on_its_metadata_csv(tmp_path: Path) -> None:
    root = tmp_path / "Libri2Mix" / "wav8k" / "min"
    lengths = [N, N + 160, N - 80]
    _librimix_split(root / "test", NAMES, lengths=lengths)
    csv_dir = tmp_path / "metadata"
    csv_dir.mkdir()
    with open(csv_dir / "mixture_test_mix_clean.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["mixture_ID", "mixture_path", "source_1_path", "source_2_path", "length"])
        for name, length in reversed(list(zip(NAMES, lengths))):  # another order than ours
            w.writerow([name, root / "test" / "mix_clean" / f"{name}.wav", root / "test" / "s1" / f"{name}.wav",
                        root / "test" / "s2" / f"{name}.wav", length])
    peer = LibriMix(str(csv_dir), task="sep_clean", sample_rate=RATE, n_src=2, segment=None, return_id=False)
    theirs = {}
    for i in range(len(peer)):
        mix, sources = peer[i]
        theirs[peer.df.iloc[i]["mixture_ID"]] = (mix, sources)
    ours = wsj0_2mix(root=str(root), train_split="test", valid_split="test", test_split="test").test
    assert len(ours) == len(theirs) == 3
    assert sorted(ours[i].name for i in range(len(ours))) == sorted(theirs)
    for i in range(len(ours)):
        ex = ours[i]
        mix, sources = theirs[ex.name]
        assert ex.mix.dtype == mix.dtype == torch.float32
        assert torch.equal(ex.mix, mix) and torch.equal(ex.sources, sources)


def test_reader_matches_asteroid_whamr_on_its_json_lists(tmp_path: Path) -> None:
    from asteroid.data import WhamRDataset

    root = tmp_path / "whamr" / "wav8k" / "min"
    _whamr_split(root / "tt", NAMES)
    json_dir = tmp_path / "json"
    json_dir.mkdir()
    for folder in ("mix_both_reverb", "s1_anechoic", "s2_anechoic"):  # the lists asteroid's recipe writes
        files = [(str(root / "tt" / folder / f"{n}.wav"), N) for n in reversed(NAMES)]  # another order than ours
        (json_dir / f"{folder}.json").write_text(json.dumps(files))
    peer = WhamRDataset(str(json_dir), task="sep_reverb_noisy", sample_rate=RATE, segment=None)
    theirs = {Path(peer.mix[i][0]).stem: peer[i] for i in range(len(peer))}
    ours = wsj0_2mix(root=str(root), train_split="tt", valid_split="tt", test_split="tt",
                     mix_dir="mix_both_reverb", source_suffix="_anechoic").test
    assert sorted(ours[i].name for i in range(len(ours))) == sorted(theirs) and len(theirs) == 3
    for ex in ours:
        mix, sources = theirs[ex.name]
        assert torch.equal(ex.mix, mix) and torch.equal(ex.sources, sources)


# -- property: any mix of missing, extra and hidden files -> a clean set or one clean error --


@st.composite
def _layouts(draw):
    names = draw(st.lists(st.sampled_from(["a", "b", "c", "d"]), min_size=0, max_size=4, unique=True))
    folders = {}
    for folder in ("mix", "s1", "s2"):
        present = draw(st.lists(st.sampled_from(names), unique=True)) if names else []
        upper = draw(st.sets(st.sampled_from(names))) if names else set()
        hidden = draw(st.booleans())
        folders[folder] = (present, upper, hidden)
    extra = draw(st.sampled_from(["", "x", "e"]))  # one more file in a source folder only
    skip = draw(st.booleans())
    return folders, extra, skip


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(layout=_layouts())
def test_any_layout_opens_cleanly_or_fails_in_one_line(layout) -> None:
    folders, extra, skip = layout
    with tempfile.TemporaryDirectory() as tmp:
        split = Path(tmp) / "tt"
        for folder, (present, upper, hidden) in folders.items():
            (split / folder).mkdir(parents=True)
            for name in present:
                s1, s2, _ = _signals(ord(name))
                wav = {"mix": s1 + s2, "s1": s1, "s2": s2}[folder]
                suffix = ".WAV" if name in upper else ".wav"
                sf.write(split / folder / f"{name}{suffix}", wav, RATE, subtype="PCM_16")
            if hidden:
                (split / folder / "._a.wav").write_bytes(b"\x00\x05\x16\x07")
        if extra:
            s1, _, _ = _signals(7)
            sf.write(split / "s1" / f"{extra}.wav", s1, RATE, subtype="PCM_16")
        mix_names = set(folders["mix"][0])
        src_names = [set(folders["s1"][0]) | ({extra} if extra else set()), set(folders["s2"][0])]
        complete = mix_names & src_names[0] & src_names[1]
        try:
            ms = MixtureFolder(Path(tmp), "tt", RATE, skip_unmatched=skip)
        except SeparenaError as e:
            one_line(e)
            assert not complete or (not skip and not (mix_names == src_names[0] == src_names[1]))
            return
        expected = complete if skip else mix_names
        assert [ms[i].name for i in range(len(ms))] == sorted(expected)
        assert skip or mix_names == src_names[0] == src_names[1]
        for i in range(len(ms)):
            ex = ms[i]
            assert ex.sources.shape == (2, N)
            assert torch.allclose(ex.mix, ex.sources.sum(0), atol=1e-3)


# -- MUSDB18-HQ layout with other tracks, and mono files -------------------------------------


def _hq_track(folder: Path, seconds: float, seed: int, channels: int = 2) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    shape = (int(seconds * 44100), channels) if channels > 1 else (int(seconds * 44100),)
    stems = {name: 0.1 * rng.standard_normal(shape) for name in ("vocals", "bass", "drums", "other")}
    for name, audio in stems.items():
        sf.write(folder / f"{name}.wav", audio, 44100, subtype="PCM_16")
    sf.write(folder / "mixture.wav", sum(stems.values()), 44100, subtype="PCM_16")


def _hq_root(root: Path, n_train: int, channels: int = 2, first: str | None = None) -> Path:
    for i in range(n_train):
        name = first if first and i == 0 else f"Band {i} - Song {i}"
        _hq_track(root / "train" / name, 0.3, i, channels)
    _hq_track(root / "test" / "Band T - Test Song", 0.3, 99, channels)
    return root


def test_musdb_hq_folder_of_other_tracks_falls_back_to_a_seeded_split(tmp_path: Path, caplog) -> None:
    root = _hq_root(tmp_path / "hq", 7)
    kw = dict(root=str(root), sample_rate=8000, chunk_seconds=0.1, cache_dir=str(tmp_path / "cache"), progress=False)
    with caplog.at_level(logging.WARNING, logger="separena.data.musdb"):
        data = musdb18(**kw)
    notes = [r.getMessage() for r in caplog.records if r.name == "separena.data.musdb"]
    assert len(notes) == 1 and "seeded" in notes[0] and "valid_seed=0" in notes[0]
    valid = {data.valid[i].name.rsplit("-", 1)[0] for i in range(len(data.valid))}
    assert len(valid) == 1 and len(data.valid) == 3  # 1 of 7 tracks, 3 chunks of 0.1 s
    again = musdb18(**kw)
    assert again.name == data.name
    other = musdb18(**{**kw, "valid_seed": 1})
    other_valid = {other.valid[i].name.rsplit("-", 1)[0] for i in range(len(other.valid))}
    assert other.name != data.name and other_valid != valid


def test_musdb_hq_folder_with_too_few_tracks_for_a_split_is_one_line(tmp_path: Path) -> None:
    root = _hq_root(tmp_path / "hq", 1)
    with pytest.raises(SeparenaError, match=r"1 track") as e:
        musdb18(root=str(root), sample_rate=8000, chunk_seconds=0.1, cache_dir=str(tmp_path / "cache"),
                progress=False)
    one_line(e.value)


def test_musdb_hq_mono_files_are_read(tmp_path: Path) -> None:
    root = _hq_root(tmp_path / "hq", 3, channels=1, first="Actions - One Minute Smile")  # musdb's split holds
    data = musdb18(root=str(root), sample_rate=8000, chunk_seconds=0.1, cache_dir=str(tmp_path / "cache"),
                   progress=False)
    ex = data.test[0]
    assert ex.sources.shape == (4, 800) and torch.equal(ex.mix, ex.sources.sum(0))
    # the mono stem, resampled, is what was written
    ref, rate = sf.read(root / "test" / "Band T - Test Song" / "vocals.wav", dtype="float64")
    assert rate == 44100 and ref.ndim == 1
    from scipy.signal import resample_poly

    expected = resample_poly(ref, 80, 441)[:800]
    assert np.abs(ex.sources[0].numpy() - expected).max() < 2e-4
