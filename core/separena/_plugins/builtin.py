"""Losses, metrics and datasets that ship with the core."""

from __future__ import annotations

from ..hookspecs import hookimpl
from ..specs import DatasetSpec, LossSpec, MetricSpec

# The stems of the music datasets, in their order (data.music.SOURCES; a test keeps them equal),
# written out so that listing the datasets does not import the data modules.
STEMS = ("vocals", "bass", "drums", "other")


@hookimpl
def separena_register_losses() -> list[LossSpec]:
    return [
        LossSpec("si-sdr", "separena.losses:si_sdr_loss",
                 "negative SI-SDR of each estimate against the reference in the same position (no permutation; "
                 "an inverted estimate scores as one orthogonal to its source), between -30 and +30 dB"),
        LossSpec("usdr", "separena.losses:usdr_loss",
                 "negative uSDR of each estimate against the reference in the same position (scale-dependent: "
                 "stems at their level), floored 30 dB under the mixture"),
        LossSpec("pit-si-sdr", "separena.losses:pit_si_sdr",
                 "negative SI-SDR of the waveforms, best permutation per mixture"),
        LossSpec("pit-mask-l1", "separena.losses:pit_mask_l1",
                 "L1 of masked magnitudes to phase-sensitive targets, best permutation per mixture"),
        LossSpec("deep-clustering", "separena.losses:deep_clustering",
                 "deep clustering affinity loss, low-rank form, magnitude-ratio weights per TF bin"),
        LossSpec("deep-clustering-va", "separena.losses:deep_clustering_va",
                 "deep clustering affinity loss, binary voice-activity weights (bins within 40 dB of the max)"),
    ]


@hookimpl
def separena_register_datasets() -> list[DatasetSpec]:
    return [
        DatasetSpec("espeak-2mix", "separena.data.speech:espeak_2mix",
                    "2-speaker mixtures of eSpeak NG voices, generated locally, speakers disjoint per split"),
        DatasetSpec("espeak-3mix", "separena.data.speech:espeak_3mix",
                    "3-speaker mixtures of the same eSpeak NG voices (wsj0-3mix's task), speakers disjoint per split"),
        DatasetSpec("espeak-2mix-noisy", "separena.data.speech:espeak_2mix_noisy",
                    "espeak-2mix with recorded background noise (game music and effects) in every mixture, "
                    "-6 to +3 dB under the louder speaker (WHAM!'s task); references stay clean"),
        DatasetSpec("espeak-1mix-noisy", "separena.data.speech:espeak_1mix_noisy",
                    "one talker of espeak-2mix's voices over the same background noise (speech enhancement); "
                    "the reference is the clean talker"),
        DatasetSpec("espeak-2mix-babble", "separena.data.speech:espeak_2mix_babble",
                    "espeak-2mix over babble (4 to 8 other synthetic talkers at once, held-out talkers for the "
                    "test sets), -6 to +3 dB under the louder speaker; references stay clean"),
        DatasetSpec("espeak-2mix-reverb", "separena.data.speech:espeak_2mix_reverb",
                    "espeak-2mix with both talkers in simulated rooms (held-out rooms for the test sets); "
                    "references are each talker's direct path (WHAMR!'s task)"),
        DatasetSpec("espeak-2mix-noisy-reverb", "separena.data.speech:espeak_2mix_noisy_reverb",
                    "espeak-2mix-noisy's mixtures with the talkers in espeak-2mix-reverb's rooms, references "
                    "their direct paths (WHAMR!'s noisy reverberant task)"),
        DatasetSpec("real-dev", "separena.data.real:real_dev_dataset",
                    "2-speaker mixtures of real recorded speech from Debian packages; test: held-out real-dev speakers"),
        DatasetSpec("tones-2mix", "separena.data.tones:tones_2mix",
                    "synthetic harmonic-tone mixtures; builds in milliseconds, for tests and smoke runs"),
        DatasetSpec("wsj0-2mix", "separena.data.wsj0mix:wsj0_2mix",
                    "wsj0-2mix / LibriMix / WHAMR! layout on disk (mix/, s1/, s2/ per split; WHAMR!'s "
                    "s1_anechoic/ with source_suffix)"),
        DatasetSpec("midi-4stem", "separena.data.music:midi_4stem",
                    "4-stem music (vocals, bass, drums, other) rendered from generated MIDI with a GM soundfont",
                    tasks=("music",), source_names=STEMS),
        DatasetSpec("musdb18", "separena.data.musdb:musdb18",
                    "MUSDB18 / MUSDB18-HQ from disk (param root), mono 4 stems: vocals, bass, drums, other",
                    tasks=("music",), source_names=STEMS),
    ]


@hookimpl
def separena_register_metrics() -> list[MetricSpec]:
    return [
        MetricSpec("si-sdr", "separena.metrics:si_sdr_metric", "scale-invariant SDR (Le Roux et al., 2019)",
                   label="SI-SDR"),
        MetricSpec("si-sdri", "separena.metrics:si_sdr_metric", "SI-SDR improvement over the mixture; ranks "
                   "every leaderboard", label="SI-SDRi", improvement=True),
        MetricSpec("sdri", "separena.metrics:bss_sdr_metric", "BSS Eval SDR improvement over the mixture "
                   "(512-tap distortion filter)", label="SDRi", improvement=True),
        MetricSpec("sir", "separena.metrics:sir_metric", "BSS Eval source-to-interference ratio: how little "
                   "of the other sources leaks in (512-tap filters)", label="SIR", requires=("fast_bss_eval",)),
        MetricSpec("sar", "separena.metrics:sar_metric", "BSS Eval sources-to-artifacts ratio: how little the "
                   "estimate holds that no source explains (512-tap filters)", label="SAR",
                   requires=("fast_bss_eval",)),
        MetricSpec("usdr", "separena.metrics:usdr_metric", "SDR over the whole signal, as the Music Demixing "
                   "Challenge 2021 scores a song (not projected, not scale-invariant)", label="uSDR"),
        MetricSpec("csdr", "separena.metrics:csdr_metric", "SDR as SiSEC 2018 reports it (museval v4): the "
                   "median over 1-s frames", label="cSDR"),
        MetricSpec("stoi", "separena.metrics:stoi_metric", "short-time objective intelligibility, 0 to 1 (pystoi)",
                   label="STOI", unit="", requires=("pystoi",)),
        MetricSpec("stoi-i", "separena.metrics:stoi_metric", "STOI improvement over the mixture (pystoi)",
                   label="STOIi", unit="", improvement=True, requires=("pystoi",)),
        MetricSpec("pesq", "separena.metrics:pesq_metric", "PESQ MOS-LQO, narrow-band at 8 kHz, wide-band at "
                   "16 kHz (pesq)", label="PESQ", unit="MOS", requires=("pesq",)),
        MetricSpec("pesq-i", "separena.metrics:pesq_metric", "PESQ improvement over the mixture (pesq)",
                   label="PESQi", unit="MOS", improvement=True, requires=("pesq",)),
    ]
