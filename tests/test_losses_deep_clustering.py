"""Deep clustering's affinity loss (separena.losses): low-rank form == naive form, zeros, weights."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from separena import MaskSeparator, SeparenaError, SeparatorOutput
from separena.blocks import ISTFT, STFT
from separena.losses import affinity_loss, deep_clustering, deep_clustering_va, ideal_binary_assignments


def _naive(v: torch.Tensor, y: torch.Tensor, w: torch.Tensor | None = None) -> torch.Tensor:
    """mean_b sum_ij w_i w_j ((V Vᵀ)_ij - (Y Yᵀ)_ij)² / (sum_i w_i)², forming N x N matrices."""
    v, y = v.flatten(1, -2), y.flatten(1, -2).to(v.dtype)
    w = torch.ones(v.shape[:2], dtype=v.dtype) if w is None else w.flatten(1).to(v.dtype)
    diff = v @ v.transpose(1, 2) - y @ y.transpose(1, 2)  # [B, N, N]
    per_item = (w.unsqueeze(2) * w.unsqueeze(1) * diff.square()).sum((1, 2)) / w.sum(1).square()
    return per_item.mean()


def _random(seed: int, batch: int = 2, frames: int = 5, freq: int = 6, dim: int = 4, n_src: int = 3):
    gen = torch.Generator().manual_seed(seed)
    v = nn.functional.normalize(torch.randn(batch, frames, freq, dim, generator=gen, dtype=torch.float64), dim=-1)
    y = nn.functional.one_hot(torch.randint(n_src, (batch, frames, freq), generator=gen), n_src)
    w = torch.rand(batch, frames, freq, generator=gen, dtype=torch.float64)
    return v, y, w


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), dim=st.integers(1, 6), n_src=st.integers(1, 4))
def test_low_rank_equals_naive_form(seed, dim, n_src):
    v, y, w = _random(seed, dim=dim, n_src=n_src)
    torch.testing.assert_close(affinity_loss(v, y), _naive(v, y))
    torch.testing.assert_close(affinity_loss(v, y, w), _naive(v, y, w))


def test_zero_when_embeddings_are_the_one_hot_assignments():
    _, y, w = _random(0, n_src=3)
    v = y.to(torch.float64)  # embedding_dim == n_src, V == Y
    assert affinity_loss(v, y).item() == pytest.approx(0.0, abs=1e-12)
    assert affinity_loss(v, y, w).item() == pytest.approx(0.0, abs=1e-12)
    # any rotation of the embedding space keeps the affinities, so the loss stays zero
    q, _ = torch.linalg.qr(torch.randn(3, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(1)))
    assert affinity_loss(v @ q, y, w).item() == pytest.approx(0.0, abs=1e-12)


def test_known_value_all_bins_in_one_cluster():
    # V puts every bin at the same point, Y splits N bins in half: the affinity differs on
    # the N²/2 cross pairs, each by 1, so the normalised loss is exactly 1/2.
    v = torch.ones(1, 8, 1, dtype=torch.float64)
    y = nn.functional.one_hot(torch.tensor([[0, 0, 0, 0, 1, 1, 1, 1]]), 2)
    assert affinity_loss(v, y).item() == pytest.approx(0.5)


def test_weights_zero_drops_bins_and_scale_cancels():
    v, y, w = _random(2)
    keep = torch.rand(w.shape, generator=torch.Generator().manual_seed(3)) > 0.4
    w = w * keep
    torch.testing.assert_close(affinity_loss(v, y, w), affinity_loss(v, y, 7.5 * w))
    for b in range(v.shape[0]):  # a zero weight is the same as removing the bin
        k = keep[b].flatten()
        dropped = affinity_loss(v[b].flatten(0, 1)[k][None], y[b].flatten(0, 1)[k][None], w[b].flatten()[k][None])
        torch.testing.assert_close(affinity_loss(v[b:b + 1], y[b:b + 1], w[b:b + 1]), dropped)
    # uniform weights are no weights
    torch.testing.assert_close(affinity_loss(v, y, torch.full_like(w, 0.3)), affinity_loss(v, y))


def test_matches_nussl_deep_clustering_loss_with_root_weights():
    nussl_loss = pytest.importorskip("nussl.ml.train.loss")
    v, y, w = _random(4)
    got = affinity_loss(v, y, w)
    want = nussl_loss.DeepClusteringLoss()(v, y.to(v.dtype), w.sqrt())
    torch.testing.assert_close(got, want)


def test_gradient_flows_to_the_embedding_only():
    v, y, w = _random(5)
    v.requires_grad_(True)
    affinity_loss(v, y, w).backward()
    assert v.grad is not None and torch.isfinite(v.grad).all() and v.grad.abs().sum() > 0


def test_bin_count_mismatch_raises():
    v, y, _ = _random(6)
    with pytest.raises(SeparenaError, match="affinity_loss: bins of embedding and assignments differ"):
        affinity_loss(v, y[:, :-1])


def test_ideal_binary_assignments_pick_the_loudest_source():
    specs = torch.tensor([[[[1.0, -5.0]], [[2.0, 1.0]]]])  # [B=1, S=2, T=1, F=2]
    assert ideal_binary_assignments(specs).tolist() == [[[[0, 1], [1, 0]]]]
    assert ideal_binary_assignments(specs.to(torch.complex64)).shape == (1, 1, 2, 2)


class _OracleEmbedding(nn.Module):
    """A test masker whose embedding is the ideal binary assignment of the given sources."""

    def __init__(self) -> None:
        super().__init__()
        self.assignment: torch.Tensor | None = None

    def forward(self, spec: torch.Tensor):
        masks = torch.ones(spec.shape[0], 2, *spec.shape[1:])
        return masks, self.assignment


def test_wrappers_use_the_model_transform():
    torch.manual_seed(0)
    masker = _OracleEmbedding()
    model = MaskSeparator(STFT(64, 16), masker, ISTFT(64, 16), n_src=2, sample_rate=8000)
    sources = torch.randn(2, 2, 800)
    masker.assignment = ideal_binary_assignments(model.transform(sources)).float()
    out = model(sources.sum(1))
    assert deep_clustering(out, sources, model).item() == pytest.approx(0.0, abs=1e-6)
    assert deep_clustering_va(out, sources, model).item() == pytest.approx(0.0, abs=1e-6)
    swapped = SeparatorOutput(out.estimates, out.masks, 1 - out.embedding)  # same partition, labels swapped
    assert deep_clustering(swapped, sources, model).item() == pytest.approx(0.0, abs=1e-6)
    wrong = SeparatorOutput(out.estimates, out.masks, torch.ones_like(out.embedding) / 2 ** 0.5)  # one cluster
    assert deep_clustering(wrong, sources, model).item() > 0.1
    # magnitude weights: equal to affinity_loss with |X| of the summed source STFTs
    mix_mag = model.transform(sources.sum(1)).abs()
    torch.testing.assert_close(deep_clustering(wrong, sources, model),
                               affinity_loss(wrong.embedding, masker.assignment, mix_mag), rtol=1e-4, atol=1e-6)


def test_wrappers_reject_models_without_embedding():
    out = SeparatorOutput(estimates=torch.zeros(1, 2, 100))
    with pytest.raises(SeparenaError, match="loss deep-clustering: needs an embedding model"):
        deep_clustering(out, torch.zeros(1, 2, 100), nn.Identity())  # type: ignore[arg-type]
