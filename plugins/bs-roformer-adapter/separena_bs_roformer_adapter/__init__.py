"""separena plugin: BS-RoFormer and Mel-Band RoFormer (the ``bs-roformer`` package) as music Separators.

Only specs live here; the builders import ``bs_roformer`` lazily, so ``separena list`` never
imports it, and a machine without it lists these models as unavailable.
"""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import STEM_OBJECTIVE, ArchitectureSpec, hookimpl

_MODELS = "separena_bs_roformer_adapter.models"
_TINY = {"dim": 8, "depth": 1, "num_layers": 1, "num_heads": 2, "head_size": 4, "n_fft": 64,
         "hop_length": 16, "num_bands": 4, "residual_streams": 1}


def _spec(name: str, build: str, reference: str, summary: str, **kwargs: object) -> ArchitectureSpec:
    # Both estimate one complex mask per stem over the mixture's STFT and invert the masked STFT:
    # family "mask", as open-unmix (separena.specs.FAMILY_RULES). Stems come in a fixed order and
    # at their level: the stem objective, as open-unmix's.
    return ArchitectureSpec(name=name, build=f"{_MODELS}:{build}", family="mask", tasks=("music",),
                            objective=STEM_OBJECTIVE, requires=("bs_roformer",), reference=reference,
                            summary=summary, **kwargs)


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        _spec("bs-roformer", "bs_roformer",
              "Lu et al., 'Music source separation with band-split RoPE transformer', ICASSP 2024 "
              "(arXiv:2309.02612); bs_roformer.BSRoformer",
              "BS-RoFormer: STFT -> band split -> axial (time/band) RoPE transformers -> complex masks per stem",
              test_params={**_TINY, "mask_depth": 1}),
        _spec("mel-band-roformer", "mel_band_roformer",
              "Wang et al., 'Mel-band RoFormer for music source separation', ISMIR 2023 LBD "
              "(arXiv:2310.01809); bs_roformer.MelBandRoformer",
              "Mel-Band RoFormer: STFT -> overlapping mel bands -> axial RoPE transformers -> complex masks per stem",
              test_params={**_TINY, "mask_depth": 1}),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
