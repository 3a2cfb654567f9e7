"""asteroid adapter: a configuration asteroid would reject deep inside is refused when the model is
built (output length and input checks: the contract kit, test_contract.py)."""

from __future__ import annotations

import pytest
from separena import SeparenaError, default_registry


def test_dcunet_rejects_an_incompatible_n_fft_at_build_time():
    with pytest.raises(SeparenaError, match="n_fft must be a multiple of 512 .* got 256"):
        default_registry().create_model("asteroid-dcunet", variant="DCUNet-16", n_fft=256)
