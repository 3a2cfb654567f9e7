"""Procedural composition of the ``midi-4stem`` pieces: one MIDI arrangement per seed.

:func:`compose` draws a key (major or minor), tempo and chord progression, and writes a
monophonic lead melody in phrases on a voice-like General MIDI program with vibrato from pitch
bends, a bass line on the chord roots, a GM drum kit, and "other": a sustained pad plus a
comping part. Each choice comes from a *pool*: ``"train"`` or ``"held-out"`` (programs, drum
kits, drum patterns, bass rhythms and progressions used only by valid and test pieces).
Rendering is :mod:`separena.data.music`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["compose", "PieceInfo", "PROGRAMS", "DRUM_KITS", "SCALES", "PROGRESSIONS", "BASS_RHYTHMS",
           "DRUM_PATTERNS"]

# General MIDI programs (0-based) per stem; "held-out" ones appear only in valid and test.
PROGRAMS = {
    "train": {"vocals": (52, 54, 85), "bass": (32, 33, 34, 38),
              "pad": (48, 88, 16), "comp": (0, 4, 24, 27, 11)},
    "held-out": {"vocals": (53,), "bass": (35, 39), "pad": (49, 89), "comp": (1, 5, 25, 46)},
}
DRUM_KITS = {"train": (0, 16, 24, 32), "held-out": (8, 25, 40)}  # bank 128 presets
SCALES = {"major": (0, 2, 4, 5, 7, 9, 11), "minor": (0, 2, 3, 5, 7, 8, 10)}
PROGRESSIONS = {  # scale degrees (0-based), one chord per bar
    "train": ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 3, 0, 4), (0, 1, 4, 0)),
    "held-out": ((0, 2, 3, 4), (3, 4, 2, 5), (0, 6, 3, 0)),
}
# Bass rhythms: (start beat, length in beats, chord tone: 0 root, 1 fifth, 2 octave)
BASS_RHYTHMS = {
    "train": (((0, 4, 0),), ((0, 1, 0), (1, 1, 0), (2, 1, 0), (3, 1, 0)),
              ((0, 1.5, 0), (1.5, 0.5, 0), (2, 1, 1), (3, 1, 2)),
              tuple((i / 2, 0.5, (0, 0, 0, 0, 1, 1, 2, 2)[i]) for i in range(8)), ((0, 2, 0), (2, 2, 1))),
    "held-out": (((0, 0.75, 0), (0.75, 0.75, 0), (1.5, 0.5, 1), (2, 1, 0), (3, 0.5, 2), (3.5, 0.5, 1)),
                 ((0, 3, 0), (3, 1, 1))),
}
# Drum patterns over 16 steps: instrument -> steps (kick 36, snare 38, closed hat 42, open hat 46, ride 51)
DRUM_PATTERNS = {
    "train": (
        {36: (0, 8), 38: (4, 12), 42: tuple(range(0, 16, 2))},  # rock
        {36: (0, 4, 8, 12), 38: (4, 12), 42: (2, 6, 10, 14), 46: (14,)},  # four on the floor
        {36: (0, 6, 8), 38: (4, 12), 42: tuple(range(16))},  # pop, 16th hats
        {36: (0, 10), 38: (8,), 51: tuple(range(0, 16, 2))},  # half time, ride
    ),
    "held-out": (
        {36: (0, 3, 10), 38: (4, 12, 15), 42: tuple(range(0, 16, 2)), 46: (6,)},  # funk
        {36: (0, 7, 10), 38: (4, 13), 51: (0, 3, 4, 7, 8, 11, 12, 15)},  # shuffle-like
    ),
}


@dataclass(frozen=True)
class PieceInfo:
    """What was drawn for one piece (stored in meta.json)."""

    name: str
    tonic: int
    mode: str
    tempo: float
    progression: tuple[int, ...]
    programs: dict  # stem part -> GM program (drum kit for "drums")
    style: dict = field(default_factory=dict)  # meter, swing, parts (varied writing only)
    timbres: dict = field(default_factory=dict)  # stem -> soundfont or sample kit per part (training ingredients only)


def _pick(rng: np.random.Generator, options: Sequence):
    return options[int(rng.integers(len(options)))]


# Varied writing (``compose(..., varied=True)``, training pieces only): more of every choice,
# none of them a held-out one.
VARIED_PROGRAMS = {"vocals": (52, 54, 85), "bass": (32, 33, 34, 36, 37, 38),
                   "pad": (48, 50, 51, 88, 16, 19, 20, 90, 91, 92, 94, 95),
                   "comp": (0, 2, 3, 4, 6, 7, 11, 12, 13, 17, 18, 24, 26, 27, 28, 29, 30, 45, 104, 105, 107),
                   "lead": (56, 57, 60, 61, 64, 65, 66, 68, 71, 72, 73, 74, 80, 81, 82, 40, 41, 42)}
VARIED_PROGRESSIONS = ((0, 4, 5, 3), (0, 5, 3, 4), (0, 3, 4, 4), (5, 3, 0, 4), (0, 3, 0, 4), (0, 1, 4, 0),
                       (1, 4, 0, 0), (0, 5, 1, 4), (5, 4, 3, 4), (0, 4, 5, 2, 3, 0, 3, 4), (0, 0, 3, 3),
                       (0, 6, 5, 6), (3, 0, 4, 5))
VARIED_BASS = BASS_RHYTHMS["train"] + (
    ((0, 0.5, 0), (0.5, 0.5, 2), (1, 0.5, 0), (1.5, 0.5, 2), (2, 0.5, 0), (2.5, 0.5, 2), (3, 0.5, 1), (3.5, 0.5, 2)),
    ((0, 0.75, 0), (1.5, 0.5, 0), (2.5, 1, 1)),
    ((0, 1, 0), (1, 1, 1), (2, 1, 2), (3, 1, 1)),
    ((0.5, 1, 0), (2.5, 1, 0)),
)
VARIED_DRUMS = DRUM_PATTERNS["train"] + (
    {36: (0, 4, 8, 12), 38: (4, 12), 46: (2, 6, 10, 14), 42: (0, 4, 8, 12)},  # disco
    {36: (0, 6, 10), 38: (4, 12, 14), 42: tuple(range(0, 16, 2))},  # breakbeat
    {36: (8,), 38: (8,), 42: tuple(range(2, 16, 4))},  # one drop
    {36: (0, 2, 8, 10), 38: (4, 12), 42: tuple(range(16))},  # driving 8ths kick
    {36: (0,), 38: (8,), 51: tuple(range(0, 16, 4)), 42: (4, 12)},  # sparse half time
)
WALTZ_DRUMS = ({36: (0,), 38: (4, 8), 42: (0, 2, 4, 6, 8, 10)}, {36: (0, 6), 38: (8,), 51: (0, 4, 8)},
               {36: (0,), 42: (4, 8), 46: (10,)})  # 12 steps of a 3/4 bar
COMP_RHYTHMS = ((0, 1.5, 2, 3.5), (0.5, 1.5, 2.5, 3.5), (0, 1, 2, 3), tuple(i / 2 for i in range(8)), (0, 2),
                (0, 0.75, 1.5, 2.5, 3))


def compose(rng: np.random.Generator, seconds: float, pool: str, name: str = "piece", varied: bool = False):
    """Compose one piece. Returns ``(stems, info)``: ``stems`` maps each source to a list of
    ``pretty_midi.Instrument`` (drums on ``is_drum`` instruments, program = kit).

    ``varied`` (only with ``pool="train"``) draws from wider pools: 3/4 as well as 4/4, swing,
    tempi 65-175 BPM, more progressions, bass rhythms, drum patterns, comping rhythms and GM
    programs (still none of the held-out ones), a vocal register moved up to 5 semitones, and
    half the time a counter-melody on a lead instrument in "other" that answers the vocal
    phrases. Without it the draws (and so the piece) are exactly the basic generator's."""
    import pretty_midi

    if varied and pool != "train":
        raise ValueError("compose: varied writing is for training pieces (pool='train') only")
    tonic, mode = int(rng.integers(12)), str(_pick(rng, ("major", "minor")))
    scale = SCALES[mode]
    tempo = float(rng.uniform(65, 175) if varied else rng.uniform(80, 140))
    beat = 60.0 / tempo
    progression = tuple(int(d) for d in _pick(rng, VARIED_PROGRESSIONS if varied else PROGRESSIONS[pool]))
    program_pool = VARIED_PROGRAMS if varied else PROGRAMS[pool]
    programs = {part: int(_pick(rng, program_pool[part])) for part in ("vocals", "bass", "pad", "comp")}
    programs["drums"] = int(_pick(rng, DRUM_KITS[pool]))
    # Varied only: meter (beats per bar), swing of the off-beat eighths, vocal register, lead line.
    bpb = int(_pick(rng, (4, 4, 4, 3))) if varied else 4
    swing = float(rng.uniform(0.08, 0.17)) if varied and rng.random() < 0.3 else 0.0
    register = int(rng.integers(-5, 6)) if varied else 0
    lead_line = varied and rng.random() < 0.5
    if lead_line:
        programs["lead"] = int(_pick(rng, VARIED_PROGRAMS["lead"]))
    n_bars = int(math.ceil(seconds / (bpb * beat))) + 1

    def pitch(degree: int, base: int) -> int:  # scale degree (any integer) -> MIDI pitch near base
        octave, d = divmod(degree, 7)
        return base + tonic + scale[d] + 12 * octave

    def chord(bar: int) -> int:
        return progression[bar % len(progression)]

    def note(inst, p: int, start_beat: float, length_beats: float, velocity: int) -> None:
        if swing and (start_beat * 2) % 2 == 1:  # an off-beat eighth comes late
            start_beat += swing
        start = start_beat * beat + float(rng.normal(0, 0.004))
        inst.notes.append(pretty_midi.Note(int(np.clip(velocity, 1, 127)), int(p), max(start, 0.0),
                                           max(start, 0.0) + length_beats * beat))

    # Bass: one rhythm for the piece, chord tones in the second octave.
    bass = pretty_midi.Instrument(programs["bass"], name="bass")
    rhythm = _pick(rng, VARIED_BASS if varied else BASS_RHYTHMS[pool])
    for bar in range(n_bars):
        root = pitch(chord(bar), 36 if tonic < 5 else 24)
        for start, length, tone in rhythm:
            if start < bpb:
                note(bass, root + (0, 7, 12)[tone], bpb * bar + start, min(length, bpb - start) * 0.92,
                     rng.integers(85, 115))

    # Drums: a pattern, a crash every 4 bars, a tom fill before it.
    drums = pretty_midi.Instrument(programs["drums"], is_drum=True, name="drums")
    pattern = _pick(rng, (WALTZ_DRUMS if bpb == 3 else VARIED_DRUMS) if varied else DRUM_PATTERNS[pool])
    steps_per_bar = 4 * bpb
    for bar in range(n_bars):
        fill = bar % 4 == 3 and rng.random() < 0.5
        for drum, steps in pattern.items():
            for step in steps:
                if fill and step >= steps_per_bar - 4:
                    continue
                accent = 20 if step % 4 == 0 else 0
                note(drums, drum, bpb * bar + step / 4, 0.2, rng.integers(70, 100) + accent)
        if fill:
            for k in range(4):
                note(drums, (50, 48, 45, 41)[k], bpb * bar + (steps_per_bar - 4 + k) / 4, 0.2, rng.integers(90, 120))
        if bar % 4 == 0:
            note(drums, 49, bpb * bar, 1.0, rng.integers(90, 115))

    # Other: a sustained pad and a comping part (block chords or arpeggios).
    pad = pretty_midi.Instrument(programs["pad"], name="pad")
    comp = pretty_midi.Instrument(programs["comp"], name="comp")
    arpeggio = rng.random() < 0.5
    comp_rhythm = tuple(t for t in _pick(rng, COMP_RHYTHMS) if t < bpb) if varied else (0, 1.5, 2, 3.5)
    for bar in range(n_bars):
        degrees = [chord(bar) + k for k in (0, 2, 4)]
        for d in degrees:
            note(pad, pitch(d, 48), bpb * bar, float(bpb), rng.integers(50, 75))
        if arpeggio:
            for i in range(2 * bpb):
                note(comp, pitch(degrees[i % 3] + 7 * (i // 3 % 2), 60), bpb * bar + i / 2, 0.5, rng.integers(60, 95))
        else:
            for start in comp_rhythm:
                for d in degrees:
                    note(comp, pitch(d + 7, 48), bpb * bar + start, 0.45, rng.integers(60, 90))

    # Vocals: 2-bar phrases of chord-led stepwise melody, a short breath at the end, vibrato.
    vocals = pretty_midi.Instrument(programs["vocals"], name="vocals")
    degree = chord(0) + 7
    phrase_ends = []
    for phrase in range(0, n_bars, 2):
        t, end = float(bpb * phrase), float(bpb * phrase + 2 * bpb) - float(rng.choice((0.5, 1.0, 1.5)))
        phrase_ends.append((end, float(bpb * phrase + 2 * bpb)))
        while t < end:
            length = min(float(rng.choice((0.5, 1.0, 1.0, 1.5, 2.0))), end - t)
            bar = int(t // bpb)
            if t % 2 == 0:  # strong beat: move to the nearest chord tone
                tones = [chord(bar) + k + 7 * o for k in (0, 2, 4) for o in (0, 1, 2)]
                degree = min(tones, key=lambda x: (abs(x - degree), rng.random()))
            else:
                degree += int(rng.choice((-2, -1, -1, 1, 1, 2)))
            degree = int(np.clip(degree, 4, 16))
            note(vocals, pitch(degree, 48 + register), t, length, rng.integers(80, 110))
            t += length
    _vibrato(vocals, rng)

    other = [pad, comp]
    if lead_line:  # a monophonic line that is not the vocals: it answers each phrase in its breath
        lead = pretty_midi.Instrument(programs["lead"], name="lead")
        high = rng.random() < 0.5
        for end, next_start in phrase_ends:
            t = end - 1.0 * float(rng.random() < 0.5)
            while t < next_start + bpb:
                length = float(rng.choice((0.5, 0.5, 1.0)))
                tones = [chord(int(t // bpb)) + k for k in (0, 2, 4, 1, 3)]
                note(lead, pitch(int(_pick(rng, tones)), 72 if high else 55), t, length * 0.9, rng.integers(70, 100))
                t += length
        other.append(lead)

    stems = {"vocals": [vocals], "bass": [bass], "drums": [drums], "other": other}
    style = {"meter": f"{bpb}/4", "swing": round(swing, 3), "register": register, "lead": lead_line} if varied else {}
    return stems, PieceInfo(name, tonic, mode, round(tempo, 3), progression, programs, style)


def _vibrato(inst, rng: np.random.Generator, step: float = 0.01) -> None:
    """Pitch-bend vibrato (5-6.5 Hz, 20-45 cents) fading in 0.15 s after each note starts."""
    import pretty_midi

    rate, cents = float(rng.uniform(5.0, 6.5)), float(rng.uniform(20, 45))
    for n in inst.notes:
        for t in np.arange(n.start, n.end, step):
            depth = min(max((t - n.start - 0.15) / 0.2, 0.0), 1.0) * cents
            bend = depth / 200.0 * 8192 * math.sin(2 * math.pi * rate * (t - n.start))  # +-2 semitone range
            inst.pitch_bends.append(pretty_midi.PitchBend(int(round(bend)), float(t)))
        inst.pitch_bends.append(pretty_midi.PitchBend(0, float(n.end)))
