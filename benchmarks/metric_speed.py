"""Speed of the benchmark's metrics against alternatives, on the same data.

- SI-SDR: ``separena.metrics.si_sdr`` vs torchmetrics and asteroid (when installed).
- BSS Eval SDR: ``separena.metrics.bss_sdr`` vs fast_bss_eval and museval (when installed),
  with the largest absolute difference between them.

Data: 2-source mixtures of 4 s at 8 kHz (the test-set shape of ``speech-quick``), one thread.
Writes ``docs/benchmarks/metric_speed.md``.

Usage::

    python benchmarks/metric_speed.py [--n 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import platform
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch
from rich.console import Console
from rich.table import Table

from separena.metrics import bss_sdr, si_sdr

ROOT = Path(__file__).resolve().parents[1]


def _time(fn: Callable[[], object], repeat: int = 3) -> float:
    fn()  # warm-up
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20, help="mixtures (2 sources x 4 s at 8 kHz)")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks" / "metric_speed.md")
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    refs = torch.randn(args.n, 2, 32000, generator=gen)
    est = refs.flip(1) * 0.8 + 0.3 * torch.randn(args.n, 2, 32000, generator=gen)
    rows: list[tuple[str, str, float, str]] = []  # metric, implementation, ms per mixture, note

    rows.append(("SI-SDR", "separena (torch, batched)", _time(lambda: si_sdr(est, refs)) / args.n * 1e3, ""))
    if importlib.util.find_spec("torchmetrics"):
        from torchmetrics.functional.audio import scale_invariant_signal_distortion_ratio as tm_si_sdr

        ours = si_sdr(est, refs)
        diff = (tm_si_sdr(est, refs, zero_mean=True) - ours).abs().max().item()
        rows.append(("SI-SDR", "torchmetrics", _time(lambda: tm_si_sdr(est, refs, zero_mean=True)) / args.n * 1e3,
                     f"max abs diff {diff:.1e} dB"))
    if importlib.util.find_spec("asteroid"):
        from asteroid.losses import PairwiseNegSDR

        pairwise = PairwiseNegSDR("sisdr")
        rows.append(("SI-SDR", "asteroid PairwiseNegSDR (all pairs)", _time(lambda: pairwise(est, refs)) / args.n * 1e3,
                     "computes 4 pairs per mixture"))

    n_bss = min(args.n, 10)
    rows.append(("BSS Eval SDR", "separena bss_sdr (Cholesky, per mixture)",
                 _time(lambda: [bss_sdr(est[i:i + 1], refs[i:i + 1]) for i in range(n_bss)], 1) / n_bss * 1e3, ""))
    rows.append(("BSS Eval SDR", "separena bss_sdr (Cholesky, batched)",
                 _time(lambda: bss_sdr(est[:n_bss], refs[:n_bss]), 1) / n_bss * 1e3, ""))
    if importlib.util.find_spec("fast_bss_eval"):
        import fast_bss_eval

        def fbe() -> list[torch.Tensor]:
            return [fast_bss_eval.sdr(refs[i:i + 1], est[i:i + 1], load_diag=1e-10, clamp_db=100) for i in range(n_bss)]

        diff = (torch.cat(fbe()) - bss_sdr(est[:n_bss], refs[:n_bss])).abs().max().item()
        rows.append(("BSS Eval SDR", "fast_bss_eval.sdr (per mixture)", _time(fbe, 1) / n_bss * 1e3,
                     f"max abs diff vs ours {diff:.1e} dB (float32)"))
    if importlib.util.find_spec("museval"):
        import museval

        n_mus = min(n_bss, 3)  # museval is slow: a few mixtures give its speed

        def museval_some() -> list[np.ndarray]:
            return [museval.metrics.bss_eval(refs[i].double().numpy()[..., None], est[i].double().numpy()[..., None],
                                             window=np.inf, compute_permutation=True, filters_len=512,
                                             bsseval_sources_version=True)[0].ravel() for i in range(n_mus)]

        t0 = time.perf_counter()
        theirs = museval_some()
        seconds = time.perf_counter() - t0
        ours = bss_sdr(est[:n_mus], refs[:n_mus]).numpy()
        diff = max(float(np.abs(ours[i] - theirs[i]).max()) for i in range(n_mus))
        rows.append(("BSS Eval SDR", "museval bss_eval (window=inf, v4 sources)", seconds / n_mus * 1e3,
                     f"max abs diff vs ours {diff:.1e} dB"))

    console = Console()
    table = Table(title=f"metric speed, {args.n} mixtures of 2 x 4 s at 8 kHz, 1 thread")
    for column in ("metric", "implementation", "ms / mixture", "note"):
        table.add_column(column)
    for metric, impl, ms, note in rows:
        table.add_row(metric, impl, f"{ms:.2f}", note)
    console.print(table)
    lines = ["# Metric speed", "",
             f"Measured by `benchmarks/metric_speed.py` on {platform.machine()}, 1 torch thread, torch "
             f"{torch.__version__}, {time.strftime('%Y-%m-%d')}: 2-source mixtures of 4 s at 8 kHz "
             "(the `speech-quick` test shape); best of 3 for SI-SDR, one pass for BSS Eval.", "",
             "| metric | implementation | ms / mixture | note |", "| --- | --- | ---: | --- |",
             *[f"| {m} | {i} | {ms:.2f} | {n} |" for m, i, ms, n in rows], "",
             "The benchmark computes the mixture's own SDR once per test mixture (it is the same for every "
             "model), so SDRi costs one `bss_sdr` call per mixture and model.", ""]
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text("\n".join(lines), encoding="utf-8")
    console.print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
