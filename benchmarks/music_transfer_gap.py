"""Where does open-unmix-small's drop from ``test`` to the music ``transfer`` split come from?

The ``transfer`` split changes two things at once against training: the soundfont (timbre) and
the songs (writing by people instead of the generator). At ``music-quick``'s deterministic
budget (601 steps for ``open-unmix-small``), per seed, on the default ``midi-4stem`` data:

- **timbre**: the model trained on the default data is scored on the transfer excerpts as the
  split renders them (Csound's GM bank) and on the same excerpts rendered with two of the
  training soundfonts (``transfer_set(soundfont=...)``). Equal scores mean timbre is no longer
  what the model misses.
- **writing**: the transfer songs are split in two halves (alternating in the sorted file
  list, so each package is in both). Every qualifying window of the first half becomes a
  training piece, rendered with the training pool (a soundfont drawn per stem) and mixed as
  every piece is, added to the default training pieces; that model and the default one are
  scored on the excerpts of the second half only. This trains on songs of the split's own
  packages, so it is a **bound**, never a data choice: how far the human writing of the very
  soundtracks the split holds lifts the model at this budget.

Scores per mixture go to ``--json`` (resumed from); ``--table`` prints the tables of
``docs/benchmarks/music_ablation.md``.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/music_transfer_gap.py [--seeds 0,1] [--json music_transfer_gap.json] [--table]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
import warnings
from pathlib import Path

import numpy as np
import torch

MODEL = "open-unmix-small"
SUITE = "music-quick"
RENDERS = {"transfer font (sf_GMbank)": None, "FluidR3_GM (training)": "/usr/share/sounds/sf2/FluidR3_GM.sf2",
           "TimGM6mb (training)": "/usr/share/sounds/sf2/TimGM6mb.sf2"}
STEMS = ("vocals", "bass", "drums", "other")


def song_halves() -> tuple[list, list]:
    """The transfer songs ``(package, short, path)`` split in two: even and odd positions."""
    from separena.data import music_transfer

    files = music_transfer.midi_files()
    return files[0::2], files[1::2]


def song_pieces(files: list, seconds: float, sample_rate: int) -> np.ndarray:
    """Every qualifying ``seconds`` window of ``files`` as training stems, int16 ``[pieces, 4, samples]``,
    each stem played by a soundfont of the training pool (the first pool font where one lacks a program)."""
    import pretty_midi

    from separena.data import music_transfer as mt
    from separena.data.music import SOUNDFONT_POOL, transfer_kit
    from separena.data.music_production import soundfont_paths

    kit = transfer_kit()
    fonts = [kit.Renderer(p, sample_rate) for p in soundfont_paths(SOUNDFONT_POOL)]
    pieces = []
    for i, (_, _, path) in enumerate(files):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # pretty_midi warns about odd meta events
            try:
                stems = mt.assign_stems(pretty_midi.PrettyMIDI(str(path)).instruments)
            except Exception:  # noqa: BLE001  (as the split: a file mido cannot read gives nothing)
                continue
        for j, (t0, lead) in enumerate(mt.song_windows(stems, seconds, per_song=None) if stems else []):
            rng = np.random.default_rng([0x50A6, i, j])
            drawn = {s: fonts[int(rng.integers(len(fonts)))] for s in STEMS}

            def renderer_for(stem: str, instruments: list, drawn=drawn):
                ok = stem == "drums" or all(drawn[stem].has_preset(0, inst.program) for inst in instruments)
                return drawn[stem] if ok else fonts[0]

            src, _, _ = mt.render_excerpt(stems, t0, lead, seconds, sample_rate, rng, kit, renderer_for)
            pieces.append(np.round(src * 32767.0).astype(np.int16))
    return np.stack(pieces)


def second_half_mask() -> np.ndarray:
    """Which transfer excerpts (in evaluation order) come from the second half of the songs."""
    from separena.data import music_transfer
    from separena.data.music import transfer_kit

    split, _ = music_transfer.transfer_set(transfer_kit(), progress=False)
    file_of = {e["name"]: e["file"] for e in json.loads((split.root / "meta.json").read_text())["excerpts"]}
    held = {str(path) for _, _, path in song_halves()[1]}
    return np.array([file_of[Path(n).stem] in held for n in split.names])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--json", default="music_transfer_gap.json", help="scores so far (resumed from if present)")
    ap.add_argument("--table", action="store_true", help="print the tables of docs/benchmarks/music_ablation.md")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    import separena
    from separena.data import music_transfer
    from separena.data.music import MusicTrainStream, midi_4stem, transfer_kit
    from separena.evaluation import evaluate
    from separena.train import train

    reg = separena.default_registry()
    suite, config = reg.suite(SUITE), reg.model_config(MODEL)
    results: dict = json.loads(Path(args.json).read_text()) if Path(args.json).is_file() else {}
    results.setdefault("runs", {})
    data = midi_4stem(progress=False)
    renders = {name: music_transfer.transfer_set(transfer_kit(), soundfont=font, progress=False)[0]
               for name, font in RENDERS.items()}
    first, _ = song_halves()
    pieces = None
    for seed in [int(s) for s in args.seeds.split(",") if s]:
        for variant in ("default", "default+half-songs"):
            key = f"{variant}@seed{seed}"
            if key in results["runs"]:
                continue
            train_data = data
            if variant != "default":
                if pieces is None:
                    t0 = time.perf_counter()
                    pieces = song_pieces(first, data.train.stems.shape[-1] / data.sample_rate, data.sample_rate)
                    results["song_pieces"] = {"songs": len(first), "pieces": len(pieces),
                                              "render_seconds": round(time.perf_counter() - t0, 1)}
                stems = np.concatenate([data.train.stems, pieces])
                train_data = dataclasses.replace(data, train=MusicTrainStream(stems, remix=data.train.remix))
            model, tr = train(config, train_data, suite.budget, segment_seconds=suite.segment_seconds, seed=seed,
                              progress=False)
            run = {"data": data.name, "steps": tr.steps, "seed": seed}
            split = next(iter(RENDERS))  # the split as every evaluation renders it
            sets = {"test": data.test, **(renders if variant == "default" else {split: renders[split]})}
            for name, folder in sets.items():
                r = evaluate(model, folder, progress=False, permutation_invariant=False)
                run[name] = {"per_mixture": [round(float(x), 3) for x in r.si_sdri.mean(1)],
                             "per_stem": [[round(float(x), 3) for x in row] for row in r.si_sdri]}
            results["runs"][key] = run
            print(key, {k: round(float(np.mean(v["per_mixture"])), 2) for k, v in run.items()
                        if isinstance(v, dict)}, flush=True)
            Path(args.json).write_text(json.dumps(results))
    results["machine"] = {"torch": torch.__version__, "threads": args.threads}
    Path(args.json).write_text(json.dumps(results))
    if args.table:
        print(markdown_tables(results))


def markdown_tables(results: dict) -> str:
    """The timbre table (default model per rendering, per stem) and the writing table (both
    models on the second half of the songs), pooled over seeds with 95 % bootstrap intervals."""
    from separena.bench.stats import bootstrap_interval

    runs = results["runs"]
    seeds = sorted({r["seed"] for r in runs.values()})
    default = [runs[f"default@seed{s}"] for s in seeds]

    def cell(scores: np.ndarray, signed: bool = False) -> str:
        iv = bootstrap_interval(scores)
        f = "{:+.2f}" if signed else "{:.2f}"
        return f"{f.format(iv.mean)} [{f.format(iv.low)}, {f.format(iv.high)}]"

    out = ["| rendering of the transfer excerpts | SI-SDRi [95 %] | " + " | ".join(STEMS) + " |",
           "| --- | ---: | " + " | ".join("---:" for _ in STEMS) + " |"]
    for name in ["test", *RENDERS]:
        scores = np.array([r[name]["per_mixture"] for r in default])
        stems = np.array([r[name]["per_stem"] for r in default]).mean((0, 1))
        label = "(the generator's own test split)" if name == "test" else name
        out.append(f"| {label} | {cell(scores)} | " + " | ".join(f"{x:.2f}" for x in stems) + " |")
    split = next(iter(RENDERS))
    half = second_half_mask()
    out += ["", "| training pieces | test SI-SDRi [95 %] | transfer, second half of the songs [95 %] | "
            "gain on that half [95 %] |", "| --- | ---: | ---: | ---: |"]
    base = np.array([r[split]["per_mixture"] for r in default])[:, half]
    for variant in ("default", "default+half-songs"):
        rs = [runs.get(f"{variant}@seed{s}") for s in seeds]
        if any(r is None for r in rs):
            continue
        scores = np.array([r[split]["per_mixture"] for r in rs])[:, half]
        gain = cell(scores - base, signed=True) if variant != "default" else "-"
        out.append(f"| {variant} | {cell(np.array([r['test']['per_mixture'] for r in rs]))} | {cell(scores)} | "
                   f"{gain} |")
    if "song_pieces" in results:
        p = results["song_pieces"]
        out.append(f"\n(seeds {','.join(map(str, seeds))}; {p['pieces']} pieces from {p['songs']} songs; "
                   f"second half: {int(half.sum())} excerpts)")
    return "\n".join(out)


if __name__ == "__main__":
    main()
