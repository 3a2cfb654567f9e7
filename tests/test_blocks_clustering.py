"""k-means (separena.blocks.clustering): recovers clusters, batched == per item, deterministic."""

from __future__ import annotations

import pytest
import torch

from separena import SeparenaError
from separena.blocks import KMeans, kmeans, soft_assignments


def _blobs(n_items: int = 3, n_per: int = 50, n_clusters: int = 3, dim: int = 5, seed: int = 0):
    gen = torch.Generator().manual_seed(seed)
    centres = 10 * torch.randn(n_items, n_clusters, dim, generator=gen)
    labels = torch.arange(n_clusters).repeat_interleave(n_per).expand(n_items, -1)
    order = torch.stack([torch.randperm(n_clusters * n_per, generator=gen) for _ in range(n_items)])
    labels = labels.gather(1, order)  # shuffle so that no cluster sits at the start
    points = centres.gather(1, labels.unsqueeze(-1).expand(-1, -1, dim)) + 0.1 * torch.randn(
        n_items, n_clusters * n_per, dim, generator=gen)
    return points, labels, centres


def _same_partition(a: torch.Tensor, b: torch.Tensor) -> bool:
    """Equal up to a renaming of the clusters: same-cluster pairs coincide."""
    return torch.equal(a.unsqueeze(0) == a.unsqueeze(1), b.unsqueeze(0) == b.unsqueeze(1))


def test_recovers_well_separated_clusters():
    points, labels, centres = _blobs()
    assignments, centroids = kmeans(points, 3)
    for i in range(points.shape[0]):
        assert _same_partition(assignments[i], labels[i])
        # every true centre has a centroid next to it (the mean of 50 points with std 0.1)
        dist = torch.cdist(centres[i], centroids[i]).min(1).values
        assert dist.max() < 0.1


def test_batched_equals_per_item():
    points, _, _ = _blobs(n_items=4, seed=1)
    weights = torch.rand(points.shape[:2], generator=torch.Generator().manual_seed(2))
    together, cent = kmeans(points, 3, weights, n_iter=5)
    for i in range(points.shape[0]):
        alone, cent_i = kmeans(points[i:i + 1], 3, weights[i:i + 1], n_iter=5)
        assert torch.equal(together[i], alone[0])
        torch.testing.assert_close(cent[i], cent_i[0])


def test_deterministic_and_batch_order_free():
    points, _, _ = _blobs(seed=3)
    a, _ = kmeans(points, 3)
    b, _ = kmeans(points.clone(), 3)
    assert torch.equal(a, b)
    flipped, _ = kmeans(points.flip(0), 3)
    assert torch.equal(flipped.flip(0), a)


def test_one_lloyd_step_is_the_weighted_mean():
    points = torch.tensor([[[0.0], [1.0], [10.0], [12.0]]])
    weights = torch.tensor([[1.0, 3.0, 1.0, 1.0]])
    assignments, centroids = kmeans(points, 2, weights, n_iter=1)
    assert assignments.tolist() == [[0, 0, 1, 1]] or assignments.tolist() == [[1, 1, 0, 0]]
    got = sorted(centroids.flatten().tolist())
    assert got == pytest.approx([0.75, 11.0])  # (0*1 + 1*3) / 4 and (10 + 12) / 2


def test_zero_weight_points_do_not_move_centroids_but_are_assigned():
    points = torch.tensor([[[0.0], [0.2], [5.0], [5.2], [100.0]]])
    weights = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    assignments, centroids = kmeans(points, 2, weights)
    assert sorted(centroids.flatten().tolist()) == pytest.approx([0.1, 5.1])
    assert assignments[0, 4] == assignments[0, 2]  # the outlier joins the nearest cluster


def test_all_zero_weights_cluster_like_uniform_weights():
    points, _, _ = _blobs(n_items=1)
    a, _ = kmeans(points, 3, torch.zeros(points.shape[:2]))
    b, _ = kmeans(points, 3)
    assert torch.equal(a, b)


def test_identical_points_give_finite_centroids():
    assignments, centroids = kmeans(torch.zeros(2, 10, 4), 3)
    assert torch.isfinite(centroids).all() and assignments.shape == (2, 10)


def test_module_has_no_gradient_and_no_parameters():
    points = torch.randn(2, 30, 4, requires_grad=True)
    out = KMeans(2)(points)
    assert out.dtype == torch.int64 and out.shape == (2, 30) and not out.requires_grad
    assert list(KMeans(2).parameters()) == []


@pytest.mark.parametrize("call", [
    lambda: kmeans(torch.zeros(10, 4), 2),
    lambda: kmeans(torch.zeros(1, 10, 4), 0),
    lambda: kmeans(torch.zeros(1, 10, 4), 2, n_iter=-1),
    lambda: kmeans(torch.zeros(1, 10, 4), 2, torch.ones(1, 9)),
    lambda: KMeans(0),
])
def test_bad_arguments_raise_separena_error(call):
    with pytest.raises(SeparenaError, match="kmeans|KMeans"):
        call()


def test_soft_assignments_are_a_softmax_of_distances():
    points = torch.tensor([[[0.0, 0.0], [1.0, 0.0], [3.0, 4.0]]])  # [1, 3, 2]
    centroids = torch.tensor([[[0.0, 0.0], [2.0, 0.0]]])  # [1, 2, 2]
    resp = soft_assignments(points, centroids, beta=2.0)
    dist = torch.tensor([[0.0, 2.0], [1.0, 1.0], [5.0, 17.0 ** 0.5]])
    expected = torch.exp(-2.0 * dist) / torch.exp(-2.0 * dist).sum(-1, keepdim=True)
    assert resp.shape == (1, 2, 3)  # [batch, clusters, points]
    assert torch.allclose(resp[0].T, expected, atol=1e-6)
    assert torch.allclose(resp[0, :, 1], torch.tensor([0.5, 0.5]))  # halfway: energy split evenly


def test_large_beta_soft_assignments_match_the_hard_ones():
    points, _, _ = _blobs()
    assignments, centroids = kmeans(points, 3)
    resp = soft_assignments(points, centroids, beta=1e3)
    assert torch.allclose(resp.sum(1), torch.ones_like(assignments, dtype=resp.dtype))
    assert torch.equal(resp.argmax(1), assignments)
    assert resp.max(1).values.min() > 0.999
