"""The ``transfer`` test set (separena.data.transfer): real speakers training never meets.

Disjointness is checked on the installed packages; decoding and mixing run on a small copy of
them (a few files per speaker under a fake filesystem root with its own dpkg file lists).
Needs the packages of ``TRANSFER_PACKAGES`` and ``REAL_PACKAGES`` installed, as
``scripts/setup.sh`` does.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
import torch

from separena.data import real, speech, transfer
from separena.data.audio import read_wav
from separena.data.real import REAL_PACKAGES, speaker_catalogue
from separena.data.transfer import KTUBERLING_LANGUAGES, TRANSFER_PACKAGES, transfer_speakers
from separena.errors import SeparenaError

SR = 8000
FILES_PER_SPEAKER = 4

# Debian packages set aside for independent evaluation (as in test_data_real.py): never used.
RESERVED = (
    "asterisk-core-sounds-", "asterisk-prompt-it-menardi", "fillets-ng-data", "openttd-openmsx",
    "freedoom", "musescore-general-soundfont", "avldrums.lv2-soundfont",
)


def test_transfer_packages_and_speakers_are_outside_training_and_real_dev():
    assert not set(TRANSFER_PACKAGES) & set(REAL_PACKAGES)
    trans = transfer_speakers()
    seen = speaker_catalogue()  # every real training and real-dev speaker
    assert {v["split"] for v in seen.values()} == {"train", "real-dev"}
    assert not set(trans) & set(seen)
    assert not {v["package"] for v in trans.values()} & {v["package"] for v in seen.values()}
    assert {v["package"] for v in trans.values()} == set(TRANSFER_PACKAGES)
    assert all(s.startswith(v["package"] + "/") and v["split"] == "transfer" for s, v in trans.items())
    assert len(trans) >= 8 and sum(v["files"] for v in trans.values()) >= 300


def test_ktuberling_languages_are_no_language_of_training_or_real_dev():
    """A language folder of the word-list packages in training may be the same volunteer as the
    one of ktuberling-data: such languages are not in the transfer set."""
    seen = {s.split("/", 1)[1].split("_")[0].split("@")[0] for s in speaker_catalogue()
            if s.startswith(("klettres-data/", "tuxpaint-stamps-default/"))}
    assert len(seen) >= 20
    assert not seen & set(KTUBERLING_LANGUAGES)
    assert {s.split("/", 1)[1] for s in transfer_speakers() if s.startswith("ktuberling-data/")} \
        == set(KTUBERLING_LANGUAGES)


def test_no_reserved_package_is_ever_referenced():
    packages = set(TRANSFER_PACKAGES) | set(REAL_PACKAGES)
    assert not [p for p in packages for r in RESERVED if p.startswith(r) or r in p]
    rules = " ".join(rule.package + rule.path + (rule.member or "")
                     for cat in (transfer.TRANSFER, real.REAL) for rule, _ in cat.rules)
    assert not [r for r in RESERVED if r in rules]
    source = Path(transfer.__file__).read_text().lower()
    assert not [r for r in RESERVED if r in source]
    # no file read for the transfer set belongs to a reserved package, where one is installed
    files = {str(f.path) for f in real._catalogue(Path("/"), transfer.TRANSFER)}
    info = Path("/var/lib/dpkg/info")
    for r in RESERVED:
        for lst in info.glob(f"{r}*.list"):
            assert not files & set(lst.read_text(errors="replace").splitlines()), lst.name


@pytest.fixture(scope="module")
def fake_root(tmp_path_factory) -> Path:
    """A filesystem root with the transfer packages "installed", a few files per speaker."""
    root = tmp_path_factory.mktemp("sysroot")
    per_speaker: dict[str, list] = {}
    for f in real._catalogue(Path("/"), transfer.TRANSFER):
        per_speaker.setdefault(f.speaker, [])
        if len(per_speaker[f.speaker]) < FILES_PER_SPEAKER:
            per_speaker[f.speaker].append(f)
    listed: dict[str, set[str]] = {p: set() for p in TRANSFER_PACKAGES}
    for fs in per_speaker.values():
        for f in fs:
            listed[f.package].add(str(f.path))
            dst = root / str(f.path).lstrip("/")
            dst.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(f.path, dst)
    info = root / "var/lib/dpkg/info"
    info.mkdir(parents=True)
    for pkg, paths in listed.items():
        (info / f"{pkg}.list").write_text("\n".join(sorted(paths)) + "\n")
    return root


def test_missing_transfer_packages_say_what_to_install(tmp_path):
    (tmp_path / "var/lib/dpkg/info").mkdir(parents=True)
    with pytest.raises(SeparenaError) as err:
        transfer.transfer_pool(cache_dir=tmp_path / "c", system_root=tmp_path)
    assert "\n" not in str(err.value)
    assert f"apt-get install -y {' '.join(TRANSFER_PACKAGES)}" in str(err.value)


def test_transfer_set_is_deterministic_wsj0_style_and_of_transfer_speakers_only(fake_root, tmp_path):
    kw = dict(sample_rate=SR, n_mixtures=8, seconds=1.5, system_root=fake_root)
    a = transfer.transfer_set(cache_dir=tmp_path / "a", **kw)
    b = transfer.transfer_set(cache_dir=tmp_path / "b", **kw)  # rebuilt from scratch elsewhere
    assert a.root.name.startswith("transfer-") and a.root.name == b.root.name
    assert (a.root.parent / transfer.pool_cache(SR, tmp_path / "a", system_root=fake_root).name).is_dir()
    ids = {s.replace("/", "-") for s in transfer_speakers(system_root=fake_root)}
    assert len(a) == len(b) == 8 and a.names == b.names
    for i in range(len(a)):
        ea, eb = a[i], b[i]
        assert torch.equal(ea.sources, eb.sources) and ea.sources.shape == (2, int(1.5 * SR))
        mix = read_wav(a.root / "tt/mix" / a.names[i], SR)
        assert torch.allclose(mix, ea.sources.sum(0), atol=1e-6)
        _, s1, s2 = ea.name.split("__")
        assert s1 != s2 and {s1, s2} <= ids, ea.name
    pool_a = transfer.transfer_pool(SR, tmp_path / "a", system_root=fake_root)
    pool_b = transfer.transfer_pool(SR, tmp_path / "b", system_root=fake_root)
    assert [u.speaker for u in pool_a] == [u.speaker for u in pool_b]
    assert all(torch.equal(x.waveform, y.waveform) for x, y in zip(pool_a, pool_b))
    assert not list((tmp_path / "a").glob(".*"))  # no temporary folder left over


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed")
TINY = dict(n_train_speakers=6, n_valid_speakers=4, n_test_speakers=4, utterances_per_speaker=2,
            sentences_min=1, sentences_max=1, n_valid=4, n_test=6, test_seconds=1.5,
            n_valid_variants=2, n_test_variants=2, n_valid_languages=1, n_test_languages=1, reverb=0.0,
            real_fraction=0.0)


@needs_espeak
def test_espeak_2mix_reports_transfer_beside_real_dev(fake_root, tmp_path, monkeypatch):
    from separena.data.speech import espeak_2mix

    small = transfer.transfer_set
    monkeypatch.setattr(transfer, "transfer_set", lambda **kw: small(
        **{**kw, "system_root": fake_root, "cache_dir": tmp_path, "n_mixtures": 6, "seconds": 1.5}))
    monkeypatch.setattr(real, "real_dev", lambda **kw: small(  # a stand-in: real-dev is tested elsewhere
        sample_rate=SR, cache_dir=tmp_path, system_root=fake_root, n_mixtures=3, seconds=1.0))
    monkeypatch.setattr(speech, "_warm_real_cache", lambda *a, **k: None)
    cache = str(tmp_path / "c")
    default = espeak_2mix(cache_dir=cache, **TINY)
    assert set(default.test_sets()) == {"test", "real-dev", "transfer"}
    t = default.extra_tests["transfer"]
    assert len(t) == 6 and t[0].sources.shape == (2, int(1.5 * SR))
    assert all(re.fullmatch(r"\d{5}__(kajongg|ktuberling-data)-\w+__(kajongg|ktuberling-data)-\w+", t.names[i][:-4])
               for i in range(len(t)))
    without = espeak_2mix(cache_dir=cache, transfer_set=False, **TINY)
    assert set(without.test_sets()) == {"test", "real-dev"} and without.name != default.name
    assert espeak_2mix(cache_dir=cache, **TINY).name == default.name
    off = espeak_2mix(cache_dir=cache, real_dev_set=False, **TINY)  # transfer follows real_dev_set
    assert off.extra_tests == {}
    only = espeak_2mix(cache_dir=cache, real_dev_set=False, transfer_set=True, **TINY)
    assert set(only.extra_tests) == {"transfer"} and only.name not in {off.name, default.name}
