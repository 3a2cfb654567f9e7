"""Does a suite rank the five native speech families as their papers do on wsj0-2mix?

    python benchmarks/ranking_vs_papers.py [--suite speech-quick] [--store results/bench.sqlite | --published]
        [--against SUITE]

Kendall's tau between a suite's mean SI-SDRi on ``test`` per architecture (its latest run of
each model, seeds averaged) and the SI-SNRi each family's paper reports on wsj0-2mix
(:data:`PAPERS`). On wsj0-2mix every family has been trained to convergence; on a small budget
the order says which family learns fastest. ``--published`` reads the runs published with the
repository instead of a store. ``--against SUITE`` also gives the tau between the suite's order
and another suite's of the same store (e.g. ``speech-gpu`` against ``speech-quick``: does a
larger budget change who wins?).
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
    ap.add_argument("--against", default=None, metavar="SUITE", help="another suite to compare the order with")
    args = ap.parse_args()
    store = PublishedStore(default_published_dir()) if args.published else ResultStore(args.store)

    def family_scores(suite: str) -> dict[str, float]:
        """Mean test SI-SDRi per family of the papers (latest run of each model, seeds averaged)."""
        scores: dict[str, list[float]] = {}
        for run in latest_runs(store.runs(suite=suite)):
            architecture = run.payload["config"]["architecture"]
            if architecture in PAPERS:
                scores.setdefault(architecture, []).append(run.payload["sets"]["test"]["si_sdri_mean"])
        if len(scores) < 2:
            raise SystemExit(f"suite {suite}: {len(scores)} of the five families stored; expected at least 2")
        return {a: sum(v) / len(v) for a, v in scores.items()}

    ours = family_scores(args.suite)
    agreement = rank_agreement(ours, {a: v for a, (v, _) in PAPERS.items()})
    for architecture in sorted(ours, key=ours.get, reverse=True):
        print(f"{architecture:16s} {ours[architecture]:6.2f} dB here   {PAPERS[architecture][0]:5.1f} dB on wsj0-2mix")
    swaps = ", ".join(f"{a} > {b}" for a, b in agreement.swapped) or "none"
    print(f"{args.suite}: Kendall's tau {agreement.tau:.2f} over {agreement.n} families (p {agreement.p_value:.3f}) "
          f"against the papers' order; pairs ordered as the papers do not: {swaps}")
    if args.against:
        theirs = family_scores(args.against)
        common = sorted(set(ours) & set(theirs))
        versus = rank_agreement({a: ours[a] for a in common}, {a: theirs[a] for a in common})
        swaps = ", ".join(f"{a} > {b}" for a, b in versus.swapped) or "none"
        print(f"{args.suite} against {args.against}: Kendall's tau {versus.tau:.2f} over {versus.n} families "
              f"(p {versus.p_value:.3f}); pairs ordered as {args.against} does not: {swaps}")


if __name__ == "__main__":
    main()
