"""Lookahead of every model the suites benchmark, and of the one-way variants their
architectures offer (``causal=True``, ``bidirectional=False``, each also with a norm that
does not look at the whole input where the preset's does): how far ahead of an output sample the input it
depends on reaches (``separena.cost.lookahead_seconds``: exact gradients and a perturbation of
the future on 2 s of noise, the larger of the two over 8 places; "offline": to the end of the
input). The benchmark stores the same measurement as each run's ``lookahead`` cost.

Usage::

    .venv/bin/python benchmarks/lookahead.py [--suites speech-quick speech-zoo music-quick]
        [--out docs/benchmarks/lookahead.md]
"""

from __future__ import annotations

import argparse
import platform
import time
from pathlib import Path

import torch

from separena import default_registry
from separena.bench.leaderboard import format_lookahead
from separena.bench.runner import suite_models
from separena.cost import lookahead_seconds

def variants(params: dict) -> list[dict]:
    """The preset itself, then the one-way variants its parameters allow: ``causal=True`` (with
    cumulative layer norm where the norm is global layer norm), ``bidirectional=False`` (also
    with a learned norm where it is per-item instance norm, which looks at the whole input)."""
    out = [{}]
    if params.get("causal") is False:
        out.append({"causal": True})
        if params.get("norm") == "gLN":
            out.append({"causal": True, "norm": "cLN"})
    if params.get("bidirectional") is True:
        out.append({"bidirectional": False})
        if params.get("norm") == "instance":
            out.append({"bidirectional": False, "norm": "learned"})
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--suites", nargs="+", default=["speech-quick", "speech-zoo", "music-quick"])
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    torch.set_num_threads(1)
    registry = default_registry()
    lines = ["| suite | model | variant | lookahead | measured in (s) |", "|---|---|---|---|---:|"]
    for suite_name in args.suites:
        suite = registry.suite(suite_name)
        for name in suite_models(registry, suite):
            config = registry.model_config(name)
            if not config.trainable:
                continue  # oracles and the mixture: no latency to speak of
            for change in variants(config.params):
                model = registry.create_model(name, **change)
                t0 = time.perf_counter()
                ahead = lookahead_seconds(model, model.n_src)
                took = time.perf_counter() - t0
                shown = ", ".join(f"{k}={v}" for k, v in change.items()) or "as registered"
                lines.append(f"| {suite_name} | {name} | {shown} | {format_lookahead(ahead)} | {took:.1f} |")
                print(lines[-1], flush=True)
    machine = platform.processor() or platform.machine()
    text = "\n".join(lines) + f"\n\nMeasured with torch {torch.__version__} on {machine}.\n"
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
