"""Training-step speed and parameter count of separena's native SepFormer vs speechbrain's.

Each case builds our preset (plugin ``separena-attention``) and speechbrain's SepFormer (through
the ``speechbrain-sepformer`` adapter: speechbrain's ``Encoder``, ``Dual_Path_Model`` with
``SBTransformerBlock`` intra/inter and ``Decoder``, as its WSJ0-2mix recipe) with the same
configuration, derived from our preset's parameters so the two cannot drift, and times one
training step (zero grad, forward, negative PIT SI-SDR, backward, Adam step) on the same input.
Sides alternate within each repetition (ABBA order) after warm-up steps; the table reports the
median step time, the ratio ours / speechbrain (target <= 1.0) and parameter counts (target
within 5 %).

Usage::

    .venv/bin/python benchmarks/speed_vs_speechbrain.py                 # sepformer-small, 1 thread
    .venv/bin/python benchmarks/speed_vs_speechbrain.py --cases all --device cuda

Results go to ``docs/benchmarks/speed_vs_speechbrain.md`` (``--out``), overwritten on each run;
``--out -`` prints the table only.
"""

from __future__ import annotations

import argparse
import datetime
import platform
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from separena import Registry, Separator
from separena.losses import pit_si_sdr

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Case:
    preset: str  # our preset
    batch: int
    seconds: float


CASES = {
    "sepformer-small": Case("sepformer-small", 8, 2.0),
    "sepformer-paper": Case("sepformer-paper", 2, 2.0),
}


def speechbrain_params(ours: dict[str, Any]) -> dict[str, Any]:
    """The ``speechbrain-sepformer`` parameters of our SepFormer's configuration.

    speechbrain's transformers run at the encoder's width (``d_model = n_filters``), and its mask
    network is fixed to ReLU masks: our preset must use the same.
    """
    if ours["d_model"] != ours["n_filters"] or ours["mask_activation"] != "relu":
        raise ValueError(f"no speechbrain equivalent: d_model={ours['d_model']}, n_filters={ours['n_filters']}, "
                         f"mask_activation={ours['mask_activation']!r} (needs d_model == n_filters and relu)")
    return {"n_src": ours["n_src"], "sample_rate": ours["sample_rate"], "n_filters": ours["n_filters"],
            "filter_length": ours["filter_length"], "chunk_size": ours["chunk_size"],
            "num_repeats": ours["num_repeats"], "num_layers": ours["num_layers"], "num_heads": ours["num_heads"],
            "ffn_size": ours["ffn_size"], "dropout": ours["dropout"]}


def n_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def train_step(model: Separator, optimizer: torch.optim.Optimizer, mix: torch.Tensor, sources: torch.Tensor) -> float:
    """One zero grad + forward + loss + backward + Adam step; returns seconds (synchronised on CUDA)."""
    sync = torch.cuda.synchronize if mix.is_cuda else (lambda: None)
    sync()
    start = time.perf_counter()
    optimizer.zero_grad(set_to_none=True)
    pit_si_sdr(model(mix), sources).backward()
    optimizer.step()
    sync()
    return time.perf_counter() - start


def run_case(registry: Registry, case: Case, reps: int, warmup: int, device: str) -> dict[str, Any]:
    config = registry.model_config(case.preset)
    torch.manual_seed(0)
    models = {"ours": config.build().to(device).train()}
    torch.manual_seed(0)
    models["speechbrain"] = registry.create_model("speechbrain-sepformer", **speechbrain_params(config.params))
    models["speechbrain"].to(device).train()
    optimizers = {side: torch.optim.Adam(m.parameters(), lr=1e-3) for side, m in models.items()}
    gen = torch.Generator().manual_seed(0)
    sources = 0.1 * torch.randn(case.batch, config.params["n_src"], int(case.seconds * config.params["sample_rate"]),
                                generator=gen).to(device)
    mix = sources.sum(1)
    times: dict[str, list[float]] = {side: [] for side in models}
    for _ in range(warmup):
        for side in models:
            train_step(models[side], optimizers[side], mix, sources)
    for rep in range(reps):
        order = ("ours", "speechbrain") if rep % 2 == 0 else ("speechbrain", "ours")  # ABBA: no side always first
        for side in order:
            times[side].append(train_step(models[side], optimizers[side], mix, sources))
    med = {side: statistics.median(t) for side, t in times.items()}
    p_ours, p_theirs = n_params(models["ours"]), n_params(models["speechbrain"])
    return {
        "case": case.preset, "input": f"{case.batch} x {case.seconds:g} s", "ours_s": med["ours"],
        "speechbrain_s": med["speechbrain"], "ratio": med["ours"] / med["speechbrain"],
        "ours_min": min(times["ours"]), "speechbrain_min": min(times["speechbrain"]),
        "ours_params": p_ours, "speechbrain_params": p_theirs, "params_diff": (p_ours - p_theirs) / p_theirs,
        "reps": reps,
    }


def environment(device: str, threads: int) -> str:
    from separena.bench.execute import cpu_model

    hw = torch.cuda.get_device_name(0) if device.startswith("cuda") else cpu_model()
    import speechbrain

    return (f"torch {torch.__version__}, speechbrain {speechbrain.__version__}, python {platform.python_version()}, "
            f"{device} ({hw}), {threads} thread(s)")


def to_markdown(rows: list[dict[str, Any]], env: str, command: str) -> str:
    lines = [
        "# Training-step speed vs speechbrain", "",
        f"Generated by `{command}` on {datetime.date.today().isoformat()}: {env}.", "",
        "One step = zero grad + forward + negative PIT SI-SDR + backward + Adam step, same input for both; "
        "median over interleaved (ABBA) repetitions after warm-up (fastest step in brackets). Ratio = ours / "
        "speechbrain (lower is faster; target <= 1.0). Parameter difference target: within 5 %.", "",
        "| preset | input | ours (s/step) | speechbrain (s/step) | ratio | ours params | speechbrain params | diff |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r['case']} | {r['input']} | {r['ours_s']:.3f} ({r['ours_min']:.3f}) | "
                     f"{r['speechbrain_s']:.3f} ({r['speechbrain_min']:.3f}) | {r['ratio']:.2f} | "
                     f"{r['ours_params']:,} | {r['speechbrain_params']:,} | {100 * r['params_diff']:+.1f} % |")
    lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", default="sepformer-small", help="'all' or comma-separated preset names")
    parser.add_argument("--reps", type=int, default=9, help="timed steps per side")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per side first")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "docs" / "benchmarks" / "speed_vs_speechbrain.md"),
                        help="markdown file to overwrite, or - for none")
    args = parser.parse_args(argv)

    torch.set_num_threads(args.threads)
    names = list(CASES) if args.cases == "all" else [n.strip() for n in args.cases.split(",")]
    unknown = [n for n in names if n not in CASES]
    if unknown:
        parser.error(f"--cases: unknown {', '.join(unknown)}; expected all or some of {', '.join(CASES)}")
    # Only these two plugins and the core: other installed plugins can't slow or break the benchmark.
    registry = Registry(entry_points=False, plugins=["separena_attention", "separena_speechbrain_adapter"])

    rows = []
    for name in names:
        print(f"timing {name} ...", flush=True)
        rows.append(run_case(registry, CASES[name], args.reps, args.warmup, args.device))
    command = "python benchmarks/speed_vs_speechbrain.py " + " ".join(argv if argv is not None else sys.argv[1:])
    text = to_markdown(rows, environment(args.device, args.threads), command.strip())
    print(text)
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text)
        print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
