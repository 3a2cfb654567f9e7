"""Every installed architecture on a GPU: the same output as on the CPU, and training steps
through the one training loop (bfloat16 autocast, batches built by worker processes).

    python benchmarks/cuda_check.py [--device cuda] [--steps 3] [--only NAME ...]

For each architecture (built from its contract-kit ``test_params``, seed 0) it prints:
- agreement of the GPU's float32 estimates with the CPU's, as SI-SDR of one against the other
  (dB; 100+ means equal to rounding), and of the embeddings where the model has them;
- the losses of ``--steps`` training steps on the GPU on tone mixtures.
It exits with 1 when an architecture fails (estimates below ``--min-agreement`` dB where the
separation does not go through k-means, a non-finite loss, or an error), so it can gate a GPU
machine's set-up. Needs a CUDA device; CI has none, so it is a benchmark script, not a test.
"""

from __future__ import annotations

import argparse
import sys

import torch
from rich.console import Console
from rich.table import Table

from separena import Budget, default_registry
from separena.data.tones import tones_2mix
from separena.metrics import si_sdr
from separena.model import separate
from separena.testing import tiny_config
from separena.train import train


def agreement(reference: torch.Tensor, other: torch.Tensor) -> float:
    """SI-SDR (dB) of ``other`` against ``reference``, averaged over batch and sources."""
    ref, est = reference.flatten(0, -2).double(), other.flatten(0, -2).double()
    keep = ref.pow(2).sum(-1) > 0
    if not keep.any():
        return float("inf") if torch.equal(ref, est) else float("-inf")
    return si_sdr(est[keep], ref[keep]).clamp(max=200).mean().item()


def check(name: str, device: str, steps: int, registry) -> dict:
    config = tiny_config(name, registry)
    torch.manual_seed(0)
    model = config.build().eval()
    gen = torch.Generator().manual_seed(1)
    length = int(0.5 * model.sample_rate)
    sources = 0.1 * torch.randn(2, model.n_src, length, generator=gen)
    mix = sources.sum(1)
    row = {"name": name, "family": config.family}
    with torch.no_grad():
        cpu = separate(model, mix, sources)
        gpu = separate(model.to(device), mix.to(device), sources.to(device))
    row["estimates_db"] = agreement(cpu.estimates, gpu.estimates.cpu())
    row["embedding_db"] = (agreement(cpu.embedding, gpu.embedding.cpu())
                           if cpu.embedding is not None and gpu.embedding is not None else None)
    if config.trainable:
        data = tones_2mix(n_src=model.n_src, sample_rate=model.sample_rate, n_test=2)
        _, result = train(config, data, Budget(steps=steps, batch_size=4), segment_seconds=0.5, device=device,
                          progress=False, data_workers=2)
        row["losses"] = result.losses
    return row


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--min-agreement", type=float, default=30.0, help="dB (estimates, CPU vs GPU)")
    parser.add_argument("--only", nargs="*", default=None, help="architecture names (default: every one)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print(f"cuda_check: --device {args.device}: no CUDA device here; expected a machine with a GPU")
        return 2
    registry = default_registry()
    names = args.only or sorted(registry.architectures)
    table = Table(title=f"architectures on {args.device} ({torch.cuda.get_device_name() if torch.cuda.is_available() else 'cpu'})")
    for column in ("architecture", "family", "estimates CPU vs GPU (dB)", "embedding (dB)", "train losses", "status"):
        table.add_column(column)
    failed = 0
    for name in names:
        try:
            row = check(name, args.device, args.steps, registry)
        except Exception as exc:  # report every architecture, then fail
            failed += 1
            table.add_row(name, "", "", "", "", f"[red]error: {type(exc).__name__}: {exc}"[:200])
            continue
        clustered = row["embedding_db"] is not None  # estimates go through k-means: compare the embedding
        ok = (row["embedding_db"] >= args.min_agreement) if clustered else row["estimates_db"] >= args.min_agreement
        losses = row.get("losses")
        ok = ok and (losses is None or all(torch.isfinite(torch.tensor(losses))))
        failed += not ok
        table.add_row(name, row["family"], f"{row['estimates_db']:.1f}",
                      "" if row["embedding_db"] is None else f"{row['embedding_db']:.1f}",
                      "" if losses is None else " ".join(f"{v:.2f}" for v in losses),
                      "ok" if ok else "[red]FAILED")
    Console(width=200).print(table)
    print(f"{len(names) - failed} of {len(names)} architectures ok on {args.device}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
