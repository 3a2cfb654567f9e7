"""Evaluation: SI-SDR and SI-SDRi of a separator on a set of mixtures.

:func:`evaluate` is the one evaluator: the trainer's learning curve, ``separena train`` and
``separena evaluate``, and every benchmark run score with it. It separates consecutive
mixtures of equal length together and matches speakers to estimates with the best
permutation (sources with fixed roles, such as music stems, are scored in order); the
per-example scores come back as an :class:`EvalResult`.
"""

from __future__ import annotations

import time
from collections.abc import Generator
from dataclasses import dataclass

import torch
from torch import Tensor

from .data import MixtureSet
from .errors import SeparenaError
from .metrics import matched_si_sdr, si_sdr
from .model import Separator, separate
from .progress import progress_bar

__all__ = ["EvalResult", "evaluate", "EVAL_BATCH"]


@dataclass
class EvalResult:
    """Per-example scores of one model on one mixture set.

    Shapes:
        si_sdri, si_sdr: ``[examples, n_src]`` in dB, sources in reference order.
    """

    si_sdri: Tensor
    si_sdr: Tensor
    seconds: float  # wall-clock of inference only
    audio_seconds: float  # total duration of the evaluated mixtures
    estimates: list[Tensor] | None = None  # per mixture ``[1, n_src, time]``, in reference order (``keep_estimates=True``)

    @property
    def mean(self) -> float:
        return self.si_sdri.mean().item()

    @property
    def median(self) -> float:
        return self.si_sdri.mean(1).median().item()

    @property
    def standard_error(self) -> float:
        """Standard error of :attr:`mean` over the examples (sources of a mixture averaged first)."""
        per_example = self.si_sdri.mean(1)
        return (per_example.std() / len(per_example) ** 0.5).item() if len(per_example) > 1 else float("nan")

    @property
    def real_time_factor(self) -> float:
        return self.seconds / self.audio_seconds if self.audio_seconds else float("nan")

    def summary(self) -> dict[str, float]:
        """``{"mean", "median", "se"}`` SI-SDRi in dB, rounded to 0.01 (for reports and tables)."""
        return {"mean": round(self.mean, 2), "median": round(self.median, 2), "se": round(self.standard_error, 2)}


EVAL_BATCH = 8  # mixtures per forward pass in evaluation (consecutive mixtures of equal length)


def _length_batches(examples: MixtureSet, batch_size: int) -> Generator[list[int], None, None]:
    """Indices of consecutive mixtures of equal length, at most ``batch_size`` at a time."""
    batch: list[int] = []
    length = -1
    for i in range(len(examples)):
        n = examples[i].mix.shape[-1]
        if batch and (n != length or len(batch) == batch_size):
            yield batch
            batch = []
        batch.append(i)
        length = n
    if batch:
        yield batch


@torch.no_grad()
def evaluate(model: Separator, examples: MixtureSet, *, device: str | torch.device = "cpu",
             progress: bool = True, description: str = "evaluate",
             permutation_invariant: bool = True, batch_size: int = EVAL_BATCH,
             keep_estimates: bool = False) -> EvalResult:
    """SI-SDR and SI-SDRi per example and source.

    Consecutive mixtures of equal length are separated together, ``batch_size`` at a time (a
    separator's batch items are independent: the contract kit checks it). Speakers are matched
    to estimates with the best permutation per mixture; sources with fixed roles
    (``permutation_invariant=False``, e.g. music stems) are scored in order. With
    ``keep_estimates`` the result holds each mixture's estimates ``[1, n_src, time]`` on the CPU,
    matched to the references (estimate k is the one scored against reference k).
    """
    model.eval().to(device)
    improvements, scores, kept = [], [], []
    seconds = audio = 0.0
    bar = progress_bar(progress)
    with bar:
        task = bar.add_task(description, total=len(examples))
        for indices in _length_batches(examples, batch_size):
            items = [examples[i] for i in indices]
            mix = torch.stack([ex.mix for ex in items]).to(device)
            refs = torch.stack([ex.sources for ex in items]).to(device)
            t0 = time.perf_counter()
            est = separate(model, mix, refs).estimates.float()
            seconds += time.perf_counter() - t0
            if est.shape[1] != refs.shape[1]:
                raise SeparenaError(f"{description}: the model gives {est.shape[1]} sources; expected as many as the "
                                    f"mixtures have, got mixtures of {refs.shape[1]}")
            audio += mix.numel() / model.sample_rate
            best, perm = matched_si_sdr(est, refs, permutation_invariant)
            est = est.gather(1, perm.unsqueeze(-1).expand_as(est))  # matched: estimate k is reference k's
            base = si_sdr(mix.unsqueeze(1).expand_as(refs), refs)
            scores.append(best.cpu())
            improvements.append((best - base).cpu())
            if keep_estimates:
                kept.extend(e.unsqueeze(0).cpu() for e in est)
            bar.update(task, advance=len(items))
    n_src = getattr(model, "n_src", 1)
    empty = torch.zeros(0, n_src)
    return EvalResult(si_sdri=torch.cat(improvements) if improvements else empty,
                      si_sdr=torch.cat(scores) if scores else empty, seconds=seconds, audio_seconds=audio,
                      estimates=kept if keep_estimates else None)
