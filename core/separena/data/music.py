"""``midi-4stem``: 4-stem music (vocals, bass, drums, other) rendered from generated MIDI.

Every piece is composed procedurally from a seed (:func:`separena.data.midi.compose`): a random
key (major or minor), tempo and chord progression; a monophonic lead melody in phrases on a
voice-like General MIDI program (choir "aahs", voice "oohs", synth voice, solo vox) with vibrato
from pitch bends; a bass line on the chord roots; a GM drum kit on MIDI channel 10; and "other":
a sustained pad or string part plus a comping piano, electric piano, organ, guitar or mallet
part. Sources come in the fixed order :data:`SOURCES` = (vocals, bass, drums, other).

Each stem is rendered on its own with FluidSynth (``pyfluidsynth``, Debian ``libfluidsynth3``)
from General MIDI soundfonts: valid and test from Debian's ``fluid-soundfont-gm``
(``FluidR3_GM.sf2``) when installed, otherwise the ``TimGM6mb.sf2`` that ships inside the
``pretty_midi`` wheel; training pieces, by default, each part from a font drawn from
:data:`SOUNDFONT_POOL` (four Debian soundfont packages). Stems
are rendered at twice the sample rate and decimated (FluidSynth does not band-limit), with
FluidSynth's own reverb and chorus off (their state carries from one render to the next, which
breaks determinism) and a seeded synthetic room reverb per stem instead, then high-passed at
20 Hz (soundfont samples carry DC offsets that no mastered stem has).

Training pieces can be given more variety (:mod:`separena.data.music_production`, each a
parameter of :func:`midi_4stem`): the soundfont pool (on by default), recorded drum-kit samples,
humanised timing and dynamics, per-stem effects, mix-bus processing and varied writing. They
never touch valid and test pieces.

Held apart: valid and test pieces come from their own seeds, and use GM programs, drum kits,
drum patterns, bass rhythms and chord progressions that no training piece uses. The extra test
set ``transfer`` (:mod:`separena.data.music_transfer`) goes further: songs composed by people,
rendered with a soundfont no training set uses.

The data is stored as 16-bit PCM under ``<cache>/midi-4stem-<hash>/`` as mixture folders
(:mod:`separena.data.disk`: ``<split>/mix/``, ``s1/`` .. ``s4/``) with what was drawn for each
piece in ``meta.json``; the hash covers every generation parameter, the generator version, the soundfont (name and size) and
the versions of FluidSynth, pretty_midi, numpy and scipy. The build happens in a temporary
folder renamed into place when complete, so an interrupted build is never read back.
"""

from __future__ import annotations

import copy
import ctypes
import dataclasses
import hashlib
from types import SimpleNamespace
import json
import logging
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import SeparenaError
from ..progress import progress_bar
from . import Example, SeparationData
from .audio import read_wav
from .cache import CARRIED_ENV, atomic_dir, carried_root, default_cache_dir
from .carry import carry_mixture_sets, expand_carried_sets, refuse_when_carried
from .disk import MixtureFolder, write_mixture_folder
from .midi import PieceInfo, compose

__all__ = ["midi_4stem", "carry_midi_4stem", "MusicTrainStream", "SOURCES", "GENERATOR_VERSION", "HIGHPASS_HZ",
           "find_soundfont", "Production", "SOUNDFONT_POOL"]

log = logging.getLogger(__name__)

GENERATOR_VERSION = "midi-4stem/2"  # 2: stems high-passed at HIGHPASS_HZ
SOURCES = ("vocals", "bass", "drums", "other")
FLUIDR3 = Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")
OVERSAMPLE = 2  # render at 2x the sample rate, then decimate (FluidSynth does not band-limit)
# Soundfont samples carry DC offsets (FluidR3's warm pad, GM program 89, left 'other' stems whose
# mean was up to 1.3 times their standard deviation in 21 of the 40 test pieces) and asymmetric
# distortion adds some: inaudible, but it dominated the scale-dependent SDRs (uSDR, cSDR) and, as
# Demucs adds the mixture's mean back to every stem, its estimates. No mastered stem has it.
HIGHPASS_HZ = 20.0
BLOCK = 64  # FluidSynth's block: events are placed on block boundaries (exact, repeatable timing)
STEM_RMS = 0.05  # RMS of a stem at 0 dB gain
PEAK = 0.95  # the mixture is scaled down if it would peak above this
# The default training soundfont pool (its order fixes the draws): it gained 1 dB on the transfer
# set over FluidR3 alone at music-quick's budget (docs/benchmarks/music_ablation.md).
SOUNDFONT_POOL = ("fluidr3", "timgm6mb", "fluidr3mono", "opl3")
CONTROLLERS = (7, 11, 64)  # MIDI controllers the renderer plays: volume, expression, sustain pedal


def find_soundfont(soundfont: str = "auto") -> Path:
    """The soundfont file: ``"auto"`` (FluidR3_GM if installed, else pretty_midi's TimGM6mb),
    ``"fluidr3"``, ``"timgm6mb"``, or a path to any ``.sf2`` file."""
    if soundfont in ("auto", "fluidr3") and FLUIDR3.is_file():
        return FLUIDR3
    if soundfont == "fluidr3":
        raise SeparenaError(f"midi-4stem: soundfont 'fluidr3' not found at {FLUIDR3}; expected the Debian "
                            "package fluid-soundfont-gm (apt-get install fluid-soundfont-gm)")
    if soundfont in ("auto", "timgm6mb"):
        import pretty_midi

        return Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
    path = Path(soundfont).expanduser()
    if not path.is_file():
        raise SeparenaError(f"midi-4stem: soundfont {soundfont!r} not found; expected 'auto', 'fluidr3', "
                            "'timgm6mb' or the path of a .sf2 file")
    return path


# --------------------------------------------------------------------------------------------
# Rendering


class _Renderer:
    """Renders instrument lists to mono float32 at ``sample_rate`` with FluidSynth.

    The soundfont is loaded once; every render gets a fresh synthesizer that shares it, so a
    render depends on its own notes only (voices keep state from one note to the next, which
    would otherwise make each piece depend on the pieces rendered before it).
    """

    def __init__(self, soundfont: Path, sample_rate: int) -> None:
        try:
            import fluidsynth
        except (ImportError, OSError) as exc:  # OSError: libfluidsynth not found
            raise SeparenaError(f"midi-4stem: FluidSynth unavailable ({exc}); expected the PyPI package "
                                "pyfluidsynth and the Debian package libfluidsynth3") from None
        self.fs, lib = fluidsynth, fluidsynth._fl
        for level in (2, 3, 4):  # FLUID_WARN, INFO, DBG: FluidSynth would print them on stderr
            lib.fluid_set_log_function.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p]
            lib.fluid_set_log_function(level, None, None)
        self.sample_rate, self.rate = sample_rate, sample_rate * OVERSAMPLE
        self.base = fluidsynth.Synth(gain=0.5, samplerate=float(self.rate), channels=16,
                                     **{"synth.reverb.active": 0, "synth.chorus.active": 0})
        sfid = self.base.sfload(str(soundfont))
        if sfid < 0:
            raise SeparenaError(f"midi-4stem: FluidSynth could not load soundfont {soundfont}")
        self.sfid = sfid
        self.sfont = fluidsynth.fluid_synth_get_sfont_by_id(self.base.synth, sfid)
        self._add, self._remove = lib.fluid_synth_add_sfont, lib.fluid_synth_remove_sfont
        self._add.argtypes = self._remove.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        self._write = lib.fluid_synth_write_float  # float output: no dither, exact repeats
        self._write.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                ctypes.c_void_p, ctypes.c_int, ctypes.c_int]

    def has_preset(self, bank: int, program: int) -> bool:
        """Whether the soundfont has a preset at ``bank`` (128: drum kits) and ``program``."""
        return bool(self.base.sfpreset_name(self.sfid, bank, program))

    def render(self, instruments: Sequence, n_samples: int) -> np.ndarray:
        """Render ``instruments`` (each on its own channel) for ``n_samples`` at ``sample_rate``.

        Notes, pitch bends and the controllers in :data:`CONTROLLERS` (volume, expression,
        sustain pedal) are played; other events are ignored."""
        from scipy.signal import resample_poly

        fs = self.fs
        synth = fs.new_fluid_synth(self.base.settings)
        sfid = self._add(synth, self.sfont)
        try:
            total = int(math.ceil(n_samples * OVERSAMPLE / BLOCK)) * BLOCK
            q = lambda t: int(round(t * self.rate / BLOCK)) * BLOCK  # noqa: E731  (on FluidSynth blocks)
            events = []  # (sample, order, fn, args): note-offs and bends before note-ons at a time
            for k, inst in enumerate(instruments):
                chan = 9 if inst.is_drum else k
                fs.fluid_synth_program_select(synth, chan, sfid, 128 if inst.is_drum else 0, inst.program)
                for n in inst.notes:
                    events.append((q(n.start), 2, fs.fluid_synth_noteon, (chan, n.pitch, n.velocity)))
                    events.append((q(n.end), 0, fs.fluid_synth_noteoff, (chan, n.pitch)))
                for b in inst.pitch_bends:
                    events.append((q(b.time), 1, fs.fluid_synth_pitch_bend, (chan, b.pitch + 8192)))
                for c in getattr(inst, "control_changes", ()):
                    if c.number in CONTROLLERS:
                        events.append((q(c.time), 1, fs.fluid_synth_cc, (chan, c.number, c.value)))
            events.sort(key=lambda e: (e[0], e[1]))
            buf = np.zeros(2 * total, np.float32)  # interleaved stereo; the left channel is kept
            pos = 0
            for at, _, fn, args in events:
                at = min(at, total)
                if at > pos:
                    self._write(synth, at - pos, buf[2 * pos:].ctypes.data, 0, 2, buf[2 * pos:].ctypes.data, 1, 2)
                    pos = at
                fn(synth, *args)
            if total > pos:
                self._write(synth, total - pos, buf[2 * pos:].ctypes.data, 0, 2, buf[2 * pos:].ctypes.data, 1, 2)
        finally:
            self._remove(synth, self.sfont)  # the soundfont stays loaded for the next render
            fs.delete_fluid_synth(synth)
        return resample_poly(buf[0::2], 1, OVERSAMPLE).astype(np.float32)[:n_samples]


class _PatchRenderer:
    """Renders instrument lists to mono float32 at ``sample_rate`` from a GUS patch set
    (``freepats``) with TiMidity++, the same interface as :class:`_Renderer`.

    FluidSynth reads only SoundFonts; TiMidity++ plays the patch set from its configuration
    file. Each render writes its notes, pitch bends and :data:`CONTROLLERS` to a MIDI file and
    runs ``timidity`` on it: 24-bit mono at twice the sample rate, decimated as FluidSynth's
    renders are, with TiMidity's reverb, chorus and delay off and the initial silence kept
    (TiMidity would drop it, moving every note early). Programs the set lacks are reported by
    :meth:`has_preset`; it has one drum kit (kit 0).
    """

    def __init__(self, config: Path, sample_rate: int) -> None:
        import shutil

        self.timidity = shutil.which("timidity")
        if self.timidity is None:
            raise SeparenaError(f"midi-4stem: the patch set {config} needs TiMidity++; expected the Debian package "
                                "timidity (apt-get install timidity, as scripts/setup.sh does)")
        self.config, self.sample_rate, self.rate = config, sample_rate, sample_rate * OVERSAMPLE
        self.programs: dict[int, set[int]] = {0: set(), 128: set()}  # bank (128: drum kits) -> programs
        section = None
        for line in config.read_text().splitlines():
            words = line.split("#", 1)[0].split()
            if len(words) == 2 and words[0] in ("bank", "drumset") and words[1].isdigit():
                section = (0 if words[0] == "bank" else 128) if words[1] == "0" else None
            elif section is not None and words and words[0].isdigit():
                if section == 0:
                    self.programs[0].add(int(words[0]))
                else:
                    self.programs[128].add(0)  # a drum set's entries are its notes: it is kit 0

    @staticmethod
    def version() -> str:
        """TiMidity++'s version line (``"missing"`` without it), for cache keys and metadata."""
        import shutil
        import subprocess

        exe = shutil.which("timidity")
        if exe is None:
            return "missing"
        lines = subprocess.run([exe, "--version"], capture_output=True, text=True).stdout.strip().splitlines()
        return lines[0] if lines else "unknown"

    def has_preset(self, bank: int, program: int) -> bool:
        """Whether the patch set plays ``program`` of ``bank`` (0: melodic, 128: drum kits)."""
        return program in self.programs.get(bank, set())

    def render(self, instruments: Sequence, n_samples: int) -> np.ndarray:
        """Render ``instruments`` (each on its own channel) for ``n_samples`` at ``sample_rate``."""
        import subprocess
        import tempfile

        import pretty_midi
        import soundfile as sf
        from scipy.signal import resample_poly

        pm = pretty_midi.PrettyMIDI(resolution=960)  # 120 BPM: a tick is 0.52 ms
        for inst in instruments:
            out = pretty_midi.Instrument(inst.program, is_drum=inst.is_drum)
            out.notes, out.pitch_bends = list(inst.notes), list(inst.pitch_bends)
            out.control_changes = [c for c in getattr(inst, "control_changes", ()) if c.number in CONTROLLERS]
            pm.instruments.append(out)
        with tempfile.TemporaryDirectory(prefix="separena-timidity-") as tmp:
            mid, wav = Path(tmp) / "in.mid", Path(tmp) / "out.wav"
            pm.write(str(mid))
            done = subprocess.run([self.timidity, "-c", str(self.config), "-Ow", "--output-mono", "--output-24bit",
                                   "-s", str(self.rate), "--preserve-silence", "-EFreverb=d", "-EFchorus=d",
                                   "-EFdelay=d", "-o", str(wav), str(mid)], capture_output=True, text=True)
            if done.returncode != 0 or not wav.is_file():
                tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["no output"]
                raise SeparenaError(f"midi-4stem: timidity failed on {self.config} ({tail[0]})")
            audio, _ = sf.read(str(wav), dtype="float32")
        buf = np.zeros(n_samples * OVERSAMPLE, np.float32)
        buf[: min(len(audio), len(buf))] = audio[: len(buf)]
        return resample_poly(buf, 1, OVERSAMPLE).astype(np.float32)[:n_samples]


def _room(rng: np.random.Generator, wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """A seeded synthetic room: exponentially decaying noise (RT60 0.2-1.0 s), 5-25 % wet."""
    from scipy.signal import fftconvolve

    rt60, wet = float(rng.uniform(0.2, 1.0)), float(rng.uniform(0.05, 0.25))
    n = int(rt60 * sample_rate)
    ir = rng.standard_normal(n) * np.exp(-6.9 * np.arange(n) / n)
    ir /= np.sqrt((ir ** 2).sum())
    return ((1 - wet) * wav + wet * fftconvolve(wav, ir)[: len(wav)]).astype(np.float32)


@dataclass(frozen=True)
class Production:
    """The training pieces' timbre and performance ingredients (see
    :mod:`separena.data.music_production`); all off renders today's training pieces exactly."""

    soundfonts: tuple[str, ...] = ()  # pool drawn per part and piece; empty: ``soundfont`` only
    drum_samples: float = 0.0  # probability that a piece's drums play hydrogen kit samples
    humanise: float = 0.0  # 0-1: timing, velocity, articulation and dynamics deviations
    effects: float = 0.0  # per stem probability of each effect (EQ, compression, distortion)
    bus: float = 0.0  # probability of mix-bus EQ and compression on a piece
    writing: str = "basic"  # "basic" or "varied": meters, swing, counter-melodies, more patterns

    @property
    def off(self) -> bool:
        return self == Production()


class _Studio:
    """Everything a build renders with: the main renderer (valid, test and, without a pool,
    training), the pool's renderers and the sample kits, each loaded once."""

    def __init__(self, soundfont: Path, sample_rate: int, production: Production) -> None:
        from .music_production import sample_kits, soundfont_paths

        self.sample_rate, self.production = sample_rate, production
        self.main = _Renderer(soundfont, sample_rate)
        loaded = {soundfont.resolve(): self.main}
        self.pool: list[tuple[str, _Renderer | _PatchRenderer]] = []
        for path in soundfont_paths(production.soundfonts):
            if path.resolve() not in loaded:
                kind = _PatchRenderer if path.suffix == ".cfg" else _Renderer  # a TiMidity patch set
                loaded[path.resolve()] = kind(path, sample_rate)
            self.pool.append((path.stem, loaded[path.resolve()]))
        self.kits = sample_kits(sample_rate) if production.drum_samples > 0 else []

    def render_stem(self, rng: np.random.Generator, insts: Sequence, n: int) -> tuple[np.ndarray, list[str]]:
        """One stem: each part on a font drawn from the pool (parts sharing a font render
        together); a font without the part's preset gives way to the first pool font with it (a
        drum kit it lacks plays its kit 0). Returns the audio and the font of each part."""
        if not self.pool:
            return self.main.render(insts, n), ["main"] * len(insts)
        groups: dict[int, list] = {}
        names = []
        for inst in insts:
            k = int(rng.integers(len(self.pool)))
            bank = 128 if inst.is_drum else 0
            if not self.pool[k][1].has_preset(bank, inst.program):
                if inst.is_drum:
                    inst = copy.copy(inst)
                    inst.program = 0
                else:
                    k = next((j for j, (_, r) in enumerate(self.pool) if r.has_preset(0, inst.program)), k)
            groups.setdefault(k, []).append(inst)
            names.append(self.pool[k][0])
        wav = np.zeros(n, np.float32)
        for k, group in sorted(groups.items()):
            wav += self.pool[k][1].render(group, n)
        return wav, names


def _render_piece(studio: "_Studio | _Renderer", rng: np.random.Generator, seconds: float, pool: str,
                  name: str, prod_rng: np.random.Generator | None = None) -> tuple[np.ndarray, PieceInfo]:
    """``[4, samples]`` float32 stems of one newly composed piece, levelled, and its info.

    With ``prod_rng`` (training pieces) the studio's :class:`Production` ingredients apply,
    drawn from ``prod_rng`` so that the composition and levelling draws of ``rng`` stay those of
    today's pieces; without it (valid, test) the piece is rendered as it always was."""
    renderer = studio.main if isinstance(studio, _Studio) else studio
    n = int(round(seconds * renderer.sample_rate))
    prod = studio.production if isinstance(studio, _Studio) and prod_rng is not None else Production()
    stems, info = compose(rng, seconds, pool, name, varied=prod.writing == "varied")
    if prod.off:
        return _level_stems(rng, [renderer.render(stems[source], n) for source in SOURCES], renderer.sample_rate), info
    from .music_production import bus, humanise, stem_effects

    assert isinstance(studio, _Studio) and prod_rng is not None
    sr = renderer.sample_rate
    humanise(prod_rng, stems, prod.humanise, seconds)
    wavs, timbres = [], {}
    for source in SOURCES:
        insts = stems[source]
        if source == "drums" and prod.drum_samples > 0 and prod_rng.random() < prod.drum_samples:
            kit = studio.kits[int(prod_rng.integers(len(studio.kits)))]
            wav, timbres[source] = kit.render(insts, n), [f"kit:{kit.folder.name}"]
        else:
            wav, timbres[source] = studio.render_stem(prod_rng, insts, n)
        wavs.append(stem_effects(prod_rng, wav, sr, prod.effects, [i.program for i in insts if not i.is_drum]))
    out = _level_stems(rng, wavs, sr)
    if prod.bus > 0 and prod_rng.random() < prod.bus:
        out = bus(prod_rng, out, sr)
        peak = max(float(np.abs(out.sum(0)).max(initial=0.0)), float(np.abs(out).max(initial=0.0)))
        if peak > PEAK:
            out *= PEAK / peak
    return out, dataclasses.replace(info, timbres=timbres)


def _without_subsonics(wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """``wav`` high-passed at :data:`HIGHPASS_HZ`: a 2nd-order Butterworth run forwards and
    backwards (zero phase, so the stem stays aligned with its notes; -24 dB/octave), which takes
    out DC offsets and sub-sonic drift. ``[samples]`` float32."""
    from scipy.signal import butter, sosfiltfilt

    sos = butter(2, HIGHPASS_HZ, btype="highpass", fs=sample_rate, output="sos")
    return sosfiltfilt(sos, wav.astype(np.float64)).astype(np.float32)


def _level_stems(rng: np.random.Generator, wavs: Sequence[np.ndarray], sample_rate: int) -> np.ndarray:
    """The mixing conventions of every ``midi-4stem`` set: per stem a seeded room, a high-pass at
    :data:`HIGHPASS_HZ`, RMS ``STEM_RMS`` times a gain uniform in -4..+2 dB; all scaled down
    together if their sum (or a stem) would peak above ``PEAK``. ``[4, samples]`` float32."""
    out = np.zeros((len(wavs), len(wavs[0])), np.float32)
    for k, dry in enumerate(wavs):
        wav = _without_subsonics(_room(rng, dry, sample_rate), sample_rate)
        rms = float(np.sqrt(np.mean(wav.astype(np.float64) ** 2)))
        gain_db = float(rng.uniform(-4.0, 2.0))
        out[k] = wav / max(rms, 1e-8) * STEM_RMS * 10 ** (gain_db / 20)
    peak = float(np.abs(out.sum(0)).max(initial=0.0))
    peak = max(peak, float(np.abs(out).max(initial=0.0)))
    if peak > PEAK:
        out *= PEAK / peak
    return out


# --------------------------------------------------------------------------------------------
# Training stream


class MusicTrainStream:
    """Training batches from the rendered training pieces, a pure function of ``(seed, step)``.

    Each item takes a random crop of a random piece. With probability ``remix`` each stem is
    instead cropped from its own random piece (Open-Unmix's incoherent remixing, which
    multiplies the distinct mixtures seen); each stem then gets a random gain in +-3 dB.
    Mixtures are the exact sum of the sources.

    ``batch`` returns ``(mix [batch, time], sources [batch, 4, time])`` float32.
    """

    n_src = len(SOURCES)

    def __init__(self, stems: np.ndarray, remix: float = 0.5, gain_db: float = 3.0) -> None:
        self.stems = stems  # int16 [pieces, 4, samples]
        self.remix, self.gain_db = remix, gain_db

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        rng = np.random.default_rng([int(seed), int(step), 0x4D15])
        n_pieces, n_src, length = self.stems.shape
        n = min(segment_samples, length)
        out = np.zeros((batch_size, n_src, segment_samples), np.float32)
        for b in range(batch_size):
            incoherent = rng.random() < self.remix
            piece, start = int(rng.integers(n_pieces)), int(rng.integers(length - n + 1))
            for k in range(n_src):
                if incoherent:
                    piece, start = int(rng.integers(n_pieces)), int(rng.integers(length - n + 1))
                out[b, k, :n] = self.stems[piece, k, start:start + n]
        out *= (10 ** (rng.uniform(-self.gain_db, self.gain_db, size=(batch_size, n_src, 1)) / 20) / 32768.0
                ).astype(np.float32)
        sources = torch.from_numpy(out)
        return sources.sum(1), sources


# --------------------------------------------------------------------------------------------
# Build and load


def _versions() -> dict[str, str]:
    import importlib.metadata as md

    import scipy

    out = {"numpy": np.__version__, "scipy": scipy.__version__}
    for dist in ("pretty_midi", "pyfluidsynth"):
        try:
            out[dist] = md.version(dist)
        except md.PackageNotFoundError:
            out[dist] = "missing"
    try:
        import fluidsynth

        out["libfluidsynth"] = fluidsynth._fl._name  # e.g. "libfluidsynth.so.3"
    except (ImportError, OSError, AttributeError):
        out["libfluidsynth"] = "missing"
    return out


def _split_plan(params: dict) -> list[tuple[str, int, float, str]]:
    """``(split, count, seconds, program pool)`` for train, valid and test."""
    held = "held-out" if params["held_out"] else "train"
    return [("train", params["n_train"], params["train_seconds"], "train"),
            ("valid", params["n_valid"], params["eval_seconds"], held),
            ("test", params["n_test"], params["eval_seconds"], held)]


def _build(final: Path, params: dict, soundfont: Path, sample_rate: int, progress: bool,
           production: Production = Production()) -> None:
    start = time.perf_counter()
    studio = _Studio(soundfont, sample_rate, production)
    plan = _split_plan(params)
    pieces: dict[str, list[dict]] = {}
    with atomic_dir(final) as tmp, progress_bar(progress) as bar:
        task = bar.add_task(f"midi-4stem: rendering {final.name}", total=sum(c for _, c, _, _ in plan))
        for split_id, (split, count, seconds, pool) in enumerate(plan):
            pieces[split] = []
            for i in range(count):
                name = f"{split}-{i:05d}"
                rng = np.random.default_rng([params["seed"], split_id, i, 0x4D15])
                # Training pieces draw their production from a stream of their own (valid and test
                # pieces have none: they stay as they are whatever the training ingredients).
                prod_rng = np.random.default_rng([params["seed"], split_id, i, 0x50D]) if split == "train" else None
                stems, info = _render_piece(studio, rng, seconds, pool, name, prod_rng)
                # Round through int16 first so that the stored stems sum to the stored mixture.
                src = torch.from_numpy(np.round(stems * 32767.0) / 32767.0).float()
                write_mixture_folder(tmp, split, [Example(name, src.sum(0), src)], sample_rate)
                pieces[split].append(info.__dict__)
                bar.update(task, advance=1)
        meta = {"generator": GENERATOR_VERSION, "params": params, "soundfont": soundfont.name,
                "production": dataclasses.asdict(production), "pool": [name for name, _ in studio.pool],
                "sources": list(SOURCES), "versions": _versions(), "pieces": pieces,
                "build_seconds": round(time.perf_counter() - start, 2)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1, default=list))
    log.info("midi-4stem: built %s in %.1f s", final, time.perf_counter() - start)


def _load_train(final: Path, n_train: int, sample_rate: int) -> np.ndarray:
    stems = None
    for i in range(n_train):
        for k in range(len(SOURCES)):
            wav = read_wav(final / "train" / f"s{k + 1}" / f"train-{i:05d}.wav", sample_rate).numpy()
            if stems is None:
                stems = np.zeros((n_train, len(SOURCES), wav.shape[0]), np.int16)
            stems[i, k] = np.round(wav * 32768.0).astype(np.int16)  # exact: the file is 16-bit
    return stems


def _check(params: dict) -> None:
    def need(ok: bool, what: str, expected: str) -> None:
        if not ok:
            raise SeparenaError(f"midi-4stem: bad {what}; expected {expected}, got {params[what]!r}")

    need(8000 <= params["sample_rate"] <= 48000, "sample_rate", "8000 to 48000 Hz")
    for key in ("n_train", "n_valid", "n_test"):
        need(params[key] >= 1, key, ">= 1")
    for key in ("train_seconds", "eval_seconds"):
        need(1.0 <= params[key] <= 120.0, key, "1 to 120 seconds")
    need(0.0 <= params["remix"] <= 1.0, "remix", "a probability in [0, 1]")


def _production(soundfonts: Sequence[str] | str, drum_samples: float, humanise: float, effects: float, bus: float,
                writing: str) -> Production:
    """The checked :class:`Production` of ``midi_4stem``'s ingredient parameters."""
    from .music_production import SOUNDFONTS

    fonts = (soundfonts,) if isinstance(soundfonts, str) else tuple(soundfonts)
    bad = [f for f in fonts if f not in SOUNDFONTS]
    if bad or len(set(fonts)) != len(fonts):
        raise SeparenaError(f"midi-4stem: bad soundfonts {soundfonts!r}; expected distinct names of "
                            f"{', '.join(SOUNDFONTS)}")
    for what, value in (("drum_samples", drum_samples), ("humanise", humanise), ("effects", effects), ("bus", bus)):
        if not 0.0 <= float(value) <= 1.0:
            raise SeparenaError(f"midi-4stem: bad {what}; expected a number in [0, 1], got {value!r}")
    if writing not in ("basic", "varied"):
        raise SeparenaError(f"midi-4stem: bad writing; expected 'basic' or 'varied', got {writing!r}")
    return Production(fonts, float(drum_samples), float(humanise), float(effects), float(bus), str(writing))


def midi_4stem(*, seed: int = 0, sample_rate: int = 16000, n_train: int = 120, train_seconds: float = 8.0,
               n_valid: int = 12, n_test: int = 40, eval_seconds: float = 6.0, held_out: bool = True,
               remix: float = 0.5, soundfont: str = "auto", soundfonts: Sequence[str] = SOUNDFONT_POOL,
               drum_samples: float = 0.0, humanise: float = 0.0, effects: float = 0.0, bus: float = 0.0,
               writing: str = "basic", transfer_set: bool = True, cache_dir: str | None = None,
               progress: bool = True) -> SeparationData:
    """4-stem music (vocals, bass, drums, other) rendered from procedurally generated MIDI.

    Args:
        seed: every piece (and so the whole dataset) follows from it.
        sample_rate: Hz of every waveform.
        n_train: training pieces, ``train_seconds`` each (cropped and remixed on the fly).
        n_valid, n_test: fixed evaluation mixtures, ``eval_seconds`` each.
        held_out: valid and test use GM programs, drum kits, patterns and progressions that
            no training piece uses (``False``: the same pools as training).
        remix: probability that a training item mixes stems of different pieces.
        soundfont: ``"auto"`` (FluidR3_GM if installed, else TimGM6mb), ``"fluidr3"``,
            ``"timgm6mb"`` or a path to a ``.sf2`` file. It renders valid and test, and the
            training pieces when ``soundfonts`` is empty.
        soundfonts: the training pieces' soundfont pool, drawn per part and per piece, names of
            :data:`separena.data.music_production.SOUNDFONTS`; default :data:`SOUNDFONT_POOL`
            (``"fluidr3"``, ``"timgm6mb"``, ``"fluidr3mono"``, ``"opl3"``); empty: ``soundfont``
            only (the data before the pool existed).
        drum_samples: probability that a training piece's drums play the recorded samples of a
            ``hydrogen-drumkits`` kit (one of 12, drawn per piece) instead of a soundfont kit.
        humanise: 0-1, how much training pieces deviate from the grid and the written dynamics
            (timing, velocity, articulation, a dynamic swell).
        effects: per training stem, the probability of each effect: EQ, compression, and
            distortion for guitars (bass a quarter as often).
        bus: probability of mix-bus EQ and compression on a training piece (applied to every
            stem alike: the mixture stays their sum).
        writing: ``"basic"`` (today's generator) or ``"varied"``: training pieces also in 3/4,
            swung, faster and slower, with more patterns, programs and a counter-melody in
            "other" (valid and test stay ``"basic"``).
        transfer_set: report the extra test set ``"transfer"``: excerpts of human-composed
            songs rendered with a soundfont training never uses
            (:mod:`separena.data.music_transfer`); ``eval_seconds`` long.
        cache_dir: where rendered audio is kept (default ``$SEPARENA_CACHE`` or
            ``~/.cache/separena``).
        progress: show a progress bar while building.

    Returns:
        :class:`SeparationData` named ``midi-4stem@<hash>`` with ``n_src=4`` in the order
        :data:`SOURCES`; ``train`` is a :class:`MusicTrainStream`, ``valid``/``test`` (and
        ``extra_tests["transfer"]``) are read from the cache. The name's hash also covers the
        transfer set when there is one.
    """
    request = _request(locals())
    params = {"seed": int(seed), "sample_rate": int(sample_rate), "n_train": int(n_train),
              "train_seconds": float(train_seconds), "n_valid": int(n_valid), "n_test": int(n_test),
              "eval_seconds": float(eval_seconds), "held_out": bool(held_out), "remix": float(remix)}
    _check(params)
    production = _production(soundfonts, drum_samples, humanise, effects, bus, writing)
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    carried = carried_root()
    if carried is not None:
        return _from_carried(carried, root, request)
    font = find_soundfont(soundfont)
    content = {k: v for k, v in params.items() if k != "remix"}  # remix changes batches, not files
    content.update(generator=GENERATOR_VERSION, versions=_versions(), soundfont=[font.name, font.stat().st_size])
    if not production.off:  # without ingredients the pieces (and so the hash) are today's
        from .music_production import DRUMKITS, soundfont_paths

        content["production"] = dataclasses.asdict(production)
        pool = soundfont_paths(production.soundfonts)
        content["pool"] = [[p.name, p.stat().st_size] for p in pool]
        if any(p.suffix == ".cfg" for p in pool):  # a patch set sounds as its player renders it
            content["timidity"] = _PatchRenderer.version()
        if production.drum_samples > 0:
            content["drumkits"] = list(DRUMKITS)
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    final = root / f"midi-4stem-{digest[:16]}"
    if not (final / "meta.json").is_file():
        _build(final, params, font, params["sample_rate"], progress, production)
    else:
        log.info("midi-4stem: using cached %s", final)
    extra, name_digest = {}, digest
    if transfer_set:
        from . import music_transfer

        if font.resolve() == music_transfer.SOUNDFONT.resolve() or font.name == music_transfer.SOUNDFONT.name:
            raise SeparenaError(f"midi-4stem: soundfont {font.name} is the transfer set's; train with another "
                                "or pass transfer_set=False")
        extra["transfer"], transfer_digest = music_transfer.transfer_set(
            transfer_kit(), sample_rate=params["sample_rate"], seconds=params["eval_seconds"], cache_dir=cache_dir, progress=progress)
        name_digest = hashlib.sha256(f"{digest}+{transfer_digest}".encode()).hexdigest()
    return _data(final, params, f"midi-4stem@{name_digest[:8]}", extra)


def _data(final: Path, params: dict, name: str, extra: dict[str, MixtureFolder]) -> SeparationData:
    train = MusicTrainStream(_load_train(final, params["n_train"], params["sample_rate"]), remix=params["remix"])
    valid = MixtureFolder(final, "valid", params["sample_rate"], len(SOURCES), mix_from_sources=True)
    test = MixtureFolder(final, "test", params["sample_rate"], len(SOURCES), mix_from_sources=True)
    return SeparationData(name=name, sample_rate=params["sample_rate"], n_src=len(SOURCES), train=train,
                          valid=valid, test=test, extra_tests=extra, source_names=tuple(SOURCES),
                          permutation_invariant=False)


def _request(arguments: dict) -> dict:
    """What a carried copy must have been built with: every argument of :func:`midi_4stem`
    but where the cache is and whether a bar shows, in JSON's form."""
    return json.loads(json.dumps({k: v for k, v in arguments.items() if k not in ("cache_dir", "progress")},
                                 sort_keys=True, default=list))


def carry_midi_4stem(folder: str | os.PathLike[str], *, codec: str = "flac10bit",
                     splits: Sequence[str] = ("train", "valid", "test"), cache_dir: str | None = None,
                     progress: bool = True, **params: object) -> Path:
    """Write ``midi_4stem(**params)`` (built here first when not cached: FluidSynth, the
    soundfonts and the transfer set's MIDI packages) into ``folder`` as
    ``<cache folder>+<codec>``: the sources of ``splits`` (of train, valid, test and transfer),
    each split and source one stream (:func:`separena.data.carry.carry_mixture_sets`; codec
    ``"flac<N>bit"`` or ``"opus<N>k"``). With ``$SEPARENA_CARRIED`` naming ``folder``,
    :func:`midi_4stem` with the same arguments reads it from there, on a machine with none of
    those packages; a split left here is missing there (the transfer set by default: runs
    trained there are scored here). Returns the carried folder.
    """
    import inspect

    refuse_when_carried("midi-4stem's pieces are")
    bound = inspect.signature(midi_4stem).bind(**params)
    bound.apply_defaults()
    data = midi_4stem(**params, cache_dir=cache_dir, progress=progress)
    final = data.valid.root
    every = {"train": MixtureFolder(final, "train", data.sample_rate, data.n_src, mix_from_sources=True),
             "valid": data.valid, "test": data.test, **data.extra_tests}
    if not {"train", "valid", "test"} <= set(splits) <= set(every):
        raise SeparenaError(f"carry: bad splits {list(splits)}; expected train, valid and test, and any of "
                            f"{', '.join(sorted(set(every) - {'train', 'valid', 'test'})) or 'no other'}")
    meta = {**json.loads((final / "meta.json").read_text()), "name": data.name,
            "request": _request(bound.arguments)}
    return carry_mixture_sets(Path(folder) / f"{final.name}+{codec}", {s: every[s] for s in splits}, meta,
                              codec=codec)


def _from_carried(carried: Path, root: Path, request: dict) -> SeparationData:
    """The data set of ``request`` from its carried copy under ``carried``, decoded into ``root``
    once; named after the data it was made from and the copy, so never passing for it."""
    found = []
    for d in sorted(carried.glob("midi-4stem-*+*")):
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError):
            continue
        if "carried" in meta and meta.get("request") == request:
            found.append((d, meta))
    if len(found) != 1:
        names = ", ".join(d.name for d, _ in found) or "none"
        raise SeparenaError(f"${CARRIED_ENV}={carried}: {len(found)} carried midi-4stem sets built with these "
                            f"arguments ({names}); expected exactly one, written by "
                            "separena.data.music.carry_midi_4stem with the same arguments")
    source, meta = found[0]
    final = expand_carried_sets(source, root / source.name)
    params = {**meta["params"], "remix": float(request["remix"])}
    extra = {split: MixtureFolder(final, split, params["sample_rate"], len(SOURCES), mix_from_sources=True)
             for split in meta["carried"]["items"] if split not in ("train", "valid", "test")}
    name = hashlib.sha256(f"{meta['name']}+{source.name}".encode()).hexdigest()
    return _data(final, params, f"midi-4stem@{name[:8]}", extra)


def transfer_kit() -> SimpleNamespace:
    """What :func:`separena.data.music_transfer.transfer_set` renders and mixes with: the
    stems, the level rule, the renderer and the versions midi-4stem hashes."""
    return SimpleNamespace(SOURCES=SOURCES, level_stems=_level_stems, Renderer=_Renderer, versions=_versions)
