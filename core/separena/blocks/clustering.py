"""Clustering: batched, deterministic, weighted k-means in torch (deep clustering's inference).

Each batch item is clustered on its own (no statistic is shared across the batch), the
initialisation is deterministic (weighted mean, then farthest points), and the number of
Lloyd iterations is fixed, so the result is a pure function of the input and runs in
``n_iter`` batched matrix products with no Python loop over items.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from ..errors import SeparenaError

__all__ = ["kmeans", "KMeans", "soft_assignments"]


def _nearest(points_t: Tensor, centroids: Tensor) -> Tensor:
    """Index of the nearest centroid per point: ``[B, D, N], [B, K, D] -> [B, N]``."""
    # argmin ||x - c||^2 = argmax (2 c.x - ||c||^2): ||x||^2 is the same for every centroid.
    score = torch.bmm(2 * centroids, points_t) - centroids.square().sum(-1, keepdim=True)  # [B, K, N]
    # A running max over the K rows (K is small): contiguous [B, N] ops, many times faster on
    # CPU than argmax over a short dim. Strict ">" keeps the first maximum, like argmax.
    n_clusters = score.shape[1]
    if n_clusters == 1:
        return torch.zeros_like(score[:, 0], dtype=torch.long)
    best, index = score[:, 0], None
    for k in range(1, n_clusters):
        better = score[:, k] > best
        index = better.long() if index is None else torch.where(better, k, index)
        if k < n_clusters - 1:
            best = torch.maximum(best, score[:, k])
    return index


def _gather(points: Tensor, index: Tensor) -> Tensor:
    """``points[b, index[b]]``: ``[B, N, D], [B] -> [B, D]``."""
    return points.gather(1, index.view(-1, 1, 1).expand(-1, 1, points.shape[-1])).squeeze(1)


def kmeans(points: Tensor, n_clusters: int, weights: Tensor | None = None,
           n_iter: int = 10) -> tuple[Tensor, Tensor]:
    """Weighted k-means (Lloyd) per batch item, with a deterministic farthest-point start.

    Initialisation: the first centroid is the point farthest from the weighted mean, each next
    one the point farthest from those already chosen (only points of positive weight are
    candidates). Then ``n_iter`` Lloyd steps, each centroid the weighted mean of its points;
    a cluster left empty keeps its previous centroid. Points of zero weight do not move the
    centroids but are still assigned. An item whose weights are all zero is clustered as if
    every weight were one.

    Args:
        points: the points to cluster.
        n_clusters: clusters per item (``K``).
        weights: non-negative weight per point, or None for all ones.
        n_iter: Lloyd iterations after initialisation (fixed; no convergence test).

    Returns:
        ``(assignments, centroids)``: the cluster index of every point and the centroids.

    Shapes:
        points ``[batch, N, D]``, weights ``[batch, N]`` -> assignments ``[batch, N]`` (int64),
        centroids ``[batch, K, D]``.

    Raises:
        SeparenaError: on a bad shape, ``n_clusters < 1`` or ``n_iter < 0``.
    """
    if points.dim() != 3:
        raise SeparenaError(f"kmeans: points must be [batch, N, D]; expected 3 dims, got {list(points.shape)}")
    if n_clusters < 1 or n_iter < 0:
        raise SeparenaError(f"kmeans: expected n_clusters >= 1 and n_iter >= 0, got {n_clusters} and {n_iter}")
    batch, n_points, _ = points.shape
    if weights is None:
        weights = points.new_ones(batch, n_points)
    elif weights.shape != points.shape[:2]:
        raise SeparenaError(f"kmeans: weights must be [batch, N]; expected {list(points.shape[:2])}, "
                            f"got {list(weights.shape)}")
    w = weights.to(points.dtype).clamp_min(0)
    has_weight = (w > 0).any(1, keepdim=True)  # [B, 1]
    w = torch.where(has_weight, w, torch.ones_like(w))
    candidate = w > 0  # [B, N]

    # Deterministic init: farthest from the weighted mean, then farthest from the chosen ones.
    # Squared distances as ||x||^2 - 2 x.c + ||c||^2, so no [B, N, D] temporary per centroid.
    points_t = points.transpose(1, 2)  # [B, D, N] (a view; a contiguous copy costs more than it saves)
    sq_norm = torch.linalg.vector_norm(points, dim=-1).square()  # [B, N], no [B, N, D] temporary

    def sq_dist(centre: Tensor) -> Tensor:  # [B, D] -> [B, N]
        cross = torch.bmm(-2 * centre.unsqueeze(1), points_t).squeeze(1)
        return (sq_norm + cross + centre.square().sum(-1, keepdim=True)).clamp_min(0)

    mean = torch.bmm(w.unsqueeze(1), points).squeeze(1) / w.sum(1, keepdim=True)  # [B, D]
    min_dist = sq_dist(mean)
    chosen = []
    for _ in range(n_clusters):
        centre = _gather(points, torch.where(candidate, min_dist, -1.0).argmax(1))  # [B, D]
        chosen.append(centre)
        dist = sq_dist(centre)
        min_dist = dist if len(chosen) == 1 else torch.minimum(min_dist, dist)
    centroids = torch.stack(chosen, 1)  # [B, K, D]

    clusters = torch.arange(n_clusters, device=points.device).view(1, -1, 1)  # [1, K, 1]
    for _ in range(n_iter):
        member = (_nearest(points_t, centroids).unsqueeze(1) == clusters) * w.unsqueeze(1)  # [B, K, N]
        mass = member.sum(-1, keepdim=True)  # [B, K, 1]
        sums = torch.bmm(member, points)  # [B, K, D]
        centroids = torch.where(mass > 0, sums / mass.clamp_min(torch.finfo(points.dtype).tiny), centroids)
    return _nearest(points_t, centroids), centroids


def soft_assignments(points: Tensor, centroids: Tensor, beta: float) -> Tensor:
    """Soft k-means responsibilities: a softmax over clusters of ``-beta`` x the Euclidean distance.

    Large ``beta`` approaches the hard assignment of :func:`kmeans`; small ``beta`` spreads
    each point over the clusters, so a point between two centroids splits its energy instead
    of going whole to the wrong one.

    Shapes:
        points ``[batch, N, D]``, centroids ``[batch, K, D]`` -> ``[batch, K, N]`` (each point's
        column sums to 1). Clusters first, the layout of masks ``[batch, n_src, ...]``: a softmax
        over a short leading dimension of contiguous rows is several times faster on CPU than
        over a last dimension of length K, and no transpose follows.
    """
    return torch.softmax(-beta * torch.cdist(centroids, points), dim=1)


class KMeans(nn.Module):
    """:func:`kmeans` as a module (no parameters): cluster each item's points into ``n_clusters``.

    Args:
        n_clusters: clusters per item.
        n_iter: fixed number of Lloyd iterations.

    Shapes:
        points ``[batch, N, D]``, weights ``[batch, N]`` -> assignments ``[batch, N]`` (int64).
    """

    def __init__(self, n_clusters: int, n_iter: int = 10) -> None:
        super().__init__()
        if n_clusters < 1 or n_iter < 0:
            raise SeparenaError(f"KMeans: expected n_clusters >= 1 and n_iter >= 0, got {n_clusters} and {n_iter}")
        self.n_clusters, self.n_iter = n_clusters, n_iter

    def forward(self, points: Tensor, weights: Tensor | None = None) -> Tensor:
        with torch.no_grad():  # hard assignments carry no gradient
            assignments, _ = kmeans(points.detach(), self.n_clusters, weights, self.n_iter)
        return assignments
