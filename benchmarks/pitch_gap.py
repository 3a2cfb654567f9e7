"""SI-SDRi by the pitch gap between the two voices of a mixture: the papers' same-gender /
different-gender split, asked of the stored per-mixture scores.

    python benchmarks/pitch_gap.py                                    # the published speech-quick runs
    python benchmarks/pitch_gap.py --store results/bench.sqlite --suite speech-zoo --json gap.json
    python benchmarks/pitch_gap.py --ablation ablation.json   # data_ablation.py's runs, choice against default

Each reference source's pitch is the median F0 of its voiced frames
(``separena.data.pitch.median_pitch``: pYIN of librosa, 60-500 Hz);
a mixture's gap is the distance between its two voices' pitches in semitones. Per model and test
set: the mean SI-SDRi (sources and seeds averaged) of the mixtures in each gap band with its 95 %
bootstrap interval, and Spearman's rank correlation of the gap with SI-SDRi. Nothing is trained
or separated: the scores are the runs' own, the data is rebuilt (or read from the cache) by name,
and the gaps are kept under the cache's ``pitch-gaps/`` for the next run on the same data.
"""

from __future__ import annotations

import argparse
import json
import math
import warnings
from pathlib import Path

import numpy as np

from separena import default_registry
from separena.bench import ResultStore
from separena.bench.leaderboard import per_mixture_scores
from separena.bench.published import PublishedStore, default_published_dir
from separena.bench.stats import bootstrap_interval
from separena.data.cache import default_cache_dir
from separena.data.pitch import median_pitch, semitones
from separena.progress import progress_bar

BANDS = ((0.0, 3.0), (3.0, 8.0), (8.0, math.inf))  # semitones: near-same register ... an octave apart


def pitch_gaps(mixtures, sample_rate: int, description: str, cache: Path) -> np.ndarray:
    """``[mixtures]``: semitones between the median pitches of each mixture's two sources, kept
    in ``cache`` (JSON) once computed: they depend on the data (named by its hash) alone."""
    if cache.is_file():
        return np.asarray(json.loads(cache.read_text()), dtype=float)
    gaps = []
    with progress_bar(True) as bar:
        for i in bar.track(range(len(mixtures)), description=description):
            pitches = [median_pitch(src.numpy(), sample_rate) for src in mixtures[i].sources]
            gaps.append(float(semitones(pitches[0], pitches[1])) if len(pitches) == 2 else math.nan)
    cache.parent.mkdir(parents=True, exist_ok=True)
    cache.write_text(json.dumps([None if math.isnan(g) else g for g in gaps]))
    return np.asarray(gaps)


def gap_cache(data, set_name: str) -> Path:
    """Where the gaps of a test set of ``data`` are kept: they depend on the data (named by its hash) alone."""
    return default_cache_dir() / "pitch-gaps" / f"{data.name.replace('@', '-')}-{set_name}.json"


def band_label(low: float, high: float) -> str:
    return f">= {low:g} st" if math.isinf(high) else f"{low:g}-{high:g} st"


def ablation_bands(path: Path, gaps_of: dict[str, np.ndarray]) -> None:
    """Per test set, each data choice of a ``benchmarks/data_ablation.py`` JSON (its per-mixture
    scores, seeds resampled with mixtures) by gap band, and its paired difference from
    ``default`` at the same steps and seeds."""
    results = json.loads(path.read_text())
    groups: dict[tuple[str, int], dict[int, dict]] = {}
    for run in results["runs"].values():
        groups.setdefault((run["choice"], run["steps"]), {})[run["seed"]] = run["scores"]
    for set_name, gaps in gaps_of.items():
        bands = [(gaps >= low) & (gaps < high) for low, high in BANDS]
        print(f"\n### {set_name}: SI-SDRi (dB) by pitch gap; choice - default (same seeds) in brackets\n")
        print("| choice | steps | seeds | " + " | ".join(band_label(*b) for b in BANDS) + " |")
        print("|---|---:|---|" + "---:|" * len(BANDS))
        for (choice, steps), by_seed in sorted(groups.items(), key=lambda kv: (kv[0][1], kv[0][0] != "default",
                                                                                 kv[0][0])):
            seeds = sorted(s for s in by_seed if set_name in by_seed[s])
            if not seeds:
                continue
            scores = np.asarray([by_seed[s][set_name] for s in seeds])  # [seeds, mixtures]
            ref = groups.get(("default", steps), {})
            paired = [s for s in seeds if set_name in ref.get(s, {})] if choice != "default" else []
            cells = []
            for band in bands:
                mean = bootstrap_interval(scores[:, band]).mean
                cell = f"{mean:+.2f}"
                if paired:
                    diff = np.asarray([by_seed[s][set_name] for s in paired]) - \
                        np.asarray([ref[s][set_name] for s in paired])
                    d = bootstrap_interval(diff[:, band])
                    cell += f" ({d.mean:+.2f} [{d.low:+.2f}, {d.high:+.2f}])"
                cells.append(cell)
            print(f"| {choice} | {steps} | {','.join(map(str, seeds))} | " + " | ".join(cells) + " |")


def main() -> None:
    from scipy.stats import spearmanr

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suite", default="speech-quick")
    parser.add_argument("--store", type=Path, default=None,
                        help="a result store (default: the runs published with the repository)")
    parser.add_argument("--json", type=Path, default=None, help="also write the numbers here")
    parser.add_argument("--ablation", type=Path, default=None,
                        help="a benchmarks/data_ablation.py JSON: its runs by band instead of a store's")
    args = parser.parse_args()
    registry = default_registry()
    if args.ablation is not None:  # every data choice scores the default build's test sets
        data = registry.suite_data(args.suite)
        gaps_of = {set_name: pitch_gaps(mixtures, data.sample_rate, f"pitch of {set_name}", gap_cache(data, set_name))
                   for set_name, mixtures in data.test_sets().items()}
        ablation_bands(args.ablation, gaps_of)
        return
    if args.store is None:
        runs = PublishedStore(default_published_dir()).runs(suite=args.suite)
    else:
        with ResultStore(args.store) as store:
            runs = store.runs(suite=args.suite)
    if not runs:
        raise SystemExit(f"no runs of suite {args.suite} in {args.store or default_published_dir()}")
    data = registry.suite_data(args.suite)
    if any(run.scored_on != data.name for run in runs):
        raise SystemExit(f"the runs were scored on {sorted({r.scored_on for r in runs})}; this code builds {data.name}")
    out: dict = {"suite": args.suite, "data": data.name, "bands": [band_label(*b) for b in BANDS], "sets": {}}
    for set_name, mixtures in data.test_sets().items():
        gaps = pitch_gaps(mixtures, data.sample_rate, f"pitch of {set_name}", gap_cache(data, set_name))
        bands = [(gaps >= low) & (gaps < high) for low, high in BANDS]
        entry: dict = {"mixtures_per_band": [int(b.sum()) for b in bands],
                       "gap_median": float(np.nanmedian(gaps)), "models": {}}
        print(f"\n### {set_name}: {len(gaps)} mixtures, median gap {entry['gap_median']:.1f} semitones, "
              f"per band {' / '.join(str(n) for n in entry['mixtures_per_band'])}\n")
        print("| model | " + " | ".join(f"{band_label(*b)} ({n})" for b, n in zip(BANDS, entry["mixtures_per_band"]))
              + " | Spearman rho (p) |")
        print("|---|" + "---:|" * (len(BANDS) + 1))
        for model, (names, scores) in per_mixture_scores(runs, set_name).items():
            if len(names) != len(gaps):
                continue
            score = scores.mean(0)
            finite = np.isfinite(score) & np.isfinite(gaps)
            cells, numbers = [], []
            for band in bands:
                kept = score[band & finite]
                interval = bootstrap_interval(kept) if len(kept) else None
                numbers.append(None if interval is None else [interval.mean, interval.low, interval.high])
                cells.append("-" if interval is None else
                             f"{interval.mean:.2f} [{interval.low:.2f}, {interval.high:.2f}]")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rho, p = spearmanr(gaps[finite], score[finite])
            constant = not math.isfinite(rho)  # the mixture's own scores: 0 dB everywhere
            entry["models"][model] = {"bands": numbers, "spearman_rho": None if constant else float(rho),
                                      "p_value": None if constant else float(p)}
            print(f"| {model} | " + " | ".join(cells) + (" | - |" if constant else f" | {rho:+.2f} ({p:.1g}) |"))
        out["sets"][set_name] = entry
    if args.json:
        args.json.write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
