"""separena plugin: nussl's networks and classic separators as separena Separators (``nussl-*``).

Only specs live here; the builders import nussl lazily, so ``separena list`` never imports it,
and a machine without nussl lists these models as unavailable. Conversion helpers:
``separena_nussl_adapter.audio_signal.to_audio_signal`` / ``from_audio_signal``.
"""

from __future__ import annotations

from importlib.abc import Traversable
from importlib.resources import files

from separena import ArchitectureSpec, hookimpl

_NET = "separena_nussl_adapter.networks"
_CLASSIC = "separena_nussl_adapter.classic"
_NUSSL = "Manilow, Seetharaman & Pardo, nussl, ISMIR 2018"
_TINY_RNN = {"hidden_size": 8, "num_layers": 2, "n_fft": 64, "hop_length": 16}
_TINY_STFT = {"n_fft": 64, "hop_length": 16}


def _net(name: str, attr: str, family: str, reference: str, summary: str, **kwargs: object) -> ArchitectureSpec:
    kwargs.setdefault("objective", "pit-si-sdr")
    return ArchitectureSpec(name=name, build=f"{_NET}:{attr}", family=family, tasks=("speech", "music"),
                            requires=("nussl",), reference=f"{reference}; {_NUSSL}", summary=summary, **kwargs)


def _classic(name: str, attr: str, reference: str, summary: str, **kwargs: object) -> ArchitectureSpec:
    return ArchitectureSpec(name=name, build=f"{_CLASSIC}:{attr}", family="classic", tasks=("music",),
                            trainable=False, objective="pit-si-sdr", requires=("nussl",),
                            reference=f"{reference}; {_NUSSL}", summary=summary, **kwargs)


@hookimpl
def separena_register_architectures() -> list[ArchitectureSpec]:
    return [
        _net("nussl-mask-inference", "mask_inference", "mask",
             "Hershey et al., ICASSP 2016 (arXiv:1508.04306), mask-inference baseline",
             "nussl build_recurrent_mask_inference: log-magnitude -> norm -> RNN stack -> masks",
             test_params=_TINY_RNN),
        _net("nussl-dpcl", "dpcl", "embedding",
             "Hershey et al., ICASSP 2016 (arXiv:1508.04306)",
             "nussl build_recurrent_dpcl: RNN embeddings per TF bin, k-means (separena.blocks) -> soft masks",
             objective="deep-clustering", test_params={**_TINY_RNN, "embedding_size": 4}),
        _net("nussl-chimera", "chimera", "mask",  # the mask head separates, as chimera-pp
             "Luo et al., ICASSP 2017 (arXiv:1611.06265); Wang et al., ICASSP 2018",
             "nussl build_recurrent_chimera: shared RNN, deep-clustering head + mask head (masks separate)",
             objective={"deep-clustering": 0.5, "pit-si-sdr": 0.5}, test_params={**_TINY_RNN, "embedding_size": 4}),
        _net("nussl-open-unmix-like", "open_unmix_like", "mask",
             "Stöter et al., JOSS 2019 (Open-Unmix)",
             "nussl build_open_unmix_like: magnitude -> projection -> RNN with skip -> ReLU masks",
             test_params=_TINY_RNN),
        _net("nussl-end-to-end", "end_to_end", "mask",
             "Hershey et al., ICASSP 2016 (mask inference) with an in-network STFT filterbank",
             "nussl build_recurrent_end_to_end: in-network STFT -> RNN masks -> inverse, waveform in and out",
             test_params=_TINY_RNN),
        _net("nussl-dual-path", "dual_path", "mask",
             "Luo, Chen & Yoshioka, ICASSP 2020 (arXiv:1910.06379)",
             "nussl build_dual_path_recurrent_end_to_end: learned filterbank -> dual-path RNN -> masks",
             test_params={"n_filters": 16, "filter_length": 16, "hop_length": 8, "bottleneck_size": 8,
                          "hidden_size": 4, "chunk_size": 20, "chunk_hop": 10, "num_repeats": 1}),
        _classic("nussl-hpss", "hpss", "Fitzgerald, DAFx 2010",
                 "nussl HPSS: median filtering -> [harmonic, percussive]",
                 test_params=_TINY_STFT, noop_params=("n_src",)),
        _classic("nussl-repet-sim", "repet_sim", "Rafii & Pardo, ISMIR 2012",
                 "nussl REPET-SIM: repeating background from similar frames -> [background, foreground]",
                 test_params={**_TINY_STFT, "min_distance_seconds": 0.05, "max_repeating_frames": 2,
                              "similarity_threshold": 0.7},  # white noise frames are ~0.79 alike
                 noop_params=("n_src",)),
        _classic("nussl-rpca", "rpca", "Huang et al., ICASSP 2012",
                 "nussl RPCA: low-rank + sparse magnitude -> [background, foreground]",
                 test_params={**_TINY_STFT, "num_iterations": 10}, noop_params=("n_src",)),
        _classic("nussl-timbre-clustering", "timbre_clustering", "Spiertz & Gnann, DAFx 2009",
                 "nussl TimbreClustering: NMF components clustered by timbre (MFCC) into n_src sources",
                 test_params={**_TINY_STFT, "n_components": 6, "n_mfcc": 8}),
    ]


@hookimpl
def separena_preset_files() -> list[Traversable]:
    return [files(__package__) / "presets.yaml"]
