"""Timbre and production variety for ``midi-4stem``'s training pieces.

A model trained on one soundfont, one drum kit and dry, quantised, uniformly levelled parts
learns those timbres rather than what a bass or a voice is. The ingredients here vary each
training piece (each a parameter of :func:`separena.data.music.midi_4stem`):

- **soundfonts**: every part is played by a General MIDI soundfont drawn per part and per piece
  from a pool (:data:`SOUNDFONTS`: FluidR3_GM, FluidR3Mono_GM, TimGM6mb and the OPL-3 FM bank,
  and the ``freepats`` patch set played with TiMidity++, all Debian packages); a font without the
  part's preset falls back to the first font of the pool that has it;
- **drum samples**: the composed drum part is played from the recorded samples of a
  ``hydrogen-drumkits`` kit (:class:`SampleKit`), GM drum notes matched to the kit's instruments
  by name, velocity layers as the kit defines them;
- **humanise**: per-note timing and velocity jitter, a per-part timing offset, articulation
  (note length) and a dynamic swell over the bars (:func:`humanise`);
- **effects**: per stem a random EQ, compression, and distortion for guitars
  (:func:`stem_effects`);
- **bus**: a mix-bus EQ and compressor whose filter and gain curve are applied to every stem
  alike, so the mixture stays the exact sum of the stems (:func:`bus`).

Everything is a deterministic function of the random generator passed in. Reserved Debian
packages (docs/data-real.md, "Packages never used") and the transfer set's soundfont are never used: :data:`SOUNDFONTS` and
:data:`DRUMKITS` are the only files read.
"""

from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import SeparenaError

__all__ = ["SOUNDFONTS", "DRUMKITS", "DRUMKIT_ROOT", "SampleKit", "soundfont_paths", "sample_kits", "humanise",
           "stem_effects", "bus", "GUITARS"]

# name -> (Debian package, file). The pool training may draw from; the transfer set's csound
# bank and the reserved MuseScore fonts are deliberately absent.
SOUNDFONTS = {
    "fluidr3": ("fluid-soundfont-gm", Path("/usr/share/sounds/sf2/FluidR3_GM.sf2")),
    "fluidr3mono": ("fluidr3mono-gm-soundfont", Path("/usr/share/fluidr3mono-gm-soundfont/FluidR3Mono_GM.sf3")),
    "timgm6mb": ("timgm6mb-soundfont", Path("/usr/share/sounds/sf2/TimGM6mb.sf2")),
    "opl3": ("opl3-soundfont", Path("/usr/share/sounds/sf2/OPL-3_FM_128M.sf2")),
    # Not a SoundFont: GUS patches, sampled from real instruments, played with TiMidity++.
    "freepats": ("freepats", Path("/etc/timidity/freepats.cfg")),
}
DRUMKIT_PACKAGE = "hydrogen-drumkits"
DRUMKIT_ROOT = Path("/usr/share/hydrogen/data/drumkits")
# Kits with at least a kick, a snare and a closed hi-hat (the hand-percussion and djembe kits
# of the package have none of these).
DRUMKITS = ("Audiophob", "BJA_Pacific", "ColomboAcousticDrumkit", "ElectricEmpireKit", "ForzeeStereo",
            "HardElectro1", "Millo-Drums_v.1", "Millo_MultiLayered2", "Millo_MultiLayered3",
            "The Black Pearl 1.0", "VariBreaks", "rumpf_kit_z01_h2")
GUITARS = range(24, 32)  # GM programs (0-based) that get a guitar's distortion

# GM drum note -> (name patterns of kit instruments, first match wins; fallback notes).
_DRUM_MATCH: dict[int, tuple[str, tuple[int, ...]]] = {
    36: (r"kick|bass ?drum|\bbd\b", ()),
    38: (r"snare(?!.*(rim|roll))|\bsd\b", ()),
    42: (r"(closed|cl\b).*|hat.*closed|h(i-?)?h(at)? ?(1 )?cl", ()),
    46: (r"open|\bop\b", (42,)),
    49: (r"crash", (51, 46)),
    51: (r"ride(?!.*bell)", (42,)),
    41: (r"floor|tom.*low|low.*tom", (45, 38)),
    45: (r"tom.*low|low.*tom|floor", (48, 38)),
    48: (r"tom.*mid|mid.*tom|tom 2", (45, 50, 38)),
    50: (r"tom.*hi|hi.*tom|tom 1", (48, 38)),
}
_HAT = re.compile(r"h(i-?)?h|hat")


def soundfont_paths(names: Sequence[str]) -> list[Path]:
    """The files of the named pool fonts; one-line error naming a bad name or a missing package."""
    out = []
    for name in names:
        if name not in SOUNDFONTS:
            raise SeparenaError(f"midi-4stem: bad soundfonts entry {name!r}; expected one of {', '.join(SOUNDFONTS)}")
        package, path = SOUNDFONTS[name]
        if name == "timgm6mb" and not path.is_file():  # the same bank ships inside the pretty_midi wheel
            import pretty_midi

            path = Path(pretty_midi.__file__).parent / "TimGM6mb.sf2"
        if not path.is_file():
            raise SeparenaError(f"midi-4stem: soundfont {name!r} not found at {path}; expected the Debian package "
                                f"{package} (apt-get install {package}, as scripts/setup.sh does)")
        out.append(path)
    return out


@dataclass
class _Layer:
    low: float  # velocity range (0-1) the layer plays
    high: float
    wav: np.ndarray  # mono float32 at the target rate, gain applied


class SampleKit:
    """A hydrogen drum kit played from its recorded samples at ``sample_rate``.

    ``drumkit.xml`` names each instrument and its velocity layers (older kits: one file per
    instrument); a GM drum note plays the first instrument whose name matches its pattern, or
    the note's fallbacks (an open hi-hat falls back to the closed one, and so on); a note the kit
    cannot play is silent. Samples are read when first needed and kept.
    """

    def __init__(self, folder: Path, sample_rate: int) -> None:
        self.folder, self.sample_rate = folder, sample_rate
        root = ET.parse(folder / "drumkit.xml").getroot()
        for el in root.iter():  # newer kits put every tag in hydrogen's XML namespace
            el.tag = el.tag.rsplit("}", 1)[-1]
        self.instruments: list[tuple[str, float, list[tuple[float, float, float, str]]]] = []
        for inst in root.iter("instrument"):
            name = (inst.findtext("name") or "").strip().lower()
            volume = float(inst.findtext("volume") or 1.0)
            layers = [(float(la.findtext("min") or 0), float(la.findtext("max") or 1), float(la.findtext("gain") or 1),
                       la.findtext("filename") or "") for la in inst.iter("layer")]
            if not layers and inst.findtext("filename"):
                layers = [(0.0, 1.0, 1.0, inst.findtext("filename") or "")]
            layers = [la for la in layers if la[3] and (folder / la[3]).is_file()]
            if name and layers:
                self.instruments.append((name, volume, layers))
        self.notes: dict[int, int] = {}  # GM note -> instrument index
        for note, (pattern, _) in _DRUM_MATCH.items():
            rx = re.compile(pattern)
            for k, (name, _, _) in enumerate(self.instruments):
                hat = bool(_HAT.search(name))
                if rx.search(name) and (hat == (note in (42, 46)) or note in (49, 51)) and not \
                        (note in (49, 51) and hat):
                    self.notes[note] = k
                    break
        for note, (_, fallbacks) in _DRUM_MATCH.items():
            if note not in self.notes:
                alt = next((f for f in fallbacks if f in self.notes), None)
                if alt is not None:
                    self.notes[note] = self.notes[alt]
        if not all(n in self.notes for n in (36, 38, 42)):
            raise SeparenaError(f"midi-4stem: drum kit {folder.name!r} lacks a kick, snare or closed hi-hat; "
                                "expected a kit of DRUMKITS")
        self._layers: dict[int, list[_Layer]] = {}

    def _load(self, k: int) -> list[_Layer]:
        if k not in self._layers:
            import soundfile as sf
            from scipy.signal import resample_poly

            _, volume, layers = self.instruments[k]
            out = []
            for low, high, gain, file in layers:
                wav, rate = sf.read(str(self.folder / file), dtype="float64", always_2d=True)
                wav = wav.mean(1)
                g = math.gcd(int(rate), self.sample_rate)
                wav = resample_poly(wav, self.sample_rate // g, int(rate) // g)
                out.append(_Layer(low, high, (wav * gain * volume).astype(np.float32)))
            self._layers[k] = out
        return self._layers[k]

    def render(self, instruments: Sequence, n_samples: int) -> np.ndarray:
        """The drum notes of ``instruments`` as mono float32 ``[n_samples]``: each hit is its
        velocity layer's sample scaled by velocity (a square law, as drum machines do)."""
        out = np.zeros(n_samples, np.float32)
        for inst in instruments:
            for n in inst.notes:
                k = self.notes.get(int(n.pitch))
                start = int(round(n.start * self.sample_rate))
                if k is None or start >= n_samples:
                    continue
                v = n.velocity / 127.0
                layers = self._load(k)
                layer = next((la for la in layers if la.low <= v <= la.high), layers[-1])
                wav = layer.wav[: n_samples - start]
                out[start:start + len(wav)] += wav * (0.2 + 0.8 * v * v)
        return out


def sample_kits(sample_rate: int) -> list[SampleKit]:
    """Every kit of :data:`DRUMKITS`; one-line error when ``hydrogen-drumkits`` is missing."""
    if not DRUMKIT_ROOT.is_dir():
        raise SeparenaError(f"midi-4stem: drum_samples needs the Debian package {DRUMKIT_PACKAGE} "
                            f"(apt-get install {DRUMKIT_PACKAGE}, as scripts/setup.sh does), or drum_samples=0")
    return [SampleKit(DRUMKIT_ROOT / name, sample_rate) for name in DRUMKITS]


# --------------------------------------------------------------------------------------------
# Performance


def humanise(rng: np.random.Generator, stems: dict[str, list], amount: float, seconds: float) -> None:
    """Loosen the composed parts in place, ``amount`` in [0, 1] scaling every deviation.

    Per part: a timing offset (up to +-12 ms, a player ahead of or behind the beat) and for
    pitched parts an articulation (notes 55-105 % of their written length); per note: timing
    jitter (s.d. 12 ms) and velocity jitter (s.d. 12); over the piece a slow dynamic swell
    (+-20 velocity). Vocal vibrato (pitch bends) moves with its note.
    """
    if amount <= 0:
        return
    for source, insts in stems.items():
        for inst in insts:
            offset = float(rng.uniform(-0.012, 0.012)) * amount
            legato = 1.0 if inst.is_drum else float(rng.uniform(0.55, 1.05)) ** amount
            swell_rate, swell_phase = float(rng.uniform(0.05, 0.3)), float(rng.uniform(0, 2 * math.pi))
            shift_of = {}
            for n in inst.notes:
                dt = offset + float(rng.normal(0, 0.012)) * amount
                start = max(n.start + dt, 0.0)
                length = (n.end - n.start) * (legato if source != "vocals" else 1.0)
                swell = 20 * amount * math.sin(2 * math.pi * swell_rate * n.start + swell_phase)
                shift_of[(n.start, n.end)] = start - n.start
                n.velocity = int(np.clip(round(n.velocity + swell + rng.normal(0, 12) * amount), 1, 127))
                n.start, n.end = start, start + max(length, 0.03)
            if inst.pitch_bends and shift_of:  # vibrato: move each bend with the note it belongs to
                spans = sorted(shift_of.items())
                starts = np.array([s for (s, _), _ in spans])
                for b in inst.pitch_bends:
                    k = int(np.searchsorted(starts, b.time, side="right")) - 1
                    b.time = max(b.time + (spans[k][1] if k >= 0 else 0.0), 0.0)
                inst.pitch_bends.sort(key=lambda b: b.time)


# --------------------------------------------------------------------------------------------
# Effects (scipy filters; no plugin host is needed)


def _eq(rng: np.random.Generator, wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """A random EQ: a high-pass (20-200 Hz), a low-pass (2.5-7.5 kHz, half the time) and two
    peaking bands (+-9 dB, one octave wide) as ``x + (g - 1) * bandpass(x)``."""
    from scipy.signal import butter, sosfilt

    nyq = sample_rate / 2
    out = sosfilt(butter(2, float(rng.uniform(20, 200)) / nyq, "highpass", output="sos"), wav)
    if rng.random() < 0.5:
        out = sosfilt(butter(2, min(float(rng.uniform(2500, 7500)), 0.9 * nyq) / nyq, "lowpass", output="sos"), out)
    for _ in range(2):
        f = float(np.exp(rng.uniform(np.log(100), np.log(min(6000, 0.6 * nyq)))))
        g = 10 ** (float(rng.uniform(-9, 9)) / 20)
        band = butter(1, [f / math.sqrt(2) / nyq, min(f * math.sqrt(2) / nyq, 0.99)], "bandpass", output="sos")
        out = out + (g - 1) * sosfilt(band, out)
    return out


def _gain_curve(rng: np.random.Generator, key: np.ndarray, sample_rate: int, depth: float) -> np.ndarray:
    """The gain (linear) of a feed-forward compressor keyed by ``key``: RMS detector (5-30 ms),
    threshold 0-``depth`` dB under the key's loudest 100 ms level, ratio 2-8, release smoothing
    (50-250 ms)."""
    from scipy.signal import lfilter

    def smooth(x: np.ndarray, tau: float) -> np.ndarray:
        a = math.exp(-1.0 / (tau * sample_rate))
        return lfilter([1 - a], [1, -a], x)

    level = 10 * np.log10(smooth(key.astype(np.float64) ** 2, float(rng.uniform(0.005, 0.03))) + 1e-10)
    hop = max(int(0.1 * sample_rate), 1)
    top = float(np.max(level[::hop], initial=-100.0))
    threshold, ratio = top - float(rng.uniform(3, depth)), float(rng.uniform(2, 8))
    reduction = np.maximum(level - threshold, 0.0) * (1 - 1 / ratio)
    return 10 ** (-smooth(reduction, float(rng.uniform(0.05, 0.25))) / 20)


def _distort(rng: np.random.Generator, wav: np.ndarray, sample_rate: int) -> np.ndarray:
    """Overdrive: asymmetric tanh clipping at 6-30 dB of drive, then a speaker-like low-pass
    (2.5-5 kHz)."""
    from scipy.signal import butter, sosfilt

    peak = float(np.abs(wav).max(initial=0.0))
    if peak <= 0:
        return wav
    drive, bias = 10 ** (float(rng.uniform(6, 30)) / 20), float(rng.uniform(0, 0.3))
    x = wav / peak
    out = (np.tanh(drive * (x + bias)) - math.tanh(drive * bias)) * peak
    cutoff = min(float(rng.uniform(2500, 5000)), 0.9 * sample_rate / 2) / (sample_rate / 2)
    return sosfilt(butter(2, cutoff, "lowpass", output="sos"), out)


def stem_effects(rng: np.random.Generator, wav: np.ndarray, sample_rate: int, amount: float,
                 programs: Sequence[int]) -> np.ndarray:
    """A dry stem through random effects, each applied with probability ``amount``: distortion
    (only when a part is a guitar, :data:`GUITARS`; bass parts a quarter as often), EQ,
    compression. Levels are not kept: ``midi-4stem`` levels every stem afterwards."""
    if amount <= 0:
        return wav
    out = wav.astype(np.float64)
    draws = rng.random(3)
    guitar = any(p in GUITARS for p in programs)
    bass = any(32 <= p < 40 for p in programs)
    if draws[0] < amount * (1.0 if guitar else 0.25 if bass else 0.0):
        out = _distort(rng, out, sample_rate)
    if draws[1] < amount:
        out = _eq(rng, out, sample_rate)
    if draws[2] < amount:
        out = out * _gain_curve(rng, out, sample_rate, depth=18)
    return out.astype(np.float32)


def bus(rng: np.random.Generator, stems: np.ndarray, sample_rate: int) -> np.ndarray:
    """Mix-bus processing of ``[n_src, samples]`` stems: one random EQ applied to every stem
    (linear, so the stems still sum to the processed mix), then one compressor gain curve keyed
    by the mix and applied to every stem (glue compression, 3-12 dB under the loudest level)."""
    out = _bus_eq(rng, stems, sample_rate)
    gain = _gain_curve(rng, out.sum(0), sample_rate, depth=12)
    return (out * gain[None, :]).astype(np.float32)


def _bus_eq(rng: np.random.Generator, stems: np.ndarray, sample_rate: int) -> np.ndarray:
    """The same random EQ (one draw of :func:`_eq`'s parameters) on every stem."""
    state = rng.bit_generator.state
    out = []
    for s in stems:
        rng.bit_generator.state = state  # every stem replays the same draws: one filter for all
        out.append(_eq(rng, s.astype(np.float64), sample_rate))
    return np.stack(out)
