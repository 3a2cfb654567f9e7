"""Real recorded speech from Debian packages (separena.data.real).

Decoding tests run on a small copy of the installed packages (a few files per speaker, under a
fake filesystem root with its own dpkg file lists), so they stay fast; they need the packages
of ``REAL_PACKAGES`` installed, as ``scripts/setup.sh`` does.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from separena.data import real, speech
from separena.data.pool import LEVEL_DB
from separena.data.real import REAL_PACKAGES, build_real_dev, real_dev, real_speech_pool, speaker_catalogue
from separena.errors import SeparenaError

FILES_PER_SPEAKER = 3
SR = 8000
REPO = Path(__file__).resolve().parents[1]

# Debian packages set aside for independent evaluation: never used, installed or named in the
# project outside tests/ (this list lives here only).
RESERVED = (
    "asterisk-core-sounds-", "asterisk-prompt-it-menardi", "fillets-ng-data", "openttd-openmsx",
    "freedoom", "musescore-general-soundfont", "avldrums.lv2-soundfont",
)


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """A filesystem root with every package "installed" but only a few files per speaker."""
    root = tmp_path_factory.mktemp("sysroot")
    files = real._catalogue(Path("/"))
    per_speaker: dict[str, list] = {}
    for f in files:
        per_speaker.setdefault(f.speaker, [])
        if len(per_speaker[f.speaker]) < FILES_PER_SPEAKER:
            per_speaker[f.speaker].append(f)
    listed: dict[str, set[str]] = {p: set() for p in REAL_PACKAGES}
    members: dict[Path, list[str]] = {}
    for fs in per_speaker.values():
        for f in fs:
            installed = "/" + str(f.path.relative_to("/"))
            listed[f.package].add(installed)
            if f.member is None:
                dst = root / installed.lstrip("/")
                dst.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(f.path, dst)
            else:
                members.setdefault(f.path, []).append(f.member)
    for src, names in members.items():
        dst = root / str(src).lstrip("/")
        dst.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
            for name in names:
                zout.writestr(name, zin.read(name))
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    for pkg, paths in listed.items():
        (info / f"{pkg}.list").write_text("\n".join(sorted(paths)) + "\n")
    return root


@pytest.fixture(scope="module")
def cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cache")


def test_missing_packages_error_names_them_and_the_apt_command(tmp_path):
    info = tmp_path / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    (info / "klettres-data.list").write_text("/usr/share/klettres\n")
    with pytest.raises(SeparenaError) as err:
        real_speech_pool("train", cache_dir=tmp_path / "c", system_root=tmp_path)
    msg = str(err.value)
    assert "\n" not in msg
    missing = [p for p in REAL_PACKAGES if p != "klettres-data"]
    assert f"apt-get install -y {' '.join(missing)}" in msg
    assert "klettres-data" not in msg


def test_unknown_split(fake_root, cache):
    with pytest.raises(SeparenaError, match="unknown split"):
        real_speech_pool("test", cache_dir=cache, system_root=fake_root)  # type: ignore[arg-type]


def test_installed_speakers_are_disjoint_and_cover_both_splits():
    cat = speaker_catalogue()
    train = {s for s, v in cat.items() if v["split"] == "train"}
    dev = {s for s, v in cat.items() if v["split"] == "real-dev"}
    assert not train & dev
    assert dev == set(real.REAL_DEV_SPEAKERS)
    assert len(train) >= 40 and len(dev) >= 8
    assert {v["package"] for s, v in cat.items() if s in train} >= {"klettres-data", "tuxpaint-stamps-default"}


def test_pool_splits_disjoint_normalised_and_cached(fake_root, cache):
    train = real_speech_pool("train", SR, cache, system_root=fake_root)
    dev = real_speech_pool("real-dev", SR, cache, system_root=fake_root)
    assert {u.speaker for u in train}.isdisjoint({u.speaker for u in dev})
    assert {u.speaker for u in dev} == set(real.REAL_DEV_SPEAKERS)
    for u in train + dev:
        assert u.waveform.dtype == torch.float32 and u.waveform.ndim == 1
        assert len(u.waveform) >= real.MIN_SECONDS * SR
        assert u.speaker.startswith(u.package + "/")
        assert float(u.waveform.abs().max()) < 1.0
    assert len(list(cache.glob("real-speech-*"))) == 1  # one content-hash folder, no temp left over
    assert not list(cache.glob(".real-speech-*"))
    again = real_speech_pool("real-dev", SR, cache, system_root=fake_root)  # from the cache
    assert [u.speaker for u in again] == [u.speaker for u in dev]
    assert all(torch.equal(a.waveform, b.waveform) for a, b in zip(again, dev))


def test_real_dev_is_deterministic_and_wsj0_style(fake_root, cache, tmp_path):
    kw = dict(sample_rate=SR, n_mixtures=8, seconds=1.5, cache_dir=cache, system_root=fake_root)
    a = real_dev(root=tmp_path / "a", seed=3, **kw)
    b = real_dev(root=tmp_path / "b", seed=3, **kw)
    c = real_dev(root=tmp_path / "c", seed=4, **kw)
    assert (tmp_path / "a/tt/mix").is_dir() and (tmp_path / "a/tt/s1").is_dir() and (tmp_path / "a/tt/s2").is_dir()
    assert len(a) == len(b) == 8
    assert a.names == b.names
    differs = False
    dev = set(real.REAL_DEV_SPEAKERS)
    for i in range(len(a)):
        ea, eb, ec = a[i], b[i], c[i]
        assert torch.equal(ea.sources, eb.sources)
        differs |= not torch.equal(ea.sources, ec.sources)
        assert ea.sources.shape == (2, int(1.5 * SR))
        # the mixture file is exactly the sum of the source files
        from separena.data.audio import read_wav

        mix_file = read_wav(tmp_path / "a/tt/mix" / f"{a.names[i]}", SR)
        assert torch.allclose(mix_file, ea.sources.sum(0), atol=1e-6)
        rms = ea.sources.pow(2).mean(-1).sqrt()
        assert abs(20 * torch.log10(rms[0] / rms[1]).item()) <= LEVEL_DB + 0.01
        _, s1, s2 = ea.name.split("__")  # the two speaker ids, "/" written as "-"
        ids = {s.replace("/", "-") for s in dev}
        assert s1 != s2 and s1 in ids and s2 in ids, ea.name  # two different real-dev speakers
    assert differs


def test_cached_real_dev_is_reused(fake_root, cache):
    kw = dict(sample_rate=SR, n_mixtures=4, seconds=1.0, cache_dir=cache, system_root=fake_root)
    first = build_real_dev(**kw)
    stamp = (first / "tt/meta.json").stat().st_mtime_ns
    assert build_real_dev(**kw) == first
    assert (first / "tt/meta.json").stat().st_mtime_ns == stamp
    assert first.parent == cache


def _project_files() -> list[Path]:
    try:
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
        untracked = subprocess.run(
            ["git", "ls-files", "-z", "--others", "--exclude-standard", "--", "core", "plugins", "docs", "scripts",
             "registry.yaml", "pyproject.toml"], cwd=REPO, capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        pytest.skip("not a git checkout")
    names = {n for n in (tracked + untracked).decode().split("\0") if n}
    return [REPO / n for n in sorted(names) if "tests" not in Path(n).parts]


def test_reserved_packages_are_never_named_outside_tests():
    hits = []
    for path in _project_files():
        if not path.is_file():
            continue
        text = path.read_bytes().lower()
        hits += [f"{path.relative_to(REPO)}: {name}" for name in RESERVED if name.encode() in text]
    assert not hits, "reserved evaluation packages named: " + "; ".join(hits)


def test_real_speech_is_speech_like(fake_root, cache):
    """Sanity: pooled real-dev audio has energy concentrated in the speech band."""
    dev = real_speech_pool("real-dev", SR, cache, system_root=fake_root)
    x = torch.cat([u.waveform for u in dev]).numpy().astype(np.float64)
    spec = np.abs(np.fft.rfft(x)) ** 2
    f = np.fft.rfftfreq(len(x), 1 / SR)
    assert spec[(f > 100) & (f < 3800)].sum() / spec.sum() > 0.9


# ---------------------------------------------------------------------------------------------
# espeak-2mix with real sources and real-dev; the registered `real-dev` dataset

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
TINY = dict(n_train_speakers=6, n_valid_speakers=4, n_test_speakers=4, utterances_per_speaker=2,
            sentences_min=1, sentences_max=1, n_valid=4, n_test=6, test_seconds=1.5,
            n_valid_variants=2, n_test_variants=2, n_valid_languages=1, n_test_languages=1, reverb=0.0)


@pytest.fixture
def on_fake_root(fake_root, cache, monkeypatch):
    """Route every real-speech lookup of the builders to the small fake installation."""
    pool, dev = real.real_speech_pool, real.real_dev

    def pool_(split, sample_rate=SR, cache_dir=None, **kw):
        return pool(split, sample_rate, cache, system_root=fake_root)

    def dev_(**kw):
        return dev(**{**kw, "cache_dir": cache, "system_root": fake_root, "n_mixtures": 6, "seconds": 1.5})

    monkeypatch.setattr(real, "real_speech_pool", pool_)
    monkeypatch.setattr(real, "real_dev", dev_)
    monkeypatch.setattr(speech, "_warm_real_cache", lambda *a, **k: None)  # it decodes the real packages
    return fake_root


@needs_espeak
def test_espeak_reports_real_dev_and_trains_on_disjoint_real_speakers(on_fake_root, tmp_path):
    from separena.data.speech import espeak_2mix

    # the transfer set has its own test (test_data_transfer.py)
    data = espeak_2mix(cache_dir=str(tmp_path), real_fraction=0.5, transfer_set=False, **TINY)
    assert set(data.test_sets()) == {"test", "real-dev"}
    dev = data.extra_tests["real-dev"]
    assert len(dev) == 6 and dev[0].sources.shape == (2, int(1.5 * SR))
    dev_ids = {s.replace("/", "-") for s in real.REAL_DEV_SPEAKERS}
    assert all(set(dev[i].name.split("__")[1:]) <= dev_ids for i in range(len(dev)))
    train_real = set(data.train.real.speakers)
    assert train_real and not train_real & set(real.REAL_DEV_SPEAKERS)  # disjoint speakers
    assert train_real == {s for s, v in speaker_catalogue(system_root=on_fake_root).items() if v["split"] == "train"}
    a = data.train.batch(0, 4, 8, 4000)
    b = espeak_2mix(cache_dir=str(tmp_path), real_fraction=0.5, transfer_set=False, **TINY).train.batch(0, 4, 8, 4000)
    assert torch.equal(a[0], b[0]) and torch.equal(a[1], b[1])  # deterministic across builds
    off = espeak_2mix(cache_dir=str(tmp_path), real_fraction=0.0, real_dev_set=False, **TINY)
    assert off.extra_tests == {} and off.train.real is None and off.name != data.name


def test_espeak_without_real_packages_says_what_to_install(tmp_path, monkeypatch):
    from separena.data.speech import espeak_2mix

    empty = tmp_path / "root"
    (empty / "var/lib/dpkg/info").mkdir(parents=True)
    dev = real.real_dev
    monkeypatch.setattr(real, "real_dev", lambda **kw: dev(**{**kw, "system_root": empty}))
    monkeypatch.setattr(speech, "_warm_real_cache", lambda *a, **k: None)
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed")
    with pytest.raises(SeparenaError, match="apt-get install -y") as err:
        espeak_2mix(cache_dir=str(tmp_path / "c"), real_fraction=0.0, **TINY)
    assert "\n" not in str(err.value) and "klettres-data" in str(err.value)


def test_registered_real_dev_dataset(on_fake_root, cache):
    import separena

    builder = separena.default_registry().dataset("real-dev").builder()
    data = builder(sample_rate=SR, cache_dir=str(cache), n_test=6, n_valid=4, test_seconds=1.5)
    assert data.name.startswith("real-dev@") and data.n_src == 2 and len(data.test) == 6 and len(data.valid) == 6
    assert set(data.train.pool.speakers).isdisjoint(real.REAL_DEV_SPEAKERS)
    mix, src = data.train.batch(0, 0, 4, 8000)
    assert mix.shape == (4, 8000) and src.shape == (4, 2, 8000) and torch.isfinite(mix).all()
    assert torch.equal(mix, data.train.batch(0, 0, 4, 8000)[0])


def test_carried_pool_stands_in_for_the_packages(fake_root, cache, tmp_path, monkeypatch):
    """A machine without the packages (or ffmpeg) reads the pool from its carried Opus copy:
    the same speakers, splits and utterance lengths, audio close to the original, and a name
    of its own for everything built from it."""
    import json

    from separena.data import carry

    monkeypatch.delenv(carry.CARRIED_ENV, raising=False)
    kit = tmp_path / "kit"
    [folder] = carry.carry_pools(kit, sample_rate=SR, cache_dir=cache, system_root=fake_root, catalogues=(real.REAL,))
    source = real.pool_cache(SR, cache, system_root=fake_root)
    assert folder.name == f"{source.name}+opus12k" and carry.is_carried(folder) and not carry.is_carried(source)
    assert json.loads((folder / "meta.json").read_text())["carried"]["from"] == source.name
    opus = sum(f.stat().st_size for f in folder.glob("*.opus"))
    assert 0 < opus < sum(f.stat().st_size for f in source.glob("*.wav")) / 8  # 12 kb/s against 128 kb/s
    original = {split: real_speech_pool(split, SR, cache, system_root=fake_root) for split in ("train", "real-dev")}

    monkeypatch.setenv(carry.CARRIED_ENV, str(kit))
    bare = tmp_path / "bare"  # no package installed at all
    (bare / "var/lib/dpkg/info").mkdir(parents=True)
    monkeypatch.setenv("PATH", str(tmp_path / "no-programs"))  # no ffmpeg either: libsndfile decodes
    assert real.pool_cache(SR, tmp_path / "c", system_root=bare) == folder
    for split, utterances in original.items():
        carried = real_speech_pool(split, SR, tmp_path / "c", system_root=bare)
        assert [(u.speaker, len(u.waveform)) for u in carried] == [(u.speaker, len(u.waveform)) for u in utterances]
        x, y = (torch.cat([u.waveform for u in us]).double() for us in (utterances, carried))
        assert 10 * torch.log10(x.pow(2).sum() / (x - y).pow(2).sum()) > 6  # a lossy copy, not noise
    dev = build_real_dev(sample_rate=SR, n_mixtures=3, seconds=1.0, cache_dir=tmp_path / "c", system_root=bare)
    assert dev.parent == tmp_path / "c"  # in the cache, not beside the carried pool
    assert json.loads((dev / "tt" / "meta.json").read_text())["pool"] == folder.name
    with pytest.raises(SeparenaError, match=f"{carry.CARRIED_ENV}.*16000 Hz.*expected exactly one") as err:
        real.pool_cache(16000, tmp_path / "c", system_root=bare)
    assert "\n" not in str(err.value)
    with pytest.raises(SeparenaError, match="unset"):  # a copy is made from the packages' pool only
        carry.carry_pools(tmp_path / "again", sample_rate=SR, cache_dir=cache, system_root=fake_root)


@needs_espeak
def test_data_built_from_carried_pools_has_its_own_name(on_fake_root, cache, tmp_path, monkeypatch):
    from separena.data import carry
    from separena.data.speech import espeak_2mix

    monkeypatch.delenv(carry.CARRIED_ENV, raising=False)
    built = espeak_2mix(cache_dir=str(tmp_path), real_fraction=0.5, transfer_set=False, **TINY)
    carry.carry_pools(tmp_path / "kit", sample_rate=SR, cache_dir=cache, system_root=on_fake_root,
                      catalogues=(real.REAL,))
    monkeypatch.setenv(carry.CARRIED_ENV, str(tmp_path / "kit"))
    carried = espeak_2mix(cache_dir=str(tmp_path), real_fraction=0.5, transfer_set=False, **TINY)
    assert carried.name != built.name and carried.train.real.speakers == built.train.real.speakers
    assert carried.extra_tests["real-dev"].root != built.extra_tests["real-dev"].root
