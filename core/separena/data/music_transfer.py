"""The ``transfer`` test set of ``midi-4stem``: human-composed songs rendered with another soundfont.

``midi-4stem`` trains and tests on pieces of one procedural generator rendered with one General
MIDI soundfont. This set keeps its 4 stems (vocals, bass, drums, other), sample rate, excerpt
length and mixing conventions (:func:`separena.data.music._level_stems`) but changes both what
training fixed: the **writing** (MIDI files composed by people, shipped in Debian packages) and
the **timbres** (Csound's public-domain GM bank ``sf_GMbank.sf2``, Debian ``csound-soundfont``,
never used for training).

Files are found through dpkg's own file list of each package in :data:`MIDI_PACKAGES`
(``/var/lib/dpkg/info/<package>.list``), so only files of the named packages are ever read.

Tracks become stems by one rule (:func:`assign_stems`):

- **drums**: every drum track (MIDI channel 10); a kit the soundfont lacks plays kit 0;
- **bass**: GM bass programs 32-39 (0-based), or a mostly monophonic track (at most 10 % of its
  sounding time with two notes) whose median pitch is below C3 (MIDI 48);
- **vocals**: the melody: among the other tracks that are mostly monophonic (at most 20 %) with
  a median pitch of G3 (55) or above and at least 20 notes, a voice-like program (52-54, 85)
  first, then a lead synth (80-87) or a solo wind, brass or reed (56-79), then any, the track
  with the most notes winning a tie. It is sung the way ``midi-4stem`` sings: kept monophonic
  (the higher note at a shared onset, a note cut where the next begins), moved by octaves
  into the generator's vocal range (median near F4), played on a voice-like program (its own
  if it has one, else Choir Aahs, Voice Oohs, Synth Voice or Solo Vox, drawn from the seed)
  with the generator's vibrato;
- **other**: every remaining pitched track, on its own program.

A song without all four stems gives no excerpt. Songs are cut into back-to-back windows of
``seconds`` from their first note; a window qualifies when notes of every stem sound during
at least half of it (vocals: 40 %, melodies breathe); at most :data:`PER_SONG` qualifying
windows per song are taken, spread evenly over the song. Each excerpt is rendered with one
second of lead-in (notes already sounding, the controllers' and pitch bend's state) that is
then cut off.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import time
from typing import Any, Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..errors import SeparenaError
from ..progress import progress_bar
from . import Example
from .cache import atomic_dir, default_cache_dir
from .disk import MixtureFolder, write_mixture_folder
from .midi import _vibrato

__all__ = ["transfer_set", "assign_stems", "song_windows", "render_excerpt", "midi_files", "TRANSFER_VERSION",
           "SOUNDFONT_PACKAGE", "SOUNDFONT", "MIDI_PACKAGES", "VOICE_PROGRAMS", "BASS_PROGRAMS", "PER_SONG"]

log = logging.getLogger(__name__)

TRANSFER_VERSION = "midi-transfer/2"  # 2: stems high-passed (music.HIGHPASS_HZ)
SOUNDFONT_PACKAGE = "csound-soundfont"  # Csound's GM bank, public domain; no training set uses it
SOUNDFONT = Path("/usr/share/sounds/sf2/sf_GMbank.sf2")
# Debian package -> (short name, the folder its songs are under). All in Debian main (GPL).
MIDI_PACKAGES = {
    "planetblupi-music-midi": ("blupi", "/usr/share/planetblupi/music/"),  # game soundtrack, GPL-3+
    "simutrans-data": ("simutrans", "/usr/share/games/simutrans/music/"),  # game soundtrack, Artistic-1.0
    "mma": ("mma", "/usr/share/doc/mma/examples/"),  # arranged songs of MMA's examples, GPL-2+
}
VOICE_PROGRAMS = (52, 53, 54, 85)  # Choir Aahs, Voice Oohs, Synth Voice, Solo Vox (0-based GM)
BASS_PROGRAMS = tuple(range(32, 40))
PER_SONG = 2
ACTIVE = {"vocals": 0.4, "bass": 0.5, "drums": 0.5, "other": 0.5}  # share of a window a stem must sound
RING = 0.5  # seconds a note counts as sounding at least (drum hits are short events)
SCAN = 240.0  # seconds of a song searched for excerpts (long game tracks loop their material)
LEAD_IN = 1.0  # seconds rendered before an excerpt and cut off
VOCAL_CENTRE = 65.5  # the generator's vocal range is about G3-E5 (55-76)
SEED = 0x7E4A5F  # the set is fixed: it does not follow midi-4stem's seed


@dataclass
class _Track:
    inst: object  # pretty_midi.Instrument
    poly: float  # share of sounding time with two or more notes
    median: float  # median pitch
    n: int


def _sounding(intervals: list[tuple[float, float]]) -> tuple[float, float]:
    """(time with >= 1 note, time with >= 2 notes) of note intervals."""
    events = sorted([(s, 1) for s, e in intervals if e > s] + [(e, -1) for s, e in intervals if e > s])
    one = two = 0.0
    depth, last = 0, 0.0
    for t, d in events:
        if depth >= 1:
            one += t - last
        if depth >= 2:
            two += t - last
        depth, last = depth + d, t
    return one, two


def _track(inst) -> _Track:
    one, two = _sounding([(n.start, n.end) for n in inst.notes])
    return _Track(inst, two / one if one > 0 else 1.0, float(np.median([n.pitch for n in inst.notes])),
                  len(inst.notes))


def assign_stems(instruments) -> dict[str, list] | None:
    """``{"vocals": [...], "bass": [...], "drums": [...], "other": [...]}`` of a song's
    ``pretty_midi`` instruments by the rule of the module docstring; ``"vocals"`` lists the
    melody candidates best first (an excerpt sings the first one that sounds in it, the others
    join "other"). ``None`` when a stem has no track."""
    tracks = [_track(i) for i in instruments if i.notes]
    stems: dict[str, list] = {"vocals": [], "bass": [], "drums": [], "other": []}
    rest = []
    for t in tracks:
        if t.inst.is_drum:
            stems["drums"].append(t.inst)
        elif t.inst.program in BASS_PROGRAMS or (t.poly <= 0.10 and t.median < 48):
            stems["bass"].append(t.inst)
        else:
            rest.append(t)

    def rank(t: _Track) -> tuple[int, int]:
        p = t.inst.program
        return (0 if p in VOICE_PROGRAMS else 1 if 56 <= p <= 87 else 2, -t.n)

    melodic = sorted((t for t in rest if t.poly <= 0.20 and t.median >= 55 and t.n >= 20), key=rank)
    stems["vocals"] = [t.inst for t in melodic]
    stems["other"] = [t.inst for t in rest if t not in melodic]
    return stems if stems["vocals"] and stems["bass"] and stems["drums"] else None


def _coverage(instruments, t0: float, t1: float) -> float:
    """Share of ``[t0, t1)`` during which a note sounds (a note lasting at least ``RING`` s)."""
    one, _ = _sounding([(max(n.start, t0), min(max(n.end, n.start + RING), t1)) for i in instruments
                        for n in i.notes if max(n.end, n.start + RING) > t0 and n.start < t1])
    return one / (t1 - t0)


def song_windows(stems: dict[str, list], seconds: float, per_song: int | None = PER_SONG) -> list[tuple[float, int]]:
    """``(start, melody candidate)`` of the excerpts of a song (see the module docstring); at
    most ``per_song`` of them (``None``: every qualifying window)."""
    notes = [n for insts in stems.values() for i in insts for n in i.notes]
    first = min(n.start for n in notes)
    end = min(max(n.end for n in notes), first + SCAN)
    out = []
    t0 = first
    while t0 + seconds <= end:
        t1 = t0 + seconds
        lead = next((k for k, i in enumerate(stems["vocals"]) if _coverage([i], t0, t1) >= ACTIVE["vocals"]), None)
        if lead is not None:
            other = [i for k, i in enumerate(stems["vocals"]) if k != lead] + stems["other"]
            if all(_coverage(stems[s], t0, t1) >= ACTIVE[s] for s in ("bass", "drums")) and \
                    _coverage(other, t0, t1) >= ACTIVE["other"]:
                out.append((t0, lead))
        t0 = t1
    if per_song is not None and len(out) > per_song:
        out = [out[int(i)] for i in np.round(np.linspace(0, len(out) - 1, per_song))]
    return out


def _excerpt(inst, t0: float, t1: float):
    """A copy of ``inst`` holding what sounds in ``[t0, t1)``, shifted so that ``t0`` is 0 (the
    last controller values and pitch bend before ``t0`` are set at 0)."""
    import pretty_midi

    out = pretty_midi.Instrument(inst.program, is_drum=inst.is_drum, name=inst.name)
    out.notes = [pretty_midi.Note(n.velocity, n.pitch, max(n.start - t0, 0.0), min(n.end, t1) - t0)
                 for n in inst.notes if n.end > t0 and n.start < t1]
    state = {}
    for c in inst.control_changes:
        if c.time < t0:
            state[c.number] = c.value
    out.control_changes = [pretty_midi.ControlChange(k, v, 0.0) for k, v in sorted(state.items())]
    out.control_changes += [pretty_midi.ControlChange(c.number, c.value, c.time - t0) for c in inst.control_changes
                            if t0 <= c.time < t1]
    before = [b for b in inst.pitch_bends if b.time < t0]
    out.pitch_bends = [pretty_midi.PitchBend(before[-1].pitch, 0.0)] if before else []
    out.pitch_bends += [pretty_midi.PitchBend(b.pitch, b.time - t0) for b in inst.pitch_bends if t0 <= b.time < t1]
    return out


def _sing(inst, rng: np.random.Generator):
    """The melody as ``midi-4stem`` vocals: monophonic, in the vocal range, voice-like, vibrato."""
    import pretty_midi

    notes = sorted(inst.notes, key=lambda n: (n.start, -n.pitch))
    mono = []
    for n in notes:
        if mono and n.start - mono[-1].start < 1e-3:
            continue  # a shared onset: the higher note (first) stays
        if mono and mono[-1].end > n.start:
            mono[-1].end = n.start
        mono.append(copy.copy(n))
    mono = [n for n in mono if n.end - n.start > 0.02]
    shift = -12 * int(round((float(np.median([n.pitch for n in mono])) - VOCAL_CENTRE) / 12)) if mono else 0
    program = inst.program if inst.program in VOICE_PROGRAMS else int(VOICE_PROGRAMS[int(rng.integers(4))])
    out = pretty_midi.Instrument(program, name="vocals")
    out.notes = [pretty_midi.Note(n.velocity, n.pitch + shift, n.start, n.end) for n in mono]
    out.control_changes = [c for c in inst.control_changes if c.number in (7, 11)]
    _vibrato(out, rng)
    return out, shift


def render_excerpt(stems: dict[str, list], t0: float, lead: int, seconds: float, sample_rate: int,
                   rng: np.random.Generator, kit: Any, renderer_for: Callable[[str, list], Any]):
    """One excerpt of a song as mixed stems: ``(stems [4, samples] float32, parts, vocal shift)``.

    ``stems`` come from :func:`assign_stems`, ``(t0, lead)`` from :func:`song_windows`; the melody
    candidate ``lead`` is sung, the other candidates join "other" (at most 15 tracks: one MIDI
    channel each, channel 10 is the drums'). ``renderer_for(stem, instruments)`` gives the
    renderer of each stem's instruments (one soundfont for the test set; any per stem, e.g. a
    training pool); a drum kit it lacks plays kit 0. Levels follow ``kit.level_stems`` with ``rng``.
    """
    a, b = t0 - LEAD_IN, t0 + seconds
    parts = {s: [_excerpt(i, a, b) for i in insts] for s, insts in stems.items()}
    vocals, shift = _sing(parts["vocals"][lead], rng)
    parts["other"] = ([i for k, i in enumerate(parts["vocals"]) if k != lead] + parts["other"])[:15]
    parts["vocals"] = [vocals]
    n_lead, n = int(round(LEAD_IN * sample_rate)), int(round(seconds * sample_rate))
    wavs = []
    for stem in kit.SOURCES:
        renderer = renderer_for(stem, parts[stem])
        for inst in parts[stem]:
            if inst.is_drum and not renderer.has_preset(128, inst.program):
                inst.program = 0
        wavs.append(renderer.render(parts[stem], n_lead + n)[n_lead:])
    return kit.level_stems(rng, wavs, sample_rate), parts, shift


def midi_files(system_root: str | Path = "/") -> list[tuple[str, str, Path]]:
    """``(package, short name, path)`` of every song, sorted; one-line error naming the
    missing packages."""
    from .real import _dpkg_list

    root = Path(system_root)
    out, missing = [], []
    for package, (short, folder) in MIDI_PACKAGES.items():
        listed = _dpkg_list(package, root)
        if listed is None:
            missing.append(package)
            continue
        for line in listed:
            if line.startswith(folder) and line.lower().endswith(".mid") and (root / line.lstrip("/")).is_file():
                out.append((package, short, root / line.lstrip("/")))
    if missing or not (root / SOUNDFONT.relative_to("/")).is_file():
        if not (root / SOUNDFONT.relative_to("/")).is_file():
            missing.append(SOUNDFONT_PACKAGE)
        raise SeparenaError(f"midi-4stem: the transfer set needs the Debian package(s) {' '.join(missing)} "
                            f"(apt-get install {' '.join(missing)}, as scripts/setup.sh does), or transfer_set=False")
    return sorted(out, key=lambda f: (f[0], str(f[2])))


def _build(final: Path, files: list[tuple[str, str, Path]], font: Path, sample_rate: int, seconds: float,
           progress: bool, kit: Any) -> None:
    import warnings

    import pretty_midi

    SOURCES, _Renderer, _versions = kit.SOURCES, kit.Renderer, kit.versions

    start = time.perf_counter()
    renderer = _Renderer(font, sample_rate)
    excerpts, songs = [], []
    with atomic_dir(final) as tmp, progress_bar(progress) as bar:
        task = bar.add_task(f"midi-4stem: rendering the transfer set {final.name}", total=len(files))
        index = 0
        for package, short, path in files:
            skipped = None
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # pretty_midi warns about odd meta events
                try:
                    stems = assign_stems(pretty_midi.PrettyMIDI(str(path)).instruments)
                except Exception as exc:  # noqa: BLE001  (a file mido cannot read is skipped, and said so)
                    stems, skipped = None, f"unreadable: {type(exc).__name__}"
            skipped = skipped or (None if stems else "a stem has no track")
            starts = song_windows(stems, seconds) if stems else []
            songs.append({"package": package, "file": str(path), "excerpts": len(starts), "skipped": skipped})
            for t0, lead in starts:
                rng = np.random.default_rng([SEED, index])
                index += 1
                src, parts, shift = render_excerpt(stems, t0, lead, seconds, sample_rate, rng, kit,
                                                   lambda stem, instruments: renderer)
                src = torch.from_numpy(np.round(src * 32767.0) / 32767.0).float()
                name = f"{short}-{path.stem}-{int(round(t0 * 10)):05d}"
                write_mixture_folder(tmp, "test", [Example(name, src.sum(0), src)], sample_rate)
                excerpts.append({"name": name, "package": package, "file": str(path), "start": round(t0, 3),
                                 "melody_program": int(stems["vocals"][lead].program),
                                 "vocal_program": int(parts["vocals"][0].program),
                                 "vocal_shift": int(shift),
                                 "programs": {s: [int(i.program) for i in parts[s]] for s in SOURCES}})
            bar.update(task, advance=1)
        if not excerpts:
            raise SeparenaError("midi-4stem: the transfer set found no song with all four stems")
        meta = {"version": TRANSFER_VERSION, "sample_rate": sample_rate, "seconds": seconds,
                "soundfont": [SOUNDFONT_PACKAGE if font.name == SOUNDFONT.name else "", font.name],
                "sources": list(SOURCES), "versions": _versions(),
                "songs": songs, "excerpts": excerpts, "build_seconds": round(time.perf_counter() - start, 2)}
        (tmp / "meta.json").write_text(json.dumps(meta, indent=1))
    log.info("midi-4stem: built the transfer set %s in %.1f s", final, time.perf_counter() - start)


def transfer_set(kit: Any, *, sample_rate: int = 16000, seconds: float = 6.0, cache_dir: str | None = None,
                 progress: bool = True, system_root: str | Path = "/",
                 soundfont: str | Path | None = None) -> tuple[MixtureFolder, str]:
    """The fixed ``transfer`` mixtures (built on first use) and their content hash.

    ``kit`` carries midi-4stem's rendering and mixing (``SOURCES``, ``level_stems``,
    ``Renderer``, ``versions``), passed in by :mod:`separena.data.music` so that imports run
    one way (music -> music_transfer).

    Stored as 16-bit stems under ``<cache_dir>/midi-transfer-<hash16>/test/``; the hash covers
    the sample rate, ``seconds``, :data:`TRANSFER_VERSION`, the soundfont's size, every song's
    path and size, and the library versions ``midi-4stem`` hashes.

    ``soundfont`` renders the same excerpts with another font than :data:`SOUNDFONT` (e.g. a
    training font, to tell how much of a model's drop is timbre and how much writing); the set
    of every evaluation is always the default.
    """
    SOURCES, _versions = kit.SOURCES, kit.versions

    files = midi_files(system_root)
    font = Path(soundfont) if soundfont else Path(system_root) / SOUNDFONT.relative_to("/")
    content = {"version": TRANSFER_VERSION, "sample_rate": int(sample_rate), "seconds": float(seconds),
               "soundfont": [font.name, font.stat().st_size], "versions": _versions(),
               "rules": [PER_SONG, SCAN, ACTIVE, RING, LEAD_IN, SEED],
               "files": [[str(p), p.stat().st_size] for _, _, p in files]}
    digest = hashlib.sha256(json.dumps(content, sort_keys=True).encode()).hexdigest()
    root = Path(cache_dir).expanduser() if cache_dir else default_cache_dir()
    final = root / f"midi-transfer-{digest[:16]}"
    if not (final / "meta.json").is_file():
        _build(final, files, font, int(sample_rate), float(seconds), progress, kit)
    return MixtureFolder(final, "test", int(sample_rate), len(SOURCES), mix_from_sources=True), digest
