"""Training-step speed and parameter count of separena's Conv-TasNet / DPRNN-TasNet vs asteroid's.

Each case builds our preset and asteroid's model (``asteroid.models.ConvTasNet`` /
``DPRNNTasNet``) with the same configuration, derived from our preset's parameters so the two
cannot drift, and times one training step (zero grad, forward, negative PIT SI-SDR, backward)
on the same input. Sides alternate within each repetition (ABBA order) after warm-up steps;
the table reports the median step time, the ratio ours / asteroid (target <= 1.0) and
parameter counts (target within 5 %).

Usage::

    .venv/bin/python benchmarks/speed_vs_asteroid.py                  # small presets, 1 thread
    .venv/bin/python benchmarks/speed_vs_asteroid.py --cases all --reps 5
    .venv/bin/python benchmarks/speed_vs_asteroid.py --device cuda --cases all

Results go to ``docs/benchmarks/speed_vs_asteroid.md`` (``--out``), overwritten on each run.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from separena import Registry, SeparatorOutput
from separena.losses import pit_si_sdr

ROOT = Path(__file__).resolve().parents[1]


def asteroid_conv_tasnet(p: dict[str, Any]) -> nn.Module:
    from asteroid.models import ConvTasNet

    return ConvTasNet(
        n_src=p["n_src"], sample_rate=p["sample_rate"], n_filters=p["n_filters"], kernel_size=p["filter_length"],
        stride=p["filter_length"] // 2, bn_chan=p["bottleneck_size"], hid_chan=p["hidden_size"],
        skip_chan=p["skip_size"], conv_kernel_size=p["kernel_size"], n_blocks=p["num_blocks"],
        n_repeats=p["num_repeats"], causal=p["causal"], norm_type="cLN" if p["causal"] else "gLN",
        mask_act=p["mask_activation"], encoder_activation=None if p["encoder_activation"] == "linear" else "relu",
    )


def asteroid_dprnn_tasnet(p: dict[str, Any]) -> nn.Module:
    from asteroid.models import DPRNNTasNet

    return DPRNNTasNet(
        n_src=p["n_src"], sample_rate=p["sample_rate"], n_filters=p["n_filters"], kernel_size=p["filter_length"],
        stride=p["filter_length"] // 2, bn_chan=p["bottleneck_size"], hid_size=p["hidden_size"],
        chunk_size=p["chunk_size"], hop_size=p["chunk_size"] // 2, n_repeats=p["num_repeats"],
        num_layers=p["num_layers"], bidirectional=p["bidirectional"], rnn_type=p["rnn_type"].upper(),
        dropout=p["dropout"], mask_act=p["mask_activation"],
    )


@dataclass(frozen=True)
class Case:
    preset: str  # our preset
    asteroid: Callable[[dict[str, Any]], nn.Module]  # asteroid model from our resolved params
    batch: int
    seconds: float


CASES = {
    "conv-tasnet-small": Case("conv-tasnet-small", asteroid_conv_tasnet, 8, 2.0),
    "dprnn-tasnet-small": Case("dprnn-tasnet-small", asteroid_dprnn_tasnet, 8, 2.0),
    "conv-tasnet": Case("conv-tasnet", asteroid_conv_tasnet, 4, 1.0),
    "dprnn-tasnet": Case("dprnn-tasnet", asteroid_dprnn_tasnet, 4, 1.0),
}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step(model: nn.Module, mix: torch.Tensor, sources: torch.Tensor) -> float:
    """One forward + loss + backward; returns seconds (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if mix.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    model.zero_grad(set_to_none=True)
    out = model(mix)
    estimates = out.estimates if isinstance(out, SeparatorOutput) else out
    pit_si_sdr(SeparatorOutput(estimates=estimates), sources).backward()
    sync()
    return time.perf_counter() - start


def run_case(registry: Registry, case: Case, reps: int, warmup: int, device: str) -> dict[str, Any]:
    config = registry.model_config(case.preset)
    torch.manual_seed(0)
    ours = config.build().to(device).train()
    torch.manual_seed(0)
    theirs = case.asteroid(config.params).to(device).train()
    gen = torch.Generator().manual_seed(0)
    sources = 0.1 * torch.randn(case.batch, config.params["n_src"], int(case.seconds * config.params["sample_rate"]),
                                generator=gen)
    sources = sources.to(device)
    mix = sources.sum(1)
    times: dict[str, list[float]] = {"ours": [], "asteroid": []}
    models = {"ours": ours, "asteroid": theirs}
    for _ in range(warmup):
        for side in models:
            train_step(models[side], mix, sources)
    for rep in range(reps):
        order = ("ours", "asteroid") if rep % 2 == 0 else ("asteroid", "ours")  # ABBA: no side always first
        for side in order:
            times[side].append(train_step(models[side], mix, sources))
    med = {side: statistics.median(t) for side, t in times.items()}
    p_ours, p_theirs = n_params(ours), n_params(theirs)
    return {
        "case": case.preset, "input": f"{case.batch} x {case.seconds:g} s", "ours_s": med["ours"],
        "asteroid_s": med["asteroid"], "ratio": med["ours"] / med["asteroid"],
        "ours_min": min(times["ours"]), "asteroid_min": min(times["asteroid"]),
        "ours_params": p_ours, "asteroid_params": p_theirs, "params_diff": (p_ours - p_theirs) / p_theirs,
        "reps": reps,
    }


def environment(device: str, threads: int) -> str:
    from separena.bench.execute import cpu_model

    hw = torch.cuda.get_device_name(0) if device.startswith("cuda") else cpu_model()
    import asteroid

    return (f"torch {torch.__version__}, asteroid {asteroid.__version__}, python {platform.python_version()}, "
            f"{device} ({hw}), {threads} thread(s)")


def to_markdown(rows: list[dict[str, Any]], env: str, command: str) -> str:
    lines = [
        "# Training-step speed vs asteroid", "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()}: {env}.", "",
        "One step = zero grad + forward + negative PIT SI-SDR + backward, same input for both; median over "
        "interleaved (ABBA) repetitions after warm-up. Ratio = ours / asteroid (lower is faster; target <= 1.0). "
        "Parameter difference target: within 5 %.", "",
        "| preset | input | ours (s/step) | asteroid (s/step) | ratio | ours params | asteroid params | diff |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['input']} | {r['ours_s']:.3f} | {r['asteroid_s']:.3f} | {r['ratio']:.2f} | "
                     f"{r['ours_params']:,} | {r['asteroid_params']:,} | {100 * r['params_diff']:+.1f} % |")
    lines += [
        "", "Configuration notes:",
        "- asteroid models are built from our preset's parameters (`asteroid_conv_tasnet` / "
        "`asteroid_dprnn_tasnet` in the script): same filterbank, TCN / dual-path sizes, sigmoid masks, gLN.",
        "- Conv-TasNet: asteroid keeps a residual 1x1 convolution in the last TCN block whose output is never "
        "used (it gets no gradient); ours omits it, hence slightly fewer parameters.",
        "- Framing differs slightly: we pad L - L/2 samples (and K/2 frames for chunks) on each side so every "
        "sample lies in the same number of frames; asteroid pads no samples and K frames around chunks.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="small", help="'small', 'all' or comma-separated preset names")
    parser.add_argument("--reps", type=int, default=7, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side first")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks" / "speed_vs_asteroid.md")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = {"small": ["conv-tasnet-small", "dprnn-tasnet-small"], "all": list(CASES)}.get(
        args.cases, [n.strip() for n in args.cases.split(",")])
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {', '.join(unknown)}; expected small, all or some of {', '.join(CASES)}")
    # Only this plugin and the core: other installed plugins can't slow or break the benchmark.
    registry = Registry(entry_points=False, plugins=["separena_conv_tasnet"])

    from rich.console import Console
    from rich.table import Table

    console = Console(width=120)
    rows = []
    for name in names:
        console.print(f"timing {name} ...")
        rows.append(run_case(registry, CASES[name], args.reps, args.warmup, args.device))
    table = Table(title=f"training step, ours vs asteroid ({args.device}, {args.threads} thread(s))")
    for col in ("preset", "input", "ours s/step", "asteroid s/step", "ratio", "ours params", "asteroid params", "diff"):
        table.add_column(col, justify="left" if col in ("preset", "input") else "right")
    for r in rows:
        table.add_row(r["case"], r["input"], f"{r['ours_s']:.3f}", f"{r['asteroid_s']:.3f}", f"{r['ratio']:.2f}",
                      f"{r['ours_params']:,}", f"{r['asteroid_params']:,}", f"{100 * r['params_diff']:+.1f} %")
    console.print(table)
    command = "python benchmarks/speed_vs_asteroid.py " + " ".join(argv if argv is not None else sys.argv[1:])
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(to_markdown(rows, environment(args.device, args.threads), command.strip()))
    console.print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
