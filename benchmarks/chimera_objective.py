"""Which objective should Chimera++ (and deep clustering) train with? A small, timed comparison.

Two steps, so that training can run where there is an accelerator and no eSpeak NG:

1. ``export``: read an ``espeak-2mix`` build (train utterances + fixed test mixtures) into one
   ``.pt`` file of int16 tensors.
2. ``train``: for each objective, build the model from its builder with a fixed seed, train it
   for the same wall-clock budget on random 2-speaker mixtures of the training utterances
   (2-s crops, gains within +-5 dB, batch 8, Adam 1e-3 with a short warm-up and cosine decay,
   grad-norm clip 5: the core trainer's recipe), then report SI-SDRi on the fixed test
   mixtures (unseen voices).

Usage::

    python benchmarks/chimera_objective.py export --out data.pt [--max-mb 40] [espeak-2mix params as key=value]
    python benchmarks/chimera_objective.py train --data data.pt --seconds 120 --device cuda
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

import separena.losses as L
from separena.metrics import si_sdri

OBJECTIVES = {  # name -> (architecture, {loss function: weight})
    "dc": ("deep-clustering", {"deep_clustering": 1.0}),
    "chimera dc0.1+sisdr0.9": ("chimera-pp", {"deep_clustering": 0.1, "pit_si_sdr": 0.9}),
    "chimera dc0.5+sisdr0.5": ("chimera-pp", {"deep_clustering": 0.5, "pit_si_sdr": 0.5}),
    "chimera dc0.9+sisdr0.1": ("chimera-pp", {"deep_clustering": 0.9, "pit_si_sdr": 0.1}),
    "chimera dc0.5+maskl1 0.5": ("chimera-pp", {"deep_clustering": 0.5, "pit_mask_l1": 0.5}),
    "chimera sisdr only": ("chimera-pp", {"pit_si_sdr": 1.0}),
}


def export(out: str, params: dict[str, str], max_mb: float) -> None:
    from separena.data.speech import espeak_2mix

    data = espeak_2mix(**{k: type_of(v) for k, v in params.items()})
    pool = data.train.pool  # type: ignore[attr-defined]
    q = lambda x: (torch.as_tensor(x).clamp(-1, 1) * 32767).round().to(torch.int16)  # noqa: E731
    test = [data.test[i] for i in range(len(data.test))]
    # Keep utterances round-robin over speakers (every voice kept) up to max_mb of int16 audio.
    rank = [0] * len(pool.speaker_of)
    seen: dict[int, int] = {}
    for u, s in enumerate(pool.speaker_of.tolist()):
        rank[u], seen[s] = seen.get(s, 0), seen.get(s, 0) + 1
    keep, total = [], 0
    for u in sorted(range(len(rank)), key=lambda u: (rank[u], u)):
        if total + 2 * int(pool.lengths[u]) > max_mb * 2**20:
            break
        keep.append(u)
        total += 2 * int(pool.lengths[u])
    keep.sort()
    clips = [torch.as_tensor(pool.audio[pool.offsets[u]:pool.offsets[u] + pool.lengths[u]]) for u in keep]
    lengths = torch.tensor([len(c) for c in clips])
    torch.save({"name": data.name, "sample_rate": data.sample_rate, "audio": q(torch.cat(clips)),
                "offsets": torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]]),
                "lengths": lengths, "speaker_of": torch.as_tensor(pool.speaker_of[keep]),
                "test_sources": q(torch.stack([e.sources for e in test]))}, out)
    print(f"wrote {out}: {len(keep)} of {len(pool.lengths)} utterances ({total / 2 / data.sample_rate / 60:.0f} min), "
          f"{len(pool.speakers)} speakers, {len(test)} test mixtures of {data.name}")


def type_of(value: str):
    for cast in (int, float):
        try:
            return cast(value)
        except ValueError:
            pass
    return value


class Mixtures:
    """Random 2-speaker training mixtures from the exported utterances (on ``device``)."""

    def __init__(self, blob: dict, device: str) -> None:
        self.audio = blob["audio"].to(device).float() / 32767
        self.offsets, self.lengths, self.owner = blob["offsets"], blob["lengths"], blob["speaker_of"]
        self.device = device

    def batch(self, gen: torch.Generator, batch: int, n: int) -> torch.Tensor:
        srcs = torch.zeros(batch, 2, n, device=self.device)
        for b in range(batch):
            first = int(torch.randint(len(self.lengths), (1,), generator=gen))
            while True:
                second = int(torch.randint(len(self.lengths), (1,), generator=gen))
                if self.owner[second] != self.owner[first]:
                    break
            for s, u in enumerate((first, second)):
                length = int(self.lengths[u])
                start = int(torch.randint(max(1, length - n), (1,), generator=gen))
                take = min(n, length - start)
                clip = self.audio[self.offsets[u] + start: self.offsets[u] + start + take]
                gain = 10 ** ((torch.rand((), generator=gen) * 10 - 5) / 20)
                srcs[b, s, :take] = clip / (clip.std() + 1e-8) * 0.1 * gain.item()
        return srcs


def train(blob: dict, seconds: float, device: str, names: list[str], seed: int) -> None:
    from separena_deep_clustering.model import chimera_pp, deep_clustering

    builders = {"deep-clustering": deep_clustering, "chimera-pp": chimera_pp}
    data = Mixtures(blob, device)
    test_src = blob["test_sources"].to(device).float() / 32767
    seg = int(2.0 * blob["sample_rate"])
    print(f"data {blob['name']}: {len(data.lengths)} training utterances, {len(test_src)} test mixtures; "
          f"{seconds:g} s per model on {device}, seed {seed}")
    for name in names:
        arch, terms = OBJECTIVES[name]
        torch.manual_seed(seed)
        model = builders[arch]().to(device).train()
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        gen = torch.Generator().manual_seed(seed)
        steps, start, losses = 0, time.perf_counter(), []
        while (elapsed := time.perf_counter() - start) < seconds:
            frac = elapsed / seconds
            lr = 1e-3 * (0.1 + 0.9 * frac / 0.02 if frac < 0.02 else 0.1 + 0.45 * (1 + math.cos(math.pi * frac)))
            for g in opt.param_groups:
                g["lr"] = lr
            sources = data.batch(gen, 8, seg)
            out = model(sources.sum(1))
            loss = sum(w * getattr(L, fn)(out, sources, model) for fn, w in terms.items())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
            opt.step()
            steps += 1
            losses.append(loss.item())
        model.eval()
        scores = []
        with torch.no_grad():
            for i in range(0, len(test_src), 10):
                src = test_src[i:i + 10]
                scores.append(si_sdri(model(src.sum(1)).estimates, src, src.sum(1)).mean(1).cpu())
        sc = torch.cat(scores)
        print(f"{name:28s} steps {steps:6d}  final loss {statistics.mean(losses[-50:]):8.3f}  "
              f"SI-SDRi mean {sc.mean():5.2f} dB  median {sc.median():5.2f} dB  (se {sc.std() / len(sc) ** 0.5:.2f})",
              flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("export")
    e.add_argument("--out", required=True)
    e.add_argument("--max-mb", type=float, default=40, help="cap on the training audio kept (int16)")
    e.add_argument("params", nargs="*", help="espeak-2mix params, key=value")
    t = sub.add_parser("train")
    t.add_argument("--data", required=True)
    t.add_argument("--seconds", type=float, default=120)
    t.add_argument("--device", default="cpu")
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--models", nargs="*", default=list(OBJECTIVES))
    a = p.parse_args()
    if a.cmd == "export":
        export(a.out, dict(kv.split("=", 1) for kv in a.params), a.max_mb)
    else:
        if a.device == "cpu":
            torch.set_num_threads(1)
        train(torch.load(a.data, weights_only=True), a.seconds, a.device, a.models, a.seed)


if __name__ == "__main__":
    main()
