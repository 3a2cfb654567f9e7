"""Training speakers synthesised from recordings of people: Flite and Festival voices.

eSpeak NG is formant synthesis: no recorded voice goes into it. Debian also ships engines
whose voices are built from recordings of one real speaker each: ``flite`` (CMU's awb, rms,
slt and kal voices built in) and ``festival`` with the ``festvox-*`` voices (diphone, unit
selection and HTS voices of English, Czech, Finnish, Italian, Russian and Catalan speakers).
Each voice read with its own speaking rate, pitch (Flite's intonation target; Festival through
the formant shift) and a formant (vocal-tract length) shift gives many training speakers that
sound far more like people than eSpeak does (:data:`TTS_VOICES`, :func:`plan_tts_speakers`).

The pool is training-only: no evaluation set uses these voices. Text is
:func:`separena.data.espeak.sentences` in the voice's language. Utterances are resampled to
the sample rate with the formant shift folded in, trimmed and level-normalised like every other
pool (:func:`separena.data.pool.trim_normalise`), and cached as 16-bit PCM under
``<cache_dir>/tts-speech-<hash16>/``; the hash covers every parameter, the generator version,
the engines' versions and the installed voices. Builds go to a temporary folder renamed into
place when complete.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..errors import SeparenaError
from ..progress import progress_bar
from .audio import write_wav
from .cache import atomic_dir, default_cache_dir
from .espeak import resample_formant, sentences, vocabulary
from .pool import UtterancePool, load_pool, synthesise_speakers

__all__ = ["TtsVoice", "TtsSpeaker", "TTS_VOICES", "TTS_PACKAGES", "plan_tts_speakers", "tts_pool",
           "installed_voices", "GENERATOR_VERSION"]

GENERATOR_VERSION = "tts-speech/1"  # bump to rebuild every cached pool
FESTIVAL_VOICES = Path("/usr/share/festival/voices")


@dataclass(frozen=True)
class TtsVoice:
    """One voice of an engine: ``name`` as the engine calls it, the ``person`` it was recorded
    from (two voices of one person share it), the wordfreq ``language`` of its text and the
    ``encoding`` the engine reads that text in; ``female`` chooses Flite's pitch range."""

    engine: str  # "flite" or "festival"
    name: str
    person: str
    language: str
    encoding: str
    female: bool
    package: str


# Voices whose Debian packages install cleanly and read their language's word lists. Left out:
# flite's awb_time (a talking clock) and kal (the 8 kHz twin of kal16); Festival's Hindi,
# Marathi and Telugu voices (their lexicon file does not load in Debian's festival 2.5).
TTS_VOICES: tuple[TtsVoice, ...] = (
    TtsVoice("flite", "awb", "awb", "en", "utf-8", False, "flite"),
    TtsVoice("flite", "rms", "rms", "en", "utf-8", False, "flite"),
    TtsVoice("flite", "slt", "slt", "en", "utf-8", True, "flite"),
    TtsVoice("flite", "kal16", "kal", "en", "utf-8", False, "flite"),
    TtsVoice("festival", "ked_diphone", "ked", "en", "utf-8", False, "festvox-kdlpc16k"),
    TtsVoice("festival", "cmu_us_slt_arctic_hts", "slt", "en", "utf-8", True, "festvox-us-slt-hts"),
    TtsVoice("festival", "czech_dita", "dita", "cs", "iso-8859-2", True, "festvox-czech-dita"),
    TtsVoice("festival", "czech_krb", "krb", "cs", "iso-8859-2", False, "festvox-czech-krb"),
    TtsVoice("festival", "czech_machac", "machac", "cs", "iso-8859-2", False, "festvox-czech-machac"),
    TtsVoice("festival", "czech_ph", "ph", "cs", "iso-8859-2", False, "festvox-czech-ph"),
    TtsVoice("festival", "hy_fi_mv_diphone", "mv", "fi", "iso-8859-1", False, "festvox-suopuhe-mv"),
    TtsVoice("festival", "suo_fi_lj_diphone", "lj", "fi", "iso-8859-1", True, "festvox-suopuhe-lj"),
    TtsVoice("festival", "lp_diphone", "lp", "it", "iso-8859-1", True, "festvox-italp16k"),
    TtsVoice("festival", "pc_diphone", "pc", "it", "iso-8859-1", False, "festvox-itapc16k"),
    TtsVoice("festival", "msu_ru_nsh_clunits", "nsh", "ru", "utf-8", False, "festvox-ru"),
    TtsVoice("festival", "upc_ca_ona_hts", "ona", "ca", "iso-8859-1", True, "festvox-ca-ona-hts"),
)
TTS_PACKAGES: tuple[str, ...] = ("flite", "festival", *sorted({v.package for v in TTS_VOICES} - {"flite"}))


@dataclass(frozen=True)
class TtsSpeaker:
    """One training speaker: ``voice`` read ``stretch`` times slower (duration), with Flite's
    intonation centred on ``pitch`` Hz and spread ``pitch_std`` Hz (``0``: the voice's own;
    Festival voices keep theirs), and every frequency scaled by ``formant``."""

    id: str
    voice: str
    stretch: float
    pitch: int
    pitch_std: int
    formant: float
    split: str = "train"


def _which(engine: str) -> str:
    path = shutil.which(engine)
    if path is None:
        raise SeparenaError(f"tts speech: {engine} not found on PATH; install the Debian packages "
                            f"(apt-get install {' '.join(TTS_PACKAGES)})")
    return path


def installed_voices() -> list[TtsVoice]:
    """The voices of :data:`TTS_VOICES` this machine has; a :class:`SeparenaError` naming the
    apt command when an engine or a voice is missing."""
    flite = subprocess.run([_which("flite"), "-lv"], capture_output=True, text=True, check=False).stdout.split()
    _which("festival")
    missing = [v.package for v in TTS_VOICES
               if (v.engine == "flite" and v.name not in flite)
               or (v.engine == "festival" and not any(FESTIVAL_VOICES.glob(f"*/{v.name}")))]
    if missing:
        raise SeparenaError(f"tts speech: voices missing ({', '.join(sorted(set(missing)))}); expected the Debian "
                            f"packages installed (apt-get install {' '.join(TTS_PACKAGES)})")
    return list(TTS_VOICES)


def plan_tts_speakers(seed: int, n_speakers: int, formant_shift: float) -> list[TtsSpeaker]:
    """``n_speakers`` speakers, voices taken in turn so that each person gets a fair share."""
    rng = np.random.default_rng([int(seed), 0x7755])
    out = []
    for i in range(n_speakers):
        voice = TTS_VOICES[i % len(TTS_VOICES)]
        lo, hi = (165, 260) if voice.female else (85, 150)
        flite = voice.engine == "flite"
        pitch = int(rng.integers(lo, hi + 1))
        pitch_std = int(rng.integers(8, 41))
        out.append(TtsSpeaker(
            id=f"tts{i:04d}", voice=voice.name, stretch=round(float(rng.uniform(0.8, 1.25)), 3),
            pitch=pitch if flite else 0, pitch_std=pitch_std if flite else 0,
            formant=round(float(rng.uniform(1 - formant_shift, 1 + formant_shift)), 3)))
    return out


def _voice(name: str) -> TtsVoice:
    return next(v for v in TTS_VOICES if v.name == name)


def _read(path: Path) -> tuple[np.ndarray, int]:
    import soundfile as sf

    y, rate = sf.read(str(path), dtype="float64", always_2d=True)
    return y.mean(1), int(rate)


def _synthesize(speaker: TtsSpeaker, texts: list[str], tmp: Path) -> list[tuple[np.ndarray, int]]:
    """Raw waveforms and rates of ``texts`` read by ``speaker``."""
    voice = _voice(speaker.voice)
    clean = [t.replace('"', "").replace("\\", "") for t in texts]
    try:
        if voice.engine == "flite":
            out = []
            for k, text in enumerate(clean):
                cmd = [_which("flite"), "-voice", voice.name, "-t", text, "-o", str(tmp / f"{k}.wav"),
                       "--setf", f"duration_stretch={speaker.stretch}"]
                if speaker.pitch:
                    cmd += ["--setf", f"int_f0_target_mean={speaker.pitch}",
                            "--setf", f"int_f0_target_stddev={speaker.pitch_std}"]
                subprocess.run(cmd, capture_output=True, check=True, timeout=120)
                out.append(_read(tmp / f"{k}.wav"))
            return out
        # one Festival process reads every utterance of the speaker (its start-up dominates)
        lines = [f"(voice_{voice.name})", f"(Parameter.set 'Duration_Stretch {speaker.stretch})"]
        for k, text in enumerate(clean):
            lines += [f'(set! u (Utterance Text "{text}"))', "(utt.synth u)",
                      f"(utt.save.wave u \"{tmp / f'{k}.wav'}\" 'riff)"]
        script = tmp / "script.scm"
        script.write_bytes("\n".join(lines).encode(voice.encoding, errors="replace"))
        subprocess.run([_which("festival"), "-b", str(script)], capture_output=True, check=True, timeout=600)
        return [_read(tmp / f"{k}.wav") for k in range(len(clean))]
    except (subprocess.SubprocessError, OSError, RuntimeError) as exc:
        raise SeparenaError(f"tts speech: {voice.engine} failed for speaker {speaker.id} ({voice.name}): "
                            f"{str(exc).splitlines()[0] if str(exc) else type(exc).__name__}") from None


def _build_speaker(speaker: TtsSpeaker, texts: list[str], sample_rate: int, out: Path) -> list[int]:
    """Synthesise, resample with the formant shift, trim and normalise; one file per speaker."""
    with tempfile.TemporaryDirectory(prefix="separena-tts-") as tmp:
        raw = _synthesize(speaker, texts, Path(tmp))
    pieces = [resample_formant(y, rate, sample_rate, speaker.formant) for y, rate in raw]
    pieces = [p for p in pieces if len(p) >= sample_rate // 2]
    if not pieces:
        raise SeparenaError(f"tts speech: speaker {speaker.id} ({speaker.voice}) gave no utterance of 0.5 s or "
                            "more; expected speech")
    write_wav(out, np.concatenate(pieces), sample_rate)
    return [len(p) for p in pieces]


def _versions() -> dict:
    flite = subprocess.run([_which("flite"), "--version"], capture_output=True, text=True, check=False).stdout
    festival = subprocess.run([_which("festival"), "--version"], capture_output=True, text=True, check=False).stdout
    return {"generator": GENERATOR_VERSION, "flite": flite.strip().splitlines()[0] if flite.strip() else "",
            "festival": festival.strip(), "numpy": np.__version__,
            "voices": [asdict(v) for v in installed_voices()]}


def tts_pool(sample_rate: int = 8000, cache_dir: str | None = None, *, n_speakers: int = 160,
             utterances_per_speaker: int = 4, formant_shift: float = 0.08, seed: int = 0,
             workers: int = 2, progress: bool = True) -> UtterancePool:
    """The training pool of Flite/Festival speakers (:func:`plan_tts_speakers`), built once
    and cached; each utterance is 1-2 sentences of :func:`separena.data.espeak.sentences`.

    Raises:
        SeparenaError: a bad parameter, or an engine or voice missing (the message names the
            apt command).
    """
    if n_speakers < 2 or utterances_per_speaker < 1 or not 0 <= formant_shift < 0.5 or sample_rate < 4000:
        raise SeparenaError(
            "tts speech: bad parameters; expected n_speakers >= 2, utterances_per_speaker >= 1, "
            f"0 <= formant_shift < 0.5, sample_rate >= 4000; got {n_speakers}, {utterances_per_speaker}, "
            f"{formant_shift}, {sample_rate}")
    params = {"seed": int(seed), "sample_rate": int(sample_rate), "n_speakers": int(n_speakers),
              "utterances_per_speaker": int(utterances_per_speaker), "formant_shift": float(formant_shift)}
    speakers = plan_tts_speakers(seed, n_speakers, formant_shift)
    digest = hashlib.sha256(json.dumps({"params": params, "versions": _versions()}, sort_keys=True).encode())
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    final = root / f"tts-speech-{digest.hexdigest()[:16]}"
    if not (final / "meta.json").is_file():
        _build(final, params, speakers, workers, progress)
    meta = json.loads((final / "meta.json").read_text())
    cached = [TtsSpeaker(**d) for d in meta["speakers"]]
    return load_pool(final, "train", cached, meta["lengths"], sample_rate)


def _build(final: Path, params: dict, speakers: list[TtsSpeaker], workers: int, progress: bool) -> None:
    t0 = time.perf_counter()
    with atomic_dir(final) as tmp:
        vocabs = {lang: vocabulary(lang) for lang in sorted({v.language for v in TTS_VOICES})}
        jobs = []
        for i, s in enumerate(speakers):
            rng = np.random.default_rng([params["seed"], 0x7756, i])
            vocab = vocabs[_voice(s.voice).language]
            jobs.append((s, [sentences(rng, vocab, int(rng.integers(1, 3)))
                             for _ in range(params["utterances_per_speaker"])]))
        with progress_bar(progress, transient=False) as bar:
            lengths = synthesise_speakers(bar, "tts speech: synthesising Flite/Festival speakers", jobs, _build_speaker,
                                          params["sample_rate"], tmp, workers)
        meta = {"params": params, "speakers": [asdict(s) for s in speakers], "lengths": lengths,
                "build_seconds": round(time.perf_counter() - t0, 2)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
