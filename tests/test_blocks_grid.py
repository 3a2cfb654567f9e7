"""The grid of TF-GridNet and SPMamba: a path takes any sequence model, and weights saved when
the path held its LSTM as ``rnn`` load."""

from __future__ import annotations

import pytest
import torch

from separena import SeparenaError
from separena.blocks import CrossFrameAttention, GridNetBlock, GridPath, RecurrentStack, grid_net


def test_grid_path_loads_weights_saved_under_the_rnn_name():
    torch.manual_seed(0)
    path = GridPath(4, 3, 1, RecurrentStack(12, 5)).eval()
    old = {key.replace("sequence.rnn.", "rnn."): value for key, value in path.state_dict().items()}
    assert any(key.startswith("rnn.") for key in old)
    torch.manual_seed(1)
    loaded = GridPath(4, 3, 1, RecurrentStack(12, 5)).eval()
    loaded.load_state_dict(old)  # strict: every key found, none left over
    x = torch.randn(2, 3, 7, 4)
    torch.testing.assert_close(loaded(x), path(x))


class _Zero(torch.nn.Module):
    output_size = 6

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.new_zeros(*x.shape[:-1], self.output_size)


def test_grid_path_takes_any_sequence_model():
    path = GridPath(4, 2, 1, _Zero())
    x = torch.randn(2, 3, 7, 4)
    expected = x + path.deconv.bias.view(1, 1, 1, 4)  # a zero sequence output leaves the deconv's bias
    torch.testing.assert_close(path(x), expected)
    block = GridNetBlock(GridPath(4, 2, 1, _Zero()), GridPath(4, 2, 1, _Zero()), CrossFrameAttention(4, 7, 2, 3))
    assert block(x).shape == x.shape


def test_cross_frame_attention_refuses_bad_heads():
    with pytest.raises(SeparenaError, match="num_heads; expected a divisor of embed_dim=4, got 3"):
        CrossFrameAttention(4, 7, 3, 2)


@pytest.mark.parametrize(("settings", "message"), [
    ({"num_blocks": 0}, "mygrid: num_blocks; expected a positive integer, got 0"),
    ({"kernel_size": 2, "stride": 3}, "mygrid: kernel_size, stride; expected 1 <= stride <= kernel_size, got 2, 3"),
])
def test_grid_net_refuses_bad_settings_in_one_line(settings, message):
    base = dict(n_src=2, sample_rate=8000, n_fft=32, hop_length=8, embed_dim=4, kernel_size=2, stride=1,
                num_blocks=1, num_heads=2, attention_dim=2)
    with pytest.raises(SeparenaError, match=message):
        grid_net("mygrid", lambda features: RecurrentStack(features, 3), **{**base, **settings})
