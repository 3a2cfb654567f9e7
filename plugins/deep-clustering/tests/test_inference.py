"""Deep clustering's inference path (threshold -> k-means -> binary or soft masks)."""

import torch
from torch import Tensor, nn

from separena import default_registry
from separena.losses import ideal_binary_assignments


class _FixedEmbedding(nn.Module):
    """Stands in for the embedding head: returns a fixed ``[batch, frames, freq, dim]`` tensor."""

    def __init__(self, embedding: Tensor) -> None:
        super().__init__()
        self.embedding = embedding

    def forward(self, hidden: Tensor) -> Tensor:
        return self.embedding


def test_ideal_embeddings_give_the_ideal_binary_mask():
    torch.manual_seed(0)
    model = default_registry().create_model("deep-clustering", hidden_size=8, num_layers=1, embedding_dim=4,
                                             soft_beta=None).eval()
    # Sources whose loudness changes over time, so that each dominates some bins and some bins
    # fall below the 40 dB threshold (those must be assigned too, not only fitted around).
    envelope = torch.linspace(-3, 0, 4000).exp() ** torch.tensor([[1.0], [-1.0]])  # [2, time]
    sources = torch.randn(3, 2, 4000) * envelope * torch.tensor([1.0, 0.01, 0.3]).view(3, 1, 1)
    ideal = ideal_binary_assignments(model.transform(sources)).float()  # [B, T, F, 2]
    model.masker.head = _FixedEmbedding(nn.functional.pad(ideal, (0, 2)))  # unit norm, 4 dims

    masks = model(sources.sum(1)).masks  # [B, S, T, F]

    target = ideal.permute(0, 3, 1, 2)  # [B, S, T, F]
    for item in range(sources.shape[0]):  # k-means numbers its clusters in either order
        assert torch.equal(masks[item], target[item]) or torch.equal(masks[item], target[item].flip(0))


def test_soft_masks_sum_to_one_and_sharpen_towards_the_binary_ones():
    torch.manual_seed(0)
    registry = default_registry()
    mix = torch.randn(2, 4000)
    binary = registry.create_model("deep-clustering", hidden_size=8, num_layers=1, embedding_dim=4,
                                   soft_beta=None).eval()
    masks = {}
    for beta in (1.0, 1e4):
        model = registry.create_model("deep-clustering", hidden_size=8, num_layers=1, embedding_dim=4,
                                      soft_beta=beta).eval()
        model.load_state_dict(binary.state_dict())
        masks[beta] = model(mix).masks
        assert torch.allclose(masks[beta].sum(1), torch.ones_like(masks[beta][:, 0]), atol=1e-5)
    hard = binary(mix).masks
    assert ((masks[1.0] > 0) & (masks[1.0] < 1)).float().mean() > 0.9  # soft: most bins are shared
    assert (masks[1e4].round() == hard).float().mean() > 0.999  # beta -> inf: the k-means clusters
