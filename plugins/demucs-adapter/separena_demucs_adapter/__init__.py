"""separena plugin: HT-Demucs and Hybrid Demucs (the ``demucs`` package) as music Separators.

Only specs live here; the builders import ``demucs`` lazily, so ``separena list`` never imports
it, and a machine without it lists these models as unavailable.
"""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import STEM_OBJECTIVE, ArchitectureSpec, hookimpl

_MODELS = "separena_demucs_adapter.models"
_TINY = {"channels": 8, "dconv_compress": 4}


def _spec(name: str, build: str, reference: str, summary: str, **kwargs: object) -> ArchitectureSpec:
    # Both sum a time-domain U-Net's output and the inverse STFT of a spectrogram U-Net's
    # complex-as-channels output (spectral mapping, no mask on the mixture): family "waveform",
    # the one separena.specs.FAMILY_RULES names Demucs in. Stems come in a fixed order and at
    # their level: the stem objective, as for open-unmix and the RoFormers.
    return ArchitectureSpec(name=name, build=f"{_MODELS}:{build}", family="waveform", tasks=("music",),
                            objective=STEM_OBJECTIVE, requires=("demucs",), reference=reference,
                            summary=summary, **kwargs)


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        _spec("htdemucs", "htdemucs",
              "Rouard, Massa & Defossez, 'Hybrid transformers for music source separation', ICASSP 2023 "
              "(arXiv:2211.08553); demucs.htdemucs.HTDemucs",
              "HT-Demucs: time and spectrogram U-Nets joined by a cross-domain transformer, outputs summed",
              # LayerScale off in the tiny config: its 1e-4 start would hide a change of num_heads
              # from the contract kit's comparison of outputs at initialisation.
              test_params={**_TINY, "depth": 2, "n_fft": 1024, "num_layers": 1, "num_heads": 2,
                           "layer_scale": False}),
        _spec("hdemucs", "hdemucs",
              "Defossez, 'Hybrid spectrogram and waveform source separation', ISMIR 2021 MDX workshop "
              "(arXiv:2111.03600); demucs.hdemucs.HDemucs",
              "Hybrid Demucs (v3): time and spectrogram U-Nets sharing their innermost layers, outputs summed",
              test_params={**_TINY, "depth": 3, "n_fft": 64}),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
