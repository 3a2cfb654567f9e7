"""Training-step speed and size of separena's recurrent models against nussl's builders.

For each pair (separena deep-clustering / chimera-pp / mask-inference vs nussl's
``build_recurrent_dpcl`` / ``build_recurrent_chimera`` / ``build_recurrent_mask_inference``
in a ``SeparationModel``, same trunk configuration), one training step is timed on the same
input: everything from the waveforms to the gradients, i.e. the STFTs that give features and
targets (nussl does these in its data pipeline; here they are done in torch inside the step,
for both sides), forward, loss, backward. Steps of all models are interleaved round by round,
after warm-up rounds, on one thread; the median is reported.

Each separena model is timed with its declared objective, and where that differs from
nussl's recipe loss, also with a loss matched to nussl's (rows marked "matched loss").

Usage::

    .venv/bin/python benchmarks/speed_vs_nussl.py [--rounds 15] [--warmup 3] [--out docs/benchmarks/speed_vs_nussl.md]
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import platform
import statistics
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

import separena
from separena.train import objective_loss

# --- configuration shared by both sides -------------------------------------------------
BATCH, SECONDS, SAMPLE_RATE = 8, 2.0, 8000
N_FFT, HOP = 256, 64
HIDDEN, LAYERS, EMBEDDING = 128, 2, 20
N_SRC = 2
N_FREQ = N_FFT // 2 + 1
NUSSL_CHIMERA_WEIGHTS = {"dc": 0.2, "pit_l1": 0.8}  # nussl's Chimera example recipe


@dataclass
class Contender:
    label: str
    side: str  # "separena" | "nussl"
    model: nn.Module
    step: Callable[[], Tensor]  # returns the loss after backward


def _count(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _separena(name: str, mix: Tensor, sources: Tensor, objective: dict[str, float] | None, label: str) -> Contender:
    registry = separena.default_registry()
    config = registry.model_config(name, n_src=N_SRC, sample_rate=SAMPLE_RATE, n_fft=N_FFT, hop_length=HOP,
                                   hidden_size=HIDDEN, num_layers=LAYERS, bidirectional=True, dropout=0.0,
                                   **({"embedding_dim": EMBEDDING} if "embedding_dim" in
                                      registry.architectures[name].params() else {}))
    if objective is not None:
        config = dataclasses.replace(config, objective=dict(objective),
                                     losses={n: registry.losses[n] for n in objective})
    model = config.build().train()

    def step() -> Tensor:
        model.zero_grad(set_to_none=True)
        loss = objective_loss(config, model, model(mix), sources)
        loss.backward()
        return loss

    return Contender(label, "separena", model, step)


def _nussl(kind: str, mix: Tensor, sources: Tensor, label: str) -> Contender:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from nussl.ml import SeparationModel
        from nussl.ml.networks import builders
        from nussl.ml.train.loss import DeepClusteringLoss, L1Loss, PermutationInvariantLoss

    emb_act = ["sigmoid", "unit_norm"]
    if kind == "dpcl":
        cfg = builders.build_recurrent_dpcl(N_FREQ, HIDDEN, LAYERS, True, 0.0, EMBEDDING, emb_act)
    elif kind == "chimera":
        cfg = builders.build_recurrent_chimera(N_FREQ, HIDDEN, LAYERS, True, 0.0, EMBEDDING, emb_act, N_SRC, "sigmoid")
    else:
        cfg = builders.build_recurrent_mask_inference(N_FREQ, HIDDEN, LAYERS, True, 0.0, N_SRC, "sigmoid")
    model = SeparationModel(cfg).train()
    window = torch.hann_window(N_FFT)
    dc_loss, pit_l1 = DeepClusteringLoss(), PermutationInvariantLoss(L1Loss())

    def stft_mag(wav: Tensor) -> Tensor:  # [..., time] -> [..., T, F]
        spec = torch.stft(wav.reshape(-1, wav.shape[-1]), N_FFT, HOP, window=window, center=True,
                          return_complex=True).abs().transpose(1, 2)
        return spec.reshape(*wav.shape[:-1], *spec.shape[-2:])

    def step() -> Tensor:
        model.zero_grad(set_to_none=True)
        mix_mag = stft_mag(mix).unsqueeze(-1)  # [B, T, F, 1]: nussl's (nb, nt, nf, nc)
        src_mag = stft_mag(sources).permute(0, 2, 3, 1).unsqueeze(3)  # [B, T, F, 1, S]
        out = model({"mix_magnitude": mix_mag})
        loss = torch.zeros(())
        if kind in ("dpcl", "chimera"):
            ibm = nn.functional.one_hot(src_mag.argmax(-1), N_SRC).to(mix_mag.dtype)
            weight = 1.0 if kind == "dpcl" else NUSSL_CHIMERA_WEIGHTS["dc"]
            loss = loss + weight * dc_loss(out["embedding"], ibm, mix_mag.squeeze(-1).sqrt())
        if kind in ("mi", "chimera"):
            weight = 1.0 if kind == "mi" else NUSSL_CHIMERA_WEIGHTS["pit_l1"]
            loss = loss + weight * pit_l1(out["estimates"], src_mag)
        loss.backward()
        return loss

    return Contender(label, "nussl", model, step)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15, help="timed rounds (one step of every model per round)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed rounds first")
    parser.add_argument("--out", type=Path, default=Path("docs/benchmarks/speed_vs_nussl.md"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    sources = 0.1 * torch.randn(BATCH, N_SRC, int(SECONDS * SAMPLE_RATE))
    mix = sources.sum(1)
    matched_chimera = {"deep-clustering": NUSSL_CHIMERA_WEIGHTS["dc"], "pit-mask-l1": NUSSL_CHIMERA_WEIGHTS["pit_l1"]}
    chimera_objective = separena.default_registry().model_config("chimera-pp").objective
    # (ours, nussl) pairs; the nussl model is shared by the rows that compare with it
    nussl = {k: _nussl(k, mix, sources, f"nussl {n}") for k, n in
             (("dpcl", "build_recurrent_dpcl"), ("chimera", "build_recurrent_chimera"),
              ("mi", "build_recurrent_mask_inference"))}
    pairs = [
        (_separena("deep-clustering", mix, sources, None, "deep-clustering [deep-clustering]"), nussl["dpcl"]),
        (_separena("chimera-pp", mix, sources, None, f"chimera-pp {chimera_objective}"), nussl["chimera"]),
        (_separena("chimera-pp", mix, sources, matched_chimera, f"chimera-pp {matched_chimera} (matched loss)"),
         nussl["chimera"]),
        (_separena("mask-inference", mix, sources, None, "mask-inference [pit-si-sdr]"), nussl["mi"]),
        (_separena("mask-inference", mix, sources, {"pit-mask-l1": 1.0}, "mask-inference [pit-mask-l1] (matched loss)"),
         nussl["mi"]),
    ]
    contenders = list({id(c): c for pair in pairs for c in pair}.values())
    times: dict[int, list[float]] = {id(c): [] for c in contenders}
    load_before = os.getloadavg()
    for r in range(args.warmup + args.rounds):
        order = contenders if r % 2 == 0 else contenders[::-1]  # alternate the order, round by round
        for c in order:
            start = time.perf_counter()
            loss = c.step()
            elapsed = time.perf_counter() - start
            if not torch.isfinite(loss):
                raise SystemExit(f"{c.label}: non-finite loss {loss.item()}")
            if r >= args.warmup:
                times[id(c)].append(elapsed)
    load_after = os.getloadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    iqr = {k: (statistics.quantiles(v, n=4)[0], statistics.quantiles(v, n=4)[2]) for k, v in times.items()}

    rows = []
    for ours, theirs in pairs:
        po, pt = _count(ours.model), _count(theirs.model)
        rows.append((ours.label, theirs.label, med[id(ours)] * 1e3, med[id(theirs)] * 1e3,
                     med[id(ours)] / med[id(theirs)], po, pt, po / pt,
                     iqr[id(ours)], iqr[id(theirs)]))

    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"one training step, batch {BATCH} x {SECONDS:g} s at {SAMPLE_RATE} Hz, "
                        f"n_fft {N_FFT} hop {HOP}, BLSTM {LAYERS}x{HIDDEN}, 1 thread")
    for col in ("separena (objective)", "nussl", "ours ms", "nussl ms", "ratio", "ours params", "nussl params",
                "param ratio"):
        table.add_column(col, justify="left" if "nussl" == col or "objective" in col else "right")
    for r in rows:
        table.add_row(escape(r[0]), escape(r[1]), f"{r[2]:.1f}", f"{r[3]:.1f}", f"{r[4]:.2f}", f"{r[5]:,}", f"{r[6]:,}", f"{r[7]:.4f}")
    Console(width=200).print(table)

    lines = [
        "# Training-step speed: separena vs nussl",
        "",
        "Written by `benchmarks/speed_vs_nussl.py` (rerun it to refresh this page).",
        "",
        f"- Input: batch {BATCH} x {SECONDS:g} s of noise at {SAMPLE_RATE} Hz, {N_SRC} sources; STFT n_fft {N_FFT}, "
        f"hop {HOP}; BLSTM {LAYERS}x{HIDDEN}, embedding {EMBEDDING}, no dropout.",
        "- A step = waveforms -> STFT features and targets (in torch, for both sides; nussl normally "
        "computes them in its data loader) -> forward -> loss -> backward. separena's steps also run "
        "the inverse STFT (every separena model outputs waveforms), and deep-clustering runs k-means "
        "in its forward.",
        f"- {args.rounds} timed rounds after {args.warmup} warm-up rounds, models interleaved (order "
        "reversed every round), 1 torch thread; median step time, interquartile range in brackets.",
        f"- Machine: {platform.machine()}, {os.cpu_count()} cores shared with other jobs; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after; torch {torch.__version__}.",
        "- nussl's Chimera loss is its recipe's 0.2 deep clustering + 0.8 PIT L1 on magnitudes (nussl's "
        "PIT picks permutations per TF bin, see docs; timed here as is). Rows marked 'matched loss' "
        "give separena the same kind of loss.",
        "",
        "| separena (objective) | nussl | separena ms | nussl ms | ratio ours/nussl | separena params | "
        "nussl params | param ratio |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for r in rows:
        lines.append(f"| {r[0]} | {r[1]} | {r[2]:.1f} [{r[8][0]*1e3:.0f}-{r[8][1]*1e3:.0f}] | "
                     f"{r[3]:.1f} [{r[9][0]*1e3:.0f}-{r[9][1]*1e3:.0f}] | {r[4]:.2f} | {r[5]:,} | {r[6]:,} | "
                     f"{r[7]:.4f} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
