"""separena plugin: asteroid's separation models as separena Separators (names ``asteroid-*``).

Only specs live here; the builders import asteroid lazily, so ``separena list`` never imports
it, and a machine without asteroid lists these models as unavailable.
"""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl

_TASNET = "separena_asteroid_adapter.tasnets"
_UNET = "separena_asteroid_adapter.stft_unets"
_TINY_FB = {"n_filters": 16, "filter_length": 16, "hop_length": 8}


def _spec(name: str, build: str, reference: str, summary: str, **kwargs: object) -> ArchitectureSpec:
    # Every asteroid model here masks a representation of the mixture (a learned filterbank or
    # an STFT) and decodes it: family "mask", as the native conv-tasnet (separena.specs.FAMILY_RULES).
    return ArchitectureSpec(name=name, build=build, family="mask", tasks=("speech",), objective="pit-si-sdr",
                            requires=("asteroid",), reference=reference, summary=summary, **kwargs)


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        _spec("asteroid-conv-tasnet", f"{_TASNET}:conv_tasnet",
              "Luo & Mesgarani, IEEE/ACM TASLP 2019 (arXiv:1809.07454); asteroid.models.ConvTasNet",
              "asteroid ConvTasNet: learned filterbank -> dilated TCN -> masks -> learned decoder",
              test_params={**_TINY_FB, "bottleneck_size": 8, "hidden_size": 16, "skip_size": 8,
                           "num_blocks": 2, "num_repeats": 1}),
        _spec("asteroid-dprnn-tasnet", f"{_TASNET}:dprnn_tasnet",
              "Luo, Chen & Yoshioka, ICASSP 2020 (arXiv:1910.06379); asteroid.models.DPRNNTasNet",
              "asteroid DPRNN-TasNet: learned filterbank -> dual-path (intra/inter-chunk) RNN -> masks",
              test_params={**_TINY_FB, "bottleneck_size": 8, "hidden_size": 8, "chunk_size": 20,
                           "chunk_hop": 10, "num_repeats": 1, "num_layers": 2}),
        _spec("asteroid-dptnet", f"{_TASNET}:dptnet",
              "Chen, Mao & Liu, Interspeech 2020 (arXiv:2007.13975); asteroid.models.DPTNet",
              "asteroid DPTNet: learned filterbank -> dual-path transformer (recurrent feed-forward) -> masks",
              test_params={**_TINY_FB, "num_heads": 2, "hidden_size": 8, "chunk_size": 20, "chunk_hop": 10,
                           "num_repeats": 1}),
        _spec("asteroid-lstm-tasnet", f"{_TASNET}:lstm_tasnet",
              "Luo & Mesgarani, ICASSP 2018 (arXiv:1711.00541); asteroid.models.LSTMTasNet",
              "asteroid LSTM-TasNet: learned filterbank -> (B)LSTM stack -> masks -> learned decoder",
              test_params={**_TINY_FB, "hidden_size": 8, "num_layers": 2}),
        _spec("asteroid-sudormrf", f"{_TASNET}:sudormrf",
              "Tzinis, Wang & Smaragdis, MLSP 2020 (arXiv:2007.06833); asteroid.models.SuDORMRFNet",
              "asteroid Sudo rm -rf: learned filterbank -> U-ConvBlocks (successive down/up-sampling) -> masks",
              test_params={"n_filters": 16, "filter_length": 21, "bottleneck_size": 8, "num_blocks": 2,
                           "upsampling_depth": 2}),
        _spec("asteroid-sudormrf-improved", f"{_TASNET}:sudormrf_improved",
              "Tzinis, Wang & Smaragdis, MLSP 2020; Tzinis et al., IEEE JSTSP 2022 (arXiv:2103.02644); "
              "asteroid.models.SuDORMRFImprovedNet",
              "asteroid improved Sudo rm -rf: U-ConvBlocks without mask nonlinearity clipping, ReLU masks",
              test_params={"n_filters": 16, "filter_length": 21, "bottleneck_size": 8,
                           "num_blocks": 2, "upsampling_depth": 2}),
        _spec("asteroid-dcunet", f"{_UNET}:dcunet",
              "Choi et al., ICLR 2019 (arXiv:1903.03107); asteroid.models.DCUNet",
              "asteroid DCUNet: complex STFT -> deep complex U-Net -> one bounded complex mask per source",
              test_params={"variant": "mini", "n_fft": 64, "hop_length": 16}),
        _spec("asteroid-dccrnet", f"{_UNET}:dccrnet",
              "Hu et al., Interspeech 2020 (arXiv:2008.00264); asteroid.models.DCCRNet",
              "asteroid DCCRNet: complex STFT -> complex conv encoder -> complex LSTM -> decoder -> complex masks",
              test_params={"variant": "mini", "n_fft": 128, "hop_length": 32, "hidden_size": 8,
                           "num_layers": 1}),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
