"""Does a suite rank the five native speech families as their papers do on wsj0-2mix?

    python benchmarks/ranking_vs_papers.py [--suite speech-quick] [--store results/bench.sqlite | --published]

Kendall's tau between a suite's mean SI-SDRi on ``test`` per architecture (its latest run of
each model, seeds averaged) and the SI-SNRi each family's paper reports on wsj0-2mix
(:data:`PAPERS`). On wsj0-2mix every family has been trained to convergence; on a small budget
the order says which family learns fastest. ``--published`` reads the runs published with the
repository instead of a store.
"""

from __future__ import annotations

import argparse
from pathlib import Path

# architecture -> (SI-SNRi in dB on wsj0-2mix, where it is reported)
PAPERS: dict[str, tuple[float, str]] = {
    "dprnn-tasnet": (18.8, "Luo, Chen, Yoshioka, ICASSP 2020 (DPRNN-TasNet)"),
    "conv-tasnet": (15.3, "Luo, Mesgarani, TASLP 2019 (Conv-TasNet, gLN)"),
    "chimera-pp": (11.5, "Wang, Le Roux, Hershey, ICASSP 2018 (Chimera++)"),
    "deep-clustering": (10.8, "Isik et al., Interspeech 2016 (DPCL++)"),
    "mask-inference": (10.0, "Kolbaek et al., TASLP 2017 (uPIT-BLSTM), as tabulated by Conv-TasNet"),
}


def main() -> None:
    from separena.bench import ResultStore
    from separena.bench.leaderboard import latest_runs
    from separena.bench.published import PublishedStore, default_published_dir
    from separena.bench.stats import rank_agreement

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--suite", default="speech-quick")
    ap.add_argument("--store", type=Path, default=Path("results/bench.sqlite"))
    ap.add_argument("--published", action="store_true", help="the runs published with the repository")
    args = ap.parse_args()
    store = PublishedStore(default_published_dir()) if args.published else ResultStore(args.store)
    scores: dict[str, list[float]] = {}
    for run in latest_runs(store.runs(suite=args.suite)):
        architecture = run.payload["config"]["architecture"]
        if architecture in PAPERS:
            scores.setdefault(architecture, []).append(run.payload["sets"]["test"]["si_sdri_mean"])
    ours = {a: sum(v) / len(v) for a, v in scores.items()}
    if len(ours) < 2:
        raise SystemExit(f"suite {args.suite}: {len(ours)} of the five families stored; expected at least 2")
    agreement = rank_agreement(ours, {a: v for a, (v, _) in PAPERS.items()})
    for architecture in sorted(ours, key=ours.get, reverse=True):
        print(f"{architecture:16s} {ours[architecture]:6.2f} dB here   {PAPERS[architecture][0]:5.1f} dB on wsj0-2mix")
    swaps = ", ".join(f"{a} > {b}" for a, b in agreement.swapped) or "none"
    print(f"{args.suite}: Kendall's tau {agreement.tau:.2f} over {agreement.n} families (p {agreement.p_value:.3f}) "
          f"against the papers' order; pairs ordered as the papers do not: {swaps}")


if __name__ == "__main__":
    main()
