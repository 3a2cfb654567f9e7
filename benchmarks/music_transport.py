"""Can the default music data travel to a GPU machine (64 MiB per call), and does a lossy copy
change the scores?

A GPU machine has neither FluidSynth nor the soundfonts (FluidR3_GM alone is 141 MB), so
``midi-4stem`` cannot be rendered there: its rendered pieces travel instead
(:func:`separena.data.music.carry_midi_4stem`: every split's sources as Ogg Opus).

1. **Sizes**: each split's sources (train, valid, test, transfer) as 16-bit WAV, FLAC
   (lossless) and as the carried copy in each of ``--codecs`` (``opus<N>k``: Ogg Opus at N
   kb/s; ``flac<N>bit``: FLAC of the samples rounded to N bits).
2. **Scores**: ``open-unmix-small`` at ``music-quick``'s budget (2.5 TMACs, batch 8, 2-s crops,
   as the suite) trained on the pieces as they are and on each copy's training pieces
   (decoded as ``midi_4stem`` decodes them on the other machine), always scored on the sets
   as they are: ``test`` and ``transfer``, mean SI-SDRi over the four stems per mixture, seeds
   pooled, paired differences with 95 % bootstrap intervals.

Usage (a process per seed on two cores; ``--table`` merges the files)::

    OMP_NUM_THREADS=1 python benchmarks/music_transport.py --codecs opus32k,flac10bit --seeds 0 --json mt0.json &
    OMP_NUM_THREADS=1 python benchmarks/music_transport.py --codecs opus32k,flac10bit --seeds 1 --json mt1.json
    python benchmarks/music_transport.py --table mt0.json mt1.json
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import torch
from real_pool_transport import paired_table, train_variants  # the speech pools' runs and table (a sibling script)

MODEL, SUITE = "open-unmix-small", "music-quick"
LIMIT_BYTES = 64 * 2**20


def _flac_bytes(mixtures) -> int:
    """Bytes of a set's sources as FLAC, one stream per source (as the carried copy holds them)."""
    examples = [mixtures[i] for i in range(len(mixtures))]
    total = 0
    for k in range(examples[0].sources.shape[0]):
        x = np.concatenate([ex.sources[k].numpy() for ex in examples])
        pcm = (np.clip(x, -1, 1) * 32767).round().astype("<i2").tobytes()
        out = subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-f", "s16le", "-ar", str(mixtures.sample_rate),
                              "-ac", "1", "-i", "pipe:0", "-c:a", "flac", "-compression_level", "8", "-f", "flac",
                              "pipe:1"], input=pcm, capture_output=True, check=True)
        total += len(out.stdout)
    return total


def carried(codecs: list[str], folder: Path) -> dict[str, Path]:
    from separena.data.music import carry_midi_4stem

    out = {}
    for codec in codecs:
        done = sorted((folder / codec).glob(f"midi-4stem-*+{codec}/meta.json"))
        out[codec] = done[0].parent if done else carry_midi_4stem(
            folder / codec, codec=codec, splits=("train", "valid", "test", "transfer"), progress=False)
    return out


def sizes(copies: dict[str, Path], results: dict) -> None:
    from separena.data.disk import MixtureFolder
    from separena.data.music import midi_4stem

    data = midi_4stem(progress=False)
    root = data.valid.root
    sets = {"train": MixtureFolder(root, "train", data.sample_rate, data.n_src, mix_from_sources=True),
            "valid": data.valid, "test": data.test, **data.extra_tests}
    out = {}
    for split, mixtures in sets.items():
        samples = sum(mixtures[i].sources.numel() for i in range(len(mixtures)))
        row = {"minutes": samples / data.sample_rate / 60, "wav16": 2 * samples, "flac": _flac_bytes(mixtures)}
        for codec, folder in copies.items():
            row[codec] = sum(f.stat().st_size for f in (folder / split).iterdir())
        out[split] = row
        print(split, {k: round(v / 2**20, 1) if k != "minutes" else round(v, 1) for k, v in row.items()}, flush=True)
    results["sizes"] = out


def scores(copies: dict[str, Path], seeds: list[int], results: dict, path: Path) -> None:
    import separena
    from separena.data.cache import CARRIED_ENV
    from separena.data.music import midi_4stem
    from separena.train import train

    registry = separena.default_registry()
    suite = registry.suite(SUITE)
    config = registry.model_config(MODEL)
    data = midi_4stem(progress=False)
    streams = {"as is": data.train}
    for codec, folder in copies.items():
        os.environ[CARRIED_ENV] = str(folder.parent)
        try:
            copy = midi_4stem(progress=False)
        finally:
            del os.environ[CARRIED_ENV]
        streams[codec] = copy.train
    train_variants(data, streams, seeds, results, path,
                   lambda seed: train(config, data, suite.budget, segment_seconds=suite.segment_seconds, seed=seed,
                                      progress=False))


def markdown(results: dict) -> str:
    lines = []
    if "sizes" in results:
        codecs = [k for k in next(iter(results["sizes"].values())) if k not in ("minutes", "wav16", "flac")]
        lines += ["| sources of | minutes | WAV 16-bit | FLAC | " + " | ".join(codecs) + " |",
                  "| --- | ---: | ---: | ---: | " + " | ".join("---:" for _ in codecs) + " |"]
        total = {k: 0 for k in ("wav16", "flac", *codecs)}
        for split, row in results["sizes"].items():
            lines.append(f"| {split} | {row['minutes']:.0f} | " + " | ".join(
                f"{row[k] / 2**20:.1f} MiB" for k in total) + " |")
            for k in total:
                total[k] += row[k]
        lines.append("| all | | " + " | ".join(f"**{v / 2**20:.1f} MiB**" for v in total.values()) + " |")
    runs = results.get("runs", {})
    if not runs:
        return "\n".join(lines)
    seeds = sorted({r["seed"] for r in runs.values()})
    lines += [""] + paired_table(runs, "training pieces")
    steps = sorted({r["steps"] for r in runs.values()})
    return "\n".join(lines) + f"\n\n({MODEL} at {SUITE}'s budget, {'/'.join(map(str, steps))} steps; seeds " \
                              f"{','.join(map(str, seeds))})"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--codecs", default="opus32k,flac10bit", help="codecs of the carried copies")
    ap.add_argument("--seeds", default="0,1", help="training seeds ('' for sizes only)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--folder", type=Path, default=Path("music_transport"), help="where the carried copies go")
    ap.add_argument("--json", type=Path, default=Path("music_transport.json"),
                    help="results so far (resumed from if present)")
    ap.add_argument("--table", nargs="*", type=Path, help="print the tables of these result files, merged")
    args = ap.parse_args()
    if args.table is not None:
        merged: dict = {"runs": {}}
        for path in args.table:
            part = json.loads(path.read_text())
            merged["runs"].update(part.get("runs", {}))
            merged.setdefault("sizes", part.get("sizes"))
        if merged["sizes"] is None:
            del merged["sizes"]
        print(markdown(merged))
        return
    torch.set_num_threads(args.threads)
    results: dict = json.loads(args.json.read_text()) if args.json.is_file() else {}
    results.setdefault("runs", {})
    copies = carried([c for c in args.codecs.split(",") if c], args.folder)
    if "sizes" not in results:
        sizes(copies, results)
        args.json.write_text(json.dumps(results))
    seeds = [int(s) for s in args.seeds.split(",") if s]
    if seeds:
        scores(copies, seeds, results, args.json)


if __name__ == "__main__":
    main()
