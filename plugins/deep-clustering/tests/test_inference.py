"""Deep clustering's inference path (threshold -> k-means -> binary masks), given ideal embeddings."""

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
    model = default_registry().create_model("deep-clustering", hidden_size=8, num_layers=1, embedding_dim=4).eval()
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
