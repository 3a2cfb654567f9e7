"""eSpeak NG speakers, their text and their synthesis (the voices of ``espeak-2mix``).

A *speaker* (:class:`Speaker`) is one combination of an eSpeak NG language/accent, a voice
variant, a base pitch, a pitch range, a speaking rate and a formant (vocal-tract length)
shift. :func:`plan_speakers` draws every speaker of every split from a seed so that splits are
disjoint: valid and test speakers use voice variants that no training speaker uses, and about
half of them speak languages that no training speaker speaks.

Text is drawn from the word-frequency lists of the ``wordfreq`` package in the speaker's own
language where it has one (42 languages; where wordfreq is not installed, from those lists
exported to a file by :func:`export_word_lists`), otherwise English read with that language's
phonology: sentences of 4-13 words weighted by frequency, with commas, questions and
exclamations (:func:`vocabulary`, :func:`sentences`). :func:`build_speaker` synthesises a
speaker's utterances with ``espeak-ng``, moves them to the sample rate with the formant shift
folded into the resampling ratio, trims and level-normalises them
(:func:`separena.data.pool.trim_normalise`).
"""

from __future__ import annotations

import functools
import json
import lzma
import math
import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import numpy as np

from ..errors import SeparenaError
from .audio import write_wav
from .pool import trim_normalise

__all__ = ["Speaker", "espeak_inventory", "make_speakers", "plan_speakers", "vocabulary", "sentences", "build_speaker",
           "resample_formant", "ESPEAK", "text_source", "export_word_lists", "WORD_LISTS_ENV"]

ESPEAK = "espeak-ng"

# Voices whose output is not usable speech for this purpose: constructed fantasy languages,
# and languages that spell out foreign text letter by letter (no usable native word list).
EXCLUDED_LANGUAGES = frozenset({
    "chr-US-Qaaa-x-west", "piqd", "py", "qdb", "qya", "sjn", "jbo",
    "hak", "hyw", "my", "kok", "shn", "mi",
})
# Variants that are not a human voice (robots, whisper, effects) or a speed test.
EXCLUDED_VARIANTS = frozenset({
    "robosoft", "robosoft2", "robosoft3", "robosoft4", "robosoft5", "robosoft6", "robosoft7",
    "robosoft8", "UniRobot", "anikaRobot", "Demonic", "announcer", "whisper", "whisperf", "fast",
})
# eSpeak language code (its first part) -> wordfreq language of the text it reads.
TEXT_LANGUAGE_ALIASES = {
    "cmn": "zh", "yue": "zh", "bs": "sh", "hr": "sh", "sr": "sh",
    "be": "ru", "ba": "ru", "cv": "ru", "ky": "ru", "nog": "ru", "tt": "ru", "kk": "ru",
}
VOCABULARY_SIZE = 5000  # most frequent words of each language
WORD_LISTS_ENV = "SEPARENA_WORD_LISTS"  # a file of exported word lists, read instead of wordfreq


@dataclass(frozen=True)
class Speaker:
    """One synthetic speaker: eSpeak NG ``-v language+variant -p pitch -s rate``, SSML
    ``<prosody range="pitch_range%">``, and frequencies scaled by ``formant`` (durations by
    ``1 / formant``)."""

    id: str
    split: str
    language: str
    variant: str
    pitch: int
    pitch_range: int
    rate: int
    formant: float
    text_language: str



# --------------------------------------------------------------------------------------------
# eSpeak NG


def _espeak(*args: str) -> str:
    if shutil.which(ESPEAK) is None:
        raise SeparenaError(
            "espeak-2mix: espeak-ng not found on PATH; install the Debian package espeak-ng "
            "(apt-get install espeak-ng)"
        )
    try:
        res = subprocess.run([ESPEAK, *args], capture_output=True, text=True, check=True, timeout=60)
    except (subprocess.SubprocessError, OSError) as exc:
        raise SeparenaError(f"espeak-2mix: `{ESPEAK} {' '.join(args)}` failed: {exc}") from None
    return res.stdout


def espeak_inventory() -> tuple[str, list[str], list[str]]:
    """``(version line, languages, variants)`` of the installed eSpeak NG, filtered and sorted."""
    version = _espeak("--version").strip()
    languages = set()
    for line in _espeak("--voices").splitlines()[1:]:
        fields = line.split()
        if len(fields) >= 2 and fields[1] not in EXCLUDED_LANGUAGES:
            languages.add(fields[1])
    variants = set()
    for line in _espeak("--voices=variant").splitlines()[1:]:
        fields = line.split()
        if fields and fields[-1].startswith("!v/"):
            name = fields[-1][3:]
            if name not in EXCLUDED_VARIANTS:
                variants.add(name)
    return version, sorted(languages), sorted(variants)


def _text_language(language: str, available: set[str]) -> str:
    base = language.split("-")[0].lower()
    base = TEXT_LANGUAGE_ALIASES.get(base, base)
    return base if base in available else "en"


def _top_words(wordfreq: Any, lang: str) -> list[str]:
    words = [w for w in wordfreq.top_n_list(lang, VOCABULARY_SIZE * 2, wordlist="small") if w.isalpha()]
    return words[:VOCABULARY_SIZE]


@functools.lru_cache(maxsize=2)
def _word_lists(path: str) -> dict[str, Any]:
    """A word-list file written by :func:`export_word_lists` (read once per path)."""
    try:
        with lzma.open(path, "rt", encoding="utf-8") as f:
            lists = json.load(f)
    except (OSError, lzma.LZMAError, json.JSONDecodeError) as exc:
        raise SeparenaError(f"${WORD_LISTS_ENV} {path}: cannot be read ({type(exc).__name__}); expected a file "
                            "written by separena.data.espeak.export_word_lists") from None
    if not isinstance(lists, dict) or not {"wordfreq", "available", "words"} <= set(lists):
        raise SeparenaError(f"${WORD_LISTS_ENV} {path}: expected keys wordfreq, available and words")
    return lists


def text_source() -> tuple[str, set[str]]:
    """The wordfreq version the text comes from and the languages it has word lists for: from
    the file ``$SEPARENA_WORD_LISTS`` names (a machine without wordfreq, e.g. a GPU machine it
    was carried to), else from the wordfreq package."""
    if os.environ.get(WORD_LISTS_ENV):
        lists = _word_lists(os.environ[WORD_LISTS_ENV])
        return str(lists["wordfreq"]), set(lists["available"])
    try:
        import wordfreq
        from importlib.metadata import version
    except ImportError:
        raise SeparenaError("espeak-2mix: the Python package wordfreq is not installed; expected it for the text "
                            f"(pip install wordfreq), or ${WORD_LISTS_ENV} naming its exported word lists") from None
    return version("wordfreq"), set(wordfreq.available_languages(wordlist="small"))


def vocabulary(lang: str) -> tuple[list[str], np.ndarray]:
    """The most frequent alphabetic words of ``lang`` and sampling weights (Zipf, flattened)."""
    if os.environ.get(WORD_LISTS_ENV):
        words = list(_word_lists(os.environ[WORD_LISTS_ENV])["words"][lang])
    else:
        import wordfreq

        words = _top_words(wordfreq, lang)
    weights = 1.0 / np.arange(1, len(words) + 1) ** 0.6
    return words, weights / weights.sum()


def export_word_lists(path: str | Path) -> Path:
    """Write every language's vocabulary (what :func:`vocabulary` reads from wordfreq) and the
    wordfreq version to ``path`` (JSON, xz: about 0.7 MB), so that a machine without wordfreq
    builds the same text with ``$SEPARENA_WORD_LISTS`` set to it."""
    import wordfreq
    from importlib.metadata import version

    available = sorted(wordfreq.available_languages(wordlist="small"))
    lists = {"wordfreq": version("wordfreq"), "available": available,
             "words": {lang: _top_words(wordfreq, lang) for lang in available}}
    path = Path(path)
    with lzma.open(path, "wt", encoding="utf-8") as f:
        json.dump(lists, f, ensure_ascii=False)
    return path


def sentences(rng: np.random.Generator, vocab: tuple[list[str], np.ndarray], n: int) -> str:
    """``n`` random sentences of 4-13 frequency-weighted words with punctuation.

    No digits: eSpeak NG 1.51 reads numbers in some languages (Arabic) non-deterministically."""
    words, weights = vocab
    out = []
    for _ in range(n):
        k = int(rng.integers(4, 14))
        picked = [words[i] for i in rng.choice(len(words), size=k, p=weights)]
        if k > 6 and rng.random() < 0.4:
            c = int(rng.integers(2, k - 2))
            picked[c] += ","
        picked[0] = picked[0][:1].upper() + picked[0][1:]
        end = rng.choice([".", ".", ".", "?", "!"])
        out.append(" ".join(picked) + end)
    return " ".join(out)


def _synthesize(speaker: Speaker, text: str) -> tuple[np.ndarray, int]:
    """Run eSpeak NG; ``(int16 samples, sample rate)``."""
    ssml = f'<speak><prosody range="{speaker.pitch_range}%">{escape(text)}</prosody></speak>'
    cmd = [ESPEAK, "-m", "-v", f"{speaker.language}+{speaker.variant}", "-p", str(speaker.pitch),
           "-s", str(speaker.rate), "--stdout", ssml]
    try:
        res = subprocess.run(cmd, capture_output=True, check=True, timeout=120)
    except FileNotFoundError:
        raise SeparenaError("espeak-2mix: espeak-ng not found on PATH; install the Debian package espeak-ng") from None
    except subprocess.SubprocessError as exc:
        raise SeparenaError(f"espeak-2mix: espeak-ng failed for speaker {speaker.id}: {exc}") from None
    data = res.stdout
    if len(data) < 44 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise SeparenaError(
            f"espeak-2mix: espeak-ng gave no WAV for speaker {speaker.id} "
            f"({speaker.language}+{speaker.variant}); expected RIFF/WAVE, got {len(data)} bytes"
        )
    rate = int.from_bytes(data[24:28], "little")
    body = data[44:]
    return np.frombuffer(body[: len(body) // 2 * 2], dtype="<i2"), rate


def _resample_ratio(rate_in: int, rate_out: int, formant: float) -> tuple[int, int]:
    """``(up, down)`` for :func:`scipy.signal.resample_poly` that treats input sampled at
    ``rate_in`` as if sampled at ``rate_in * formant`` (all frequencies times ``formant``) and
    brings it to ``rate_out``. ``formant`` is quantised to a step of about 0.25 %."""
    g = math.gcd(rate_in, rate_out)
    m = max(1, math.ceil(400 / (rate_in // g)))
    base = rate_in // g * m  # formant = k / base
    k = max(1, round(formant * base))
    up, down = rate_out // g * m, k
    r = math.gcd(up, down)
    return up // r, down // r


def _process(pcm: np.ndarray, rate_in: int, rate_out: int, formant: float) -> np.ndarray:
    """int16 eSpeak NG output to a trimmed, normalised float32 ``[time]`` (see :func:`resample_formant`)."""
    return resample_formant(pcm.astype(np.float64) / 32768.0, rate_in, rate_out, formant)


def resample_formant(y: np.ndarray, rate_in: int, rate_out: int, formant: float) -> np.ndarray:
    """Resample ``y [time]`` from ``rate_in`` to ``rate_out`` with every frequency scaled by
    ``formant`` (durations by ``1 / formant``), trim silence, normalise level. float32 ``[time]``."""
    from scipy.signal import resample_poly

    up, down = _resample_ratio(rate_in, rate_out, formant)
    return trim_normalise(resample_poly(y, up, down), rate_out)


def build_speaker(speaker: Speaker, texts: list[str], sample_rate: int, out: Path) -> list[int]:
    """Synthesise every utterance of one speaker into ``out`` (one file, utterances
    concatenated); returns the utterance lengths in samples."""
    pieces = []
    for text in texts:
        pcm, rate = _synthesize(speaker, text)
        y = _process(pcm, rate, sample_rate, speaker.formant)
        if len(y) < sample_rate // 2:
            raise SeparenaError(
                f"espeak-2mix: speaker {speaker.id} ({speaker.language}+{speaker.variant}) gave "
                f"{len(y)} samples for {text[:40]!r}; expected at least 0.5 s of speech"
            )
        pieces.append(y)
    write_wav(out, np.concatenate(pieces), sample_rate)
    return [len(p) for p in pieces]


# --------------------------------------------------------------------------------------------
# Speakers and plan


def make_speakers(rng: np.random.Generator, split: str, n: int, languages: Sequence[str],
                  held_out_languages: Sequence[str], variants: Sequence[str], formant_shift: float,
                  text_langs: set[str]) -> list[Speaker]:
    """``n`` distinct speakers; every other one speaks a held-out language when there are any."""
    seen: set[tuple] = set()
    out: list[Speaker] = []
    lang_order = list(rng.permutation(len(languages)))
    while len(out) < n:
        i = len(out)
        if held_out_languages and i % 2 == 0:
            lang = held_out_languages[(i // 2) % len(held_out_languages)]
        else:
            lang = languages[lang_order[(i // (2 if held_out_languages else 1)) % len(languages)]]
        variant = variants[int(rng.integers(len(variants)))]
        pitch = int(rng.integers(15, 86))
        pitch_range = int(rng.integers(40, 181))
        rate = int(rng.integers(130, 211))
        formant = round(float(rng.uniform(1 - formant_shift, 1 + formant_shift)), 3)
        key = (lang, variant, pitch, pitch_range, rate, formant)
        if key in seen:
            continue
        seen.add(key)
        out.append(Speaker(f"{split}{i:04d}", split, lang, variant, pitch, pitch_range, rate, formant,
                           _text_language(lang, text_langs)))
    return out


def plan_speakers(params: dict, languages: list[str], variants: list[str], text_langs: set[str]) -> list[Speaker]:
    """Every speaker of every split, a pure function of ``params`` and the voice inventory."""
    rng = np.random.default_rng([params["seed"], 1])
    langs = [languages[i] for i in rng.permutation(len(languages))]
    vars_ = [variants[i] for i in rng.permutation(len(variants))]
    nl_t, nl_v = params["n_test_languages"], params["n_valid_languages"]
    nv_t, nv_v = params["n_test_variants"], params["n_valid_variants"]
    if nv_t + nv_v >= len(vars_) or nl_t + nl_v >= len(langs):
        raise SeparenaError(
            f"espeak-2mix: too many held-out voices; expected fewer than {len(vars_)} variants and "
            f"{len(langs)} languages, got {nv_t + nv_v} and {nl_t + nl_v}"
        )
    test_l, valid_l, train_l = langs[:nl_t], langs[nl_t:nl_t + nl_v], langs[nl_t + nl_v:]
    test_v, valid_v, train_v = vars_[:nv_t], vars_[nv_t:nv_t + nv_v], vars_[nv_t + nv_v:]
    shift = params["formant_shift"]
    return [
        *make_speakers(rng, "train", params["n_train_speakers"], train_l, [], train_v, shift, text_langs),
        *make_speakers(rng, "valid", params["n_valid_speakers"], train_l, valid_l, valid_v, shift, text_langs),
        *make_speakers(rng, "test", params["n_test_speakers"], train_l, test_l, test_v, shift, text_langs),
    ]
