"""DCCRNet with an integer RNN input size and its RNN sizes exposed (imports asteroid).

asteroid 0.7's ``DCCRMaskNet`` passes ``np.prod(...)`` (a numpy ``int64``) as the LSTM input
size, which torch >= 2.2 rejects (``input_size should be of type int``), so ``DCCRNet`` cannot
be built on torch 2.11. This subclass is the same network with ``int(...)`` there; it also
passes the RNN's ``hid_size`` and ``n_layers``, which asteroid fixes at 128 and 2.
"""

from __future__ import annotations

import numpy as np
import torch
from asteroid import complex_nn
from asteroid.masknn.base import BaseDCUMaskNet
from asteroid.masknn.convolutional import DCUNetComplexDecoderBlock, DCUNetComplexEncoderBlock
from asteroid.masknn.recurrent import DCCRMaskNet, DCCRMaskNetRNN
from asteroid.models import DCCRNet

__all__ = ["FixedDCCRNet"]


class _FixedDCCRMaskNet(DCCRMaskNet):
    """``DCCRMaskNet`` with ``int`` RNN sizes (see the module docstring)."""

    def __init__(self, encoders, decoders, n_freqs, hid_size=128, n_layers=2, **kwargs):  # noqa: ANN001
        self.encoders_stride_product = np.prod([enc_stride for _, _, _, enc_stride, _ in encoders], axis=0)
        freq_prod, _ = self.encoders_stride_product
        rnn_in = int(encoders[-1][1] * int(np.ceil(n_freqs / freq_prod)))  # channels x freq at the bottleneck
        BaseDCUMaskNet.__init__(
            self,
            encoders=[
                *(DCUNetComplexEncoderBlock(*args, activation="prelu") for args in encoders),
                DCCRMaskNetRNN(rnn_in, hid_size=hid_size, n_layers=n_layers),
            ],
            decoders=[
                torch.nn.Identity(),
                *(DCUNetComplexDecoderBlock(*args, activation="prelu") for args in decoders[:-1]),
            ],
            output_layer=complex_nn.ComplexConvTranspose2d(*decoders[-1]),
            **kwargs,
        )


class FixedDCCRNet(DCCRNet):
    """asteroid's ``DCCRNet`` built with :class:`_FixedDCCRMaskNet`."""

    masknet_class = _FixedDCCRMaskNet
