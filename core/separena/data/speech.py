"""``espeak-2mix`` and ``espeak-3mix``: mixtures of 2 (3) eSpeak NG voices, generated locally and
cached; ``espeak-2mix-noisy`` and ``espeak-1mix-noisy``: two voices (one) over recorded background
noise (:mod:`separena.data.noise`); ``espeak-2mix-babble``: two voices over the babble of a crowd
(:mod:`separena.data.babble`); ``espeak-2mix-reverb`` and ``espeak-2mix-noisy-reverb``: two
voices in simulated rooms (:mod:`separena.data.reverb`), the second over the recorded noise.

The speakers, their text and their synthesis are :mod:`separena.data.espeak`; the fixed
valid/test mixtures follow :func:`separena.data.pool.fixed_mixtures`; training batches are
:class:`separena.data.stream.SpeakerMixtureStream`, with real recorded speakers
(:mod:`separena.data.real`) mixed in; the extra test sets ``real-dev`` and ``transfer``
(:mod:`separena.data.transfer`) are real recorded speech. ``espeak-3mix`` uses the speakers of
the 2-speaker build (synthesised once) and writes its own 3-speaker valid/test mixtures.

The utterances are synthesised by ``espeak-ng`` (two at a time) and stored as 16-bit PCM under
``<cache_dir>/espeak-2mix-<hash>/``; the hash covers every generation parameter, the
generator version and the versions of eSpeak NG, wordfreq, numpy and scipy. The build happens
in a temporary folder that is renamed into place when complete, so an interrupted build is
never read back.
"""

from __future__ import annotations

import hashlib
import json
import logging
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from torch import Tensor

from ..errors import SeparenaError
from ..progress import progress_bar
from . import SeparationData, channel, pitch, real, transfer, tts
from .augment import AugmentConfig
from .cache import atomic_dir, carried_root, default_cache_dir
from .disk import MixtureFolder, write_mixture_folder
from .espeak import Speaker, build_speaker, espeak_inventory, plan_speakers, sentences, text_source, vocabulary
from .babble import babble_bank
from .noise import SNR_DB, with_background_noise
from .pool import LEVEL_DB, UtterancePool, fixed_mixtures, load_pool, synthesise_speakers
from .reverb import TARGETS, RirBankConfig, rir_bank, with_reverberation
from .stream import SpeakerMixtureStream

__all__ = ["espeak_2mix", "espeak_3mix", "espeak_2mix_noisy", "espeak_1mix_noisy", "espeak_2mix_babble",
           "espeak_2mix_reverb", "espeak_2mix_noisy_reverb", "train_stream", "GENERATOR_VERSION"]

log = logging.getLogger(__name__)

NOISE_SOURCES = ("recorded", "babble")  # the noise espeak_2mix_noisy adds: the recordings, or babble

GENERATOR_VERSION = "espeak-2mix/2"
# Defaults of the training stream (chosen from docs/benchmarks/data_ablation.md).
DEFAULT_REAL_FRACTION = 0.5
DEFAULT_REVERB = 0.0
DEFAULT_TTS_FRACTION = 0.0


# --------------------------------------------------------------------------------------------
# Cache and builder


def _versions() -> dict[str, str]:
    import scipy

    return {"generator": GENERATOR_VERSION, "wordfreq": text_source()[0], "numpy": np.__version__,
            "scipy": scipy.__version__}


def _content_hash(obj: dict) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def _write_fixed_sets(folder: Path, speakers_root: Path, params: dict, speakers: list[Speaker],
                      lengths: dict[str, list[int]], progress: Any, n_src: int = 2) -> None:
    """The fixed valid/test mixtures of ``n_src`` speakers into ``folder`` (wsj0-2mix layout),
    drawn from the valid/test speakers synthesised under ``speakers_root``."""
    sr = params["sample_rate"]
    for salt, split, n in ((1, "valid", params["n_valid"]), (2, "test", params["n_test"])):
        pool_ = load_pool(speakers_root, split, speakers, lengths, sr)
        task = progress.add_task(f"espeak-{n_src}mix: writing {split} mixtures", total=n)
        for ex in fixed_mixtures(pool_, n, params["test_seconds"], sr, params["seed"], salt, n_src):
            write_mixture_folder(folder, split, [ex], sr)
            progress.advance(task)


def _build(final: Path, params: dict, speakers: list[Speaker], workers: int) -> None:
    """Synthesise every speaker and write the fixed valid/test mixtures into ``final``."""
    t0 = time.perf_counter()
    sr = params["sample_rate"]
    log.info("espeak-2mix: building %d speakers into %s", len(speakers), final)
    with atomic_dir(final) as tmp:
        text_rngs = {s.id: np.random.default_rng([params["seed"], 2, i]) for i, s in enumerate(speakers)}
        vocabs = {lang: vocabulary(lang) for lang in sorted({s.text_language for s in speakers})}
        jobs = []
        for s in speakers:
            rng = text_rngs[s.id]
            texts = [sentences(rng, vocabs[s.text_language], int(rng.integers(params["sentences_min"],
                                                                                 params["sentences_max"] + 1)))
                     for _ in range(params["utterances_per_speaker"])]
            jobs.append((s, texts))
        with progress_bar(transient=False) as progress:
            lengths = synthesise_speakers(progress, "espeak-2mix: synthesising speakers", jobs, build_speaker, sr, tmp,
                                          workers)
            _write_fixed_sets(tmp, tmp, params, speakers, lengths, progress)
        seconds = time.perf_counter() - t0
        meta = {"params": params, "speakers": [asdict(s) for s in speakers], "lengths": lengths,
                "build_seconds": round(seconds, 2)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("espeak-2mix: built %s in %.1f s", final.name, seconds)


def _warm_real_cache(sample_rate: int, cache_dir: str | None, pool: bool, dev: bool,
                     transfer_set: bool = False) -> subprocess.Popen | None:
    """Start a background process that builds the cached real-speech pool (and real-dev), and
    the transfer set, when they are needed and not cached yet; ``None`` otherwise. It only fills
    the cache: the builder reads the cache afterwards and raises any error itself."""
    import sys

    try:
        pool = pool and not (real.pool_cache(sample_rate, cache_dir) / "meta.json").is_file()
        transfer_set = transfer_set and not (transfer.pool_cache(sample_rate, cache_dir) / "meta.json").is_file()
    except SeparenaError:
        return None  # the later call raises the one-line error naming the packages
    if not (pool or transfer_set):
        return None
    code = (INTERRUPTIBLE + "import sys; from separena.data import real, transfer; a = sys.argv; "
            "a[4] == '1' and real.fill_cache(int(a[1]), a[2] or None, with_real_dev=a[3] == '1'); "
            "a[5] == '1' and transfer.fill_cache(int(a[1]), a[2] or None)")
    flags = ["1" if x else "0" for x in (dev, pool, transfer_set)]
    return subprocess.Popen([sys.executable, "-c", code, str(sample_rate), str(cache_dir or ""), *flags],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


# A process started with SIGINT ignored (`cmd &` in a non-interactive shell, nohup) passes that on
# to its children, and Python then leaves SIGINT ignored: the warmer restores Ctrl-C first, so
# that _stop's SIGINT reaches it and it removes its temporary folder.
INTERRUPTIBLE = "import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
STOP_GRACE_SECONDS = 5.0  # how long _stop waits after SIGINT, then after SIGTERM


def _join(proc: subprocess.Popen | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    with progress_bar(transient=False) as progress:
        progress.add_task("real speech: decoding the Debian packages (background)", total=None)
        proc.wait()


def _stop(proc: subprocess.Popen | None) -> None:
    """Interrupt a still-running cache warmer (it removes its temporary folder) and reap it:
    SIGINT, then SIGTERM, then SIGKILL, :data:`STOP_GRACE_SECONDS` apart."""
    if proc is None or proc.poll() is not None:
        return
    import signal

    for send in (lambda: proc.send_signal(signal.SIGINT), proc.terminate):
        send()
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS)
            return
        except subprocess.TimeoutExpired:
            pass
    proc.kill()
    proc.wait()


def espeak_2mix(*, seed: int = 0, sample_rate: int = 8000, n_train_speakers: int = 600,
                n_valid_speakers: int = 24, n_test_speakers: int = 48, utterances_per_speaker: int = 5,
                sentences_min: int = 2, sentences_max: int = 3, n_valid: int = 100, n_test: int = 200,
                test_seconds: float = 4.0, n_valid_variants: int = 6, n_test_variants: int = 16,
                n_valid_languages: int = 4, n_test_languages: int = 8, formant_shift: float = 0.10,
                augment: bool = True, speed: float = 0.10, eq: float = 0.8, band_limit: float = 0.4,
                noise: float = 0.5, gain_db: float = 6.0, level_db: float = LEVEL_DB,
                reverb: float = DEFAULT_REVERB, real_fraction: float = DEFAULT_REAL_FRACTION,
                tts_fraction: float = DEFAULT_TTS_FRACTION, tts_speakers: int = 160,
                codec: float = 0.0, compression: float = 0.0, pitch_matched: float = 0.0, pitch_gap: float = 3.0,
                real_dev_set: bool = True, transfer_set: bool | None = None, cache_dir: str | None = None,
                workers: int = 2, n_src: int = 2) -> SeparationData:
    """2-speaker (``n_src``-speaker) mixtures of synthetic eSpeak NG speakers, disjoint across splits.

    Args:
        seed: everything (speakers, text, held-out voices, evaluation mixtures) follows from it.
        sample_rate: Hz of every waveform.
        n_train_speakers, n_valid_speakers, n_test_speakers: speakers per split.
        utterances_per_speaker: utterances of each speaker, each of ``sentences_min`` to
            ``sentences_max`` sentences (about 3-4 s per sentence).
        n_valid, n_test: fixed evaluation mixtures, ``test_seconds`` long each.
        n_valid_variants, n_test_variants: voice variants held out for valid / test speakers.
        n_valid_languages, n_test_languages: languages held out for valid / test; half of the
            speakers of those splits speak them, the other half training languages.
        formant_shift: frequencies of each speaker scaled by a factor uniform in ``1 +- shift``.
        augment: augment training batches (speed, EQ, band limits, noise, gain, as set by the
            next five arguments); ``False`` turns all five off.
        speed: each training source resampled by a factor uniform in ``1 +- speed``.
        eq: probability of a smooth random EQ (+-6 dB, 6 bands) on each training source.
        band_limit: probability of a random low-pass (1.8-3.8 kHz) and, independently, of a
            random high-pass (60-400 Hz) on each training source.
        noise: probability of low-level noise (20-45 dB SNR) on each training mixture.
        gain_db: overall gain of each training mixture uniform in ``+-gain_db``.
        level_db: relative level of the two training sources uniform in ``+-level_db`` (the
            evaluation sets keep +-2.5 dB).
        reverb: probability that a training mixture is reverberated: both sources convolved
            with the two RIRs of a random shoebox room of a cached bank of 100 rooms; the
            reference is the reverberant source. Needs ``pyroomacoustics``.
        real_fraction: probability that each training source is a real recorded speaker of
            :func:`separena.data.real.real_speech_pool` ``("train")`` instead of an eSpeak one.
        tts_fraction: probability that each training source is a speaker of Flite/Festival
            voices built from recordings of people (:func:`separena.data.tts.tts_pool`);
            ``real_fraction + tts_fraction <= 1``, eSpeak takes the rest.
        tts_speakers: speakers of that pool (16 voices, each at several rates, pitches and
            formant shifts).
        codec: probability that a training utterance (of every pool) was recorded through a
            lossy codec: GSM, G.711, G.726, low bit-rate MP3, Opus or Vorbis
            (:func:`separena.data.channel.coded_pool`; coded once, cached).
        compression: probability of a dynamic-range compressor on each training source
            (:func:`separena.data.channel.compress`; needs ``augment``).
        pitch_matched: probability that a training mixture is made of voices within
            ``pitch_gap`` semitones of each other (the hard pairs: each speaker's median pitch is
            measured once with pYIN and cached; :class:`SpeakerMixtureStream`).
        pitch_gap: the largest pitch distance in semitones of such a mixture's voices.
        real_dev_set: report the real recorded ``real-dev`` mixtures (:func:`separena.data.real.real_dev`)
            as the extra test set ``"real-dev"``.
        transfer_set: report the ``transfer`` mixtures (:func:`separena.data.transfer.transfer_set`:
            real speakers of packages that no training or real-dev speaker comes from) as the
            extra test set ``"transfer"``; ``None`` (the default): as ``real_dev_set``.
        cache_dir: where generated audio is kept (default ``$SEPARENA_CACHE`` or
            ``~/.cache/separena``).
        workers: eSpeak NG processes run at once while building (does not change the data).
        n_src: speakers per mixture, in training and in every test set (``espeak-3mix`` sets 3;
            other than two need ``reverb=0``; one talker alone is the mixture, a task only with
            noise added: ``espeak-1mix-noisy``). The speakers are those of the 2-speaker build.

    Returns:
        :class:`SeparationData` named ``espeak-<n_src>mix@<hash>`` (``+noaug`` without augmentation;
        the hash covers the audio and every training-stream option), with ``train`` a
        :class:`SpeakerMixtureStream`, ``valid``/``test`` read from the cache in the wsj0-2mix
        layout, and ``extra_tests={"real-dev": ..., "transfer": ...}`` (each unless turned off).

    Raises:
        SeparenaError: a bad parameter, eSpeak NG or wordfreq missing, or (with
            ``real_fraction > 0``, ``real_dev_set`` or ``transfer_set``) the Debian packages of real speech missing
            (the message names them and the apt command).
    """
    params = {
        "seed": int(seed), "sample_rate": int(sample_rate), "n_train_speakers": int(n_train_speakers),
        "n_valid_speakers": int(n_valid_speakers), "n_test_speakers": int(n_test_speakers),
        "utterances_per_speaker": int(utterances_per_speaker), "sentences_min": int(sentences_min),
        "sentences_max": int(sentences_max), "n_valid": int(n_valid), "n_test": int(n_test),
        "test_seconds": float(test_seconds), "n_valid_variants": int(n_valid_variants),
        "n_test_variants": int(n_test_variants), "n_valid_languages": int(n_valid_languages),
        "n_test_languages": int(n_test_languages), "formant_shift": float(formant_shift),
    }
    _check_params(params)
    n_src = int(n_src)
    if not 1 <= n_src <= min(params["n_valid_speakers"], params["n_test_speakers"]):
        raise SeparenaError(f"espeak-{n_src}mix: bad n_src; expected 1 to the speakers of the smallest split "
                            f"({min(params['n_valid_speakers'], params['n_test_speakers'])}), got {n_src}")
    if n_src != 2 and reverb > 0:
        raise SeparenaError(f"espeak-{n_src}mix: bad reverb; expected 0 with {n_src} speakers (the rooms of the "
                            f"bank hold two talkers), got {reverb}")
    stream = {"augment": bool(augment), "speed": float(speed), "eq": float(eq), "band_limit": float(band_limit),
              "noise": float(noise), "gain_db": float(gain_db), "level_db": float(level_db),
              "reverb": float(reverb), "real_fraction": float(real_fraction),
              "real_dev": bool(real_dev_set)}  # the parameter's former name: data names stay as they were
    # options added later enter the stream (and the name) only when used: former names stay
    if tts_fraction:
        stream.update(tts_fraction=float(tts_fraction), tts_speakers=int(tts_speakers))
    for key, value in (("codec", codec), ("compression", compression)):
        if value:
            stream[key] = float(value)
    if pitch_matched:
        stream.update(pitch_matched=float(pitch_matched), pitch_gap=float(pitch_gap))
    if n_src != 2:
        stream["n_src"] = n_src
    _check_stream(stream)
    transfer_set = bool(real_dev_set if transfer_set is None else transfer_set)
    version, languages, variants = espeak_inventory()
    versions = {**_versions(), "espeak-ng": version}
    text_langs = text_source()[1]
    speakers = plan_speakers(params, languages, variants, text_langs)
    digest = _content_hash({"params": params, "versions": versions, "languages": languages,
                            "variants": variants, "text_languages": sorted(text_langs)})
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    final = root / f"espeak-2mix-{digest[:16]}"
    if not (final / "meta.json").is_file():
        # decode the real recordings (one core: it is GIL-bound) while eSpeak NG synthesises
        warm = _warm_real_cache(sample_rate, cache_dir, real_fraction > 0 or real_dev_set, real_dev_set,
                                transfer_set)
        try:
            _build(final, params, speakers, workers)
            _join(warm)
        finally:
            _stop(warm)
    else:
        log.info("espeak-2mix: using cached %s", final)
    meta = json.loads((final / "meta.json").read_text())
    cached = [Speaker(**d) for d in meta["speakers"]]
    fixed = final if n_src == 2 else _fixed_sets_of(final, params, cached, meta["lengths"], n_src)
    train_pool = channel.coded_pool(load_pool(final, "train", cached, meta["lengths"], sample_rate), sample_rate,
                                    codec, params["seed"], final.name, cache_dir)
    extra: dict = {}
    real_pool, rirs, signature = None, None, dict(stream)
    if real_fraction > 0:
        real_pool = channel.coded_pool(
            real.joined_speech_pool("train", sample_rate, cache_dir, seed=params["seed"], workers=workers),
            sample_rate, codec, params["seed"], f"{real.pool_cache(sample_rate, cache_dir).name}:joined", cache_dir)
        signature["real_pool"] = [real.GENERATOR_VERSION, real_pool.speakers, int(real_pool.lengths.sum())]
    tts_pool = None
    if tts_fraction > 0:
        tts_pool = channel.coded_pool(
            tts.tts_pool(sample_rate, cache_dir, n_speakers=tts_speakers, seed=params["seed"], workers=workers),
            sample_rate, codec, params["seed"], f"{tts.GENERATOR_VERSION}:{tts_speakers}", cache_dir)
        signature["tts_pool"] = [tts.GENERATOR_VERSION, int(tts_pool.lengths.sum())]
    if codec > 0:
        signature["channel"] = [channel.CHANNEL_VERSION, [c.name for c in channel.CODECS]]
    if reverb > 0:
        rirs = rir_bank(params["seed"], sample_rate, root)
        signature["rir_bank"] = [asdict(RirBankConfig()), float(rirs.double().abs().sum())]
    if real_dev_set:
        extra["real-dev"] = real.real_dev(sample_rate=sample_rate, cache_dir=cache_dir, n_src=n_src)
    if transfer_set:  # enters the name (a data set without it keeps its former name)
        extra["transfer"] = transfer.transfer_set(sample_rate=sample_rate, cache_dir=cache_dir, n_src=n_src)
        signature["transfer"] = extra["transfer"].root.name
    if carried_root() is not None:  # a copy never passes for the pools it was made from
        used = [real.pool_cache(sample_rate, cache_dir)] if real_fraction > 0 or real_dev_set else []
        used += [transfer.pool_cache(sample_rate, cache_dir)] if transfer_set else []
        if any(real.is_carried(p) for p in used):
            signature["carried"] = [p.name for p in used]
    pitches = ()
    if pitch_matched:  # measured on the pools as trained on (codecs included); the pools' content names them
        pitches = tuple(None if p is None else pitch.speaker_pitches(p, sample_rate, root / "pitch", f"pitch of {what}")
                        for what, p in (("eSpeak speakers", train_pool), ("real speakers", real_pool),
                                        ("tts speakers", tts_pool)))
        signature["pitch"] = [pitch.SPEAKER_SECONDS, list(pitch.PITCH_RANGE_HZ)]
    train = train_stream(train_pool, sample_rate, stream, real_pool, rirs, tts_pool, pitches)
    valid = MixtureFolder(fixed, "valid", sample_rate, n_src, mix_from_sources=True)
    test = MixtureFolder(fixed, "test", sample_rate, n_src, mix_from_sources=True)
    name_hash = _content_hash({"audio": digest, "stream": signature})
    name = f"espeak-{n_src}mix@{name_hash[:8]}" + ("" if augment else "+noaug")
    return SeparationData(name=name, sample_rate=sample_rate, n_src=n_src, train=train, valid=valid, test=test,
                          extra_tests=extra, train_mix_is_sum=not (augment and noise > 0))


def espeak_3mix(**params: Any) -> SeparationData:
    """3-speaker mixtures of synthetic eSpeak NG speakers (the task of wsj0-3mix):
    :func:`espeak_2mix` with ``n_src=3``, every other argument the same (``reverb`` must stay
    0). Its speakers are the 2-speaker build's, synthesised once; the fixed valid/test
    mixtures, ``real-dev`` and ``transfer`` hold three speakers each, drawn as the 2-speaker
    sets draw theirs."""
    return espeak_2mix(**{"n_src": 3, **params})


def espeak_2mix_noisy(noise_snr_db: Sequence[float] = SNR_DB, noise_fraction: float = 1.0,
                      noise_source: str = "recorded", **params: Any) -> SeparationData:
    """2-speaker mixtures of :func:`espeak_2mix` (every argument the same) with recorded
    background noise in every mixture, the louder speaker ``noise_snr_db`` (``[low, high]``,
    uniform; WHAM!'s -6 to +3 dB by default) above it; the references stay the clean speakers
    (the task of WHAM! and LibriMix's ``sep_noisy``). ``noise_fraction < 1`` adds noise to that
    share of the training mixtures only (multi-condition training; every evaluation mixture keeps
    its noise). ``noise_source="babble"`` draws it from the babble of synthetic crowds instead of the
    recordings. Training and ``valid`` noise and the test sets' noise are different recordings:
    :func:`separena.data.noise.with_background_noise`."""
    if noise_source not in NOISE_SOURCES:  # before the speech is built
        raise SeparenaError(f"espeak-2mix-noisy: bad noise_source {noise_source!r}; expected one of "
                            f"{', '.join(NOISE_SOURCES)}")
    data = espeak_2mix(**params)
    cache_dir, workers = params.get("cache_dir"), params.get("workers", 2)
    banks = None  # with_background_noise's own: the recordings
    if noise_source == "babble":
        banks = (babble_bank("train", data.sample_rate, cache_dir, workers=workers),
                 babble_bank("test", data.sample_rate, cache_dir, workers=workers))
    return with_background_noise(data, snr_db=noise_snr_db, fraction=noise_fraction, banks=banks,
                                 seed=params.get("seed", 0), cache_dir=cache_dir, workers=workers)


def espeak_2mix_babble(**params: Any) -> SeparationData:
    """Two talkers over babble, the chatter of 4 to 8 other talkers at once (the café part of
    WHAM!'s noise): :func:`espeak_2mix_noisy` with ``noise_source="babble"``, every other argument the
    same; the babble talkers are synthetic speakers of their own, those of the test sets never
    heard in training (:mod:`separena.data.babble`)."""
    if "noise_source" in params:
        raise SeparenaError(f"espeak-2mix-babble: bad parameter noise_source={params['noise_source']!r}; expected "
                            "none (the noise is babble; espeak-2mix-noisy takes noise_source=)")
    return espeak_2mix_noisy(noise_source="babble", **params)


def espeak_1mix_noisy(**params: Any) -> SeparationData:
    """One talker over recorded background noise (speech enhancement: LibriMix's ``enh_single``,
    WHAM!'s single-talker task): :func:`espeak_2mix_noisy` with ``n_src=1``, every other argument
    the same; the reference is the clean talker."""
    return espeak_2mix_noisy(**{"n_src": 1, **params})


def espeak_2mix_reverb(reverb_target: str = "direct", **params: Any) -> SeparationData:
    """2-speaker mixtures of :func:`espeak_2mix` (every argument the same) with both talkers in a
    simulated room, training and evaluation (the task of WHAMR!): the references are each
    talker's direct path (``reverb_target="direct"``: separate and dereverberate) or its
    reverberant version (``"reverberant"``: separate only). Training and ``valid`` use one set of
    rooms, the test sets others: :func:`separena.data.reverb.with_reverberation`. ``reverb`` (the
    training augmentation's share of reverberated mixtures) must stay 0: every mixture is in a
    room already."""
    return _in_rooms("espeak-2mix-reverb", espeak_2mix, reverb_target, params)


def espeak_2mix_noisy_reverb(reverb_target: str = "direct", **params: Any) -> SeparationData:
    """WHAMR!'s noisy reverberant task: the mixtures of :func:`espeak_2mix_noisy` (every argument
    the same, ``noise_snr_db`` included) with the talkers in rooms as :func:`espeak_2mix_reverb`
    puts them; the noise is added as recorded (not in the room), at its level against the dry
    talkers, which is its level against the direct paths (the rooms keep their dry level)."""
    return _in_rooms("espeak-2mix-noisy-reverb", espeak_2mix_noisy, reverb_target, params)


def _in_rooms(name: str, build: Callable[..., SeparationData], reverb_target: str, params: dict[str, Any]
              ) -> SeparationData:
    if params.get("reverb", DEFAULT_REVERB) != 0:
        raise SeparenaError(f"{name}: bad reverb {params['reverb']!r}; expected 0 (every mixture is already in a "
                            "room; reverb would put it in a second one)")
    if reverb_target not in TARGETS:
        raise SeparenaError(f"{name}: bad reverb_target {reverb_target!r}; expected one of {', '.join(TARGETS)}")
    return with_reverberation(build(**params), target=reverb_target, seed=params.get("seed", 0),
                              cache_dir=params.get("cache_dir"))


def _fixed_sets_of(final: Path, params: dict, speakers: list[Speaker], lengths: dict[str, list[int]],
                   n_src: int) -> Path:
    """``<final>-<n_src>mix``: the valid/test mixtures of ``n_src`` speakers of the build in
    ``final``, written once (atomically) and read back by later calls."""
    folder = final.with_name(f"{final.name}-{n_src}mix")
    if not (folder / "meta.json").is_file():
        with atomic_dir(folder) as tmp, progress_bar(transient=False) as progress:
            _write_fixed_sets(tmp, final, params, speakers, lengths, progress, n_src)
            (tmp / "meta.json").write_text(json.dumps({"params": params, "n_src": n_src, "speakers": final.name}))
    return folder


def train_stream(pool: UtterancePool, sample_rate: int, stream: dict, real_pool: UtterancePool | None = None,
                 rirs: Tensor | None = None, tts_pool: UtterancePool | None = None,
                 pitches: tuple = ()) -> SpeakerMixtureStream:
    """The training stream of ``espeak_2mix`` for the stream options ``stream`` (its keyword
    arguments ``augment, speed, eq, band_limit, noise, gain_db, level_db, reverb,
    real_fraction`` and optionally ``tts_fraction``, ``compression``, ``n_src``, ``pitch_matched``,
    ``pitch_gap``), over ``pool`` and, where used, the real pool, the RIR bank, the Flite/Festival
    pool and the speakers' ``pitches`` (Hz per speaker of each pool)."""
    aug = AugmentConfig(speed=float(stream["speed"]), eq_prob=float(stream["eq"]),
                        lowpass_prob=float(stream["band_limit"]), highpass_prob=float(stream["band_limit"]),
                        noise_prob=float(stream["noise"]), gain_db=float(stream["gain_db"]),
                        compression=float(stream.get("compression", 0.0))) \
        if stream["augment"] else None
    return SpeakerMixtureStream(pool, sample_rate, aug, real=real_pool, real_fraction=stream["real_fraction"],
                                rirs=rirs, reverb=stream["reverb"], level_db=stream["level_db"],
                                tts=tts_pool, tts_fraction=stream.get("tts_fraction", 0.0),
                                n_src=stream.get("n_src", 2), pitch_matched=stream.get("pitch_matched", 0.0),
                                pitch_gap=stream.get("pitch_gap", 3.0), pitches=pitches)


def _check_stream(p: dict) -> None:
    def need(ok: bool, what: str, expected: str) -> None:
        if not ok:
            raise SeparenaError(f"espeak-2mix: bad {what}; expected {expected}, got {p[what]!r}")

    for k in ("eq", "band_limit", "noise", "reverb", "real_fraction", "tts_fraction", "codec", "compression",
              "pitch_matched"):
        if k in p:
            need(0.0 <= p[k] <= 1.0, k, "a probability in [0, 1]")
    if "pitch_gap" in p:
        need(p["pitch_gap"] > 0, "pitch_gap", "> 0 semitones")
    if p["real_fraction"] + p.get("tts_fraction", 0.0) > 1.0:
        raise SeparenaError(f"espeak-2mix: bad real_fraction + tts_fraction; expected at most 1, got "
                            f"{p['real_fraction']} + {p['tts_fraction']}")
    if "tts_speakers" in p:
        need(p["tts_speakers"] >= 2, "tts_speakers", ">= 2")
    need(0.0 <= p["speed"] < 0.5, "speed", "in [0, 0.5)")
    need(p["gain_db"] >= 0, "gain_db", ">= 0 dB")
    need(p["level_db"] >= 0, "level_db", ">= 0 dB")


def _check_params(p: dict) -> None:
    def need(ok: bool, what: str, expected: str, got: object) -> None:
        if not ok:
            raise SeparenaError(f"espeak-2mix: bad {what}; expected {expected}, got {got!r}")

    need(p["sample_rate"] >= 4000, "sample_rate", ">= 4000 Hz", p["sample_rate"])
    need(p["n_train_speakers"] >= 2, "n_train_speakers", ">= 2", p["n_train_speakers"])
    need(p["n_valid_speakers"] >= 2, "n_valid_speakers", ">= 2", p["n_valid_speakers"])
    need(p["n_test_speakers"] >= 2, "n_test_speakers", ">= 2", p["n_test_speakers"])
    need(p["utterances_per_speaker"] >= 1, "utterances_per_speaker", ">= 1", p["utterances_per_speaker"])
    need(1 <= p["sentences_min"] <= p["sentences_max"], "sentences_min/max", "1 <= min <= max",
         (p["sentences_min"], p["sentences_max"]))
    need(p["n_valid"] >= 1 and p["n_test"] >= 1, "n_valid/n_test", ">= 1", (p["n_valid"], p["n_test"]))
    need(p["test_seconds"] > 0, "test_seconds", "> 0", p["test_seconds"])
    need(0 <= p["formant_shift"] < 0.5, "formant_shift", "in [0, 0.5)", p["formant_shift"])
    for k in ("n_valid_variants", "n_test_variants"):
        need(p[k] >= 1, k, ">= 1 (held-out variants keep splits disjoint)", p[k])
    for k in ("n_valid_languages", "n_test_languages"):
        need(p[k] >= 0, k, ">= 0", p[k])
