"""Mamba layers against the BLSTMs they replace: what a training step costs.

Each Mamba preset is compared with the recurrent preset it is built like: the mask-inference
pairs share features, head and objective (``mask-inference`` and ``mamba-mask-inference``),
the dual-path pair shares filterbank, chunking and output stage (``dprnn-tasnet-small`` and
``dpmamba-small``), the grid pair STFT, embedding, attention and output (``tf-gridnet-small``
and ``spmamba-small``), so this is the sequence models' cost alone, measured in one run on this
machine: for each preset, its parameters, the training MACs per mixture that budgets
count, the steps ``speech-quick``'s 1.2-TMAC budget buys, the seconds of one training step
(batch 8 of 2-s mixtures at 8 kHz, one thread, median of ``--steps`` after one warm-up), their
ratio to the recurrent preset's, and the wall-clock the budget takes. It also prints the share of each
Mamba layer's element-wise scan products that the MAC counter does not see (it counts matrix
products and convolutions only).

Usage::

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/mamba_vs_blstm.py [--steps 5] [--presets dprnn-tasnet-small ...]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time

import torch

from separena import default_registry
from separena.cost import count_parameters, training_cost
from separena.train import objective_loss

# Each preset with the recurrent preset its step time is compared with (None: it is that preset).
PRESETS = {"mask-inference": None, "mamba-mask-inference": "mask-inference",
           "mamba-mask-inference-wide": "mask-inference", "mask-inference-causal": None,
           "mamba-mask-inference-causal": "mask-inference-causal", "dprnn-tasnet-small": None,
           "dpmamba-small": "dprnn-tasnet-small", "tf-gridnet-small": None, "spmamba-small": "tf-gridnet-small"}
BUDGET_MACS, BATCH, SECONDS, RATE = 1.2e12, 8, 2.0, 8000  # speech-quick's


def step_seconds(config, model: torch.nn.Module, steps: int) -> float:
    """Median seconds of one Adam step on a fixed random batch."""
    gen = torch.Generator().manual_seed(0)
    sources = 0.1 * torch.randn(BATCH, 2, int(SECONDS * RATE), generator=gen)
    mix = sources.sum(1)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    model.train()
    times = []
    for i in range(steps + 1):
        begin = time.perf_counter()
        optimizer.zero_grad()
        objective_loss(config, model, model(mix), sources).backward()
        optimizer.step()
        if i:  # the first step warms up allocators and kernels
            times.append(time.perf_counter() - begin)
    return statistics.median(times)


def scan_share(d_model: int, expand: int = 2, d_state: int = 16, d_conv: int = 4) -> float:
    """Uncounted scan products (4 per state element: delta*A, delta*B, that times x, and the
    recurrence's product) over the counted MACs of one Mamba layer, per frame and direction."""
    inner, rank = expand * d_model, -(-d_model // 16)
    counted = d_model * 2 * inner + inner * (rank + 2 * d_state) + rank * inner + inner * d_model \
        + inner * d_conv + inner * d_state  # in, x, dt and out projections, short conv, C readout
    return 4 * inner * d_state / counted


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument("--presets", nargs="+", choices=list(PRESETS), default=list(PRESETS),
                        help="a subset (a Mamba preset's comparison needs its recurrent preset too)")
    args = parser.parse_args()
    missing = {PRESETS[name] for name in args.presets} - set(args.presets) - {None}
    if missing:
        parser.error(f"--presets: the comparisons need {', '.join(sorted(missing))} too")
    torch.set_num_threads(1)
    registry = default_registry()
    rows, seconds_of = [], {}
    for name in [name for name in PRESETS if name in args.presets]:
        config = registry.model_config(name)
        torch.manual_seed(0)
        model = config.build()
        cost = training_cost(model, 2, BATCH, int(SECONDS * RATE))
        steps = BUDGET_MACS / (cost.macs_per_example * BATCH)
        seconds = seconds_of[name] = step_seconds(config, model, args.steps)
        baseline = seconds_of[PRESETS[name] or name]  # the recurrent row comes first
        share = (f"{scan_share(config.params['d_model'], config.params.get('expand', 2)):.2f}"
                 if "d_model" in config.params else "-")
        rows.append(f"| {name} | {count_parameters(model) / 1e3:.0f} k | {cost.macs_per_example / 1e6:.0f} M "
                    f"| {steps:.0f} | {seconds:.3f} | {seconds / baseline:.1f} | {steps * seconds / 60:.1f} "
                    f"| {cost.memory_mb:.0f} MB | {share} |")
        print(rows[-1], flush=True)
    print(f"\nMeasured {time.strftime('%Y-%m-%d')} with `benchmarks/mamba_vs_blstm.py --steps {args.steps}` on "
          f"{platform.machine()}, one thread, torch {torch.__version__}; ratio: step time over the recurrent preset "
          "it is built like.\n")
    print("| preset | params | training MACs per mixture | steps in 1.2 TMACs | s per step | ratio | minutes "
          "for the budget | training memory | uncounted scan share |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
