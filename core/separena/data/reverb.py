"""Rooms: shoebox room impulse responses, the training augmentation's RIR bank, and reverberant
mixtures (WHAMR!'s recipe): talkers in simulated rooms, references their direct path.

The augmentation (``espeak_2mix(reverb=p)``) reverberates a share of the training mixtures with
:func:`rir_bank`'s rooms, the references reverberant too (docs/data.md, "Room reverberation").

WHAMR! (Maciejewski et al., ICASSP 2020) puts the talkers of wsj0-2mix into simulated rooms:
the mixture is the sum of the reverberant talkers, and the reference of each talker is what the
microphone hears of it without reflections (its direct path: delayed and attenuated), so a
model separates and dereverberates at once. This module does the same for any
:class:`~separena.data.SeparationData` (:func:`with_reverberation`), with shoebox rooms of the
image-source method (pyroomacoustics), drawn as :func:`rir_bank` draws its rooms, with room for
three talkers.

Rooms are split like voices and noise: training batches and ``valid`` are placed in the
``train`` rooms, test and every extra test set in other rooms (``test``), so the scores are on
rooms no model heard. ``target="reverberant"`` keeps the reflections in the references (pure
separation in a room) instead.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from ..errors import SeparenaError
from ..progress import progress_bar
from . import Example, MixtureSet, SeparationData, TrainStream
from .cache import default_cache_dir

__all__ = ["RirBankConfig", "rir_bank", "reverberate", "random_room", "simulate_room", "RoomBank",
           "ReverberantMixtures", "ReverberantStream", "room_bank", "place_in_rooms", "with_reverberation", "ROOMS",
           "TARGETS", "N_TALKERS", "RIR_VERSION", "ROOMS_VERSION"]

RIR_VERSION = "rir-bank/1"  # of the augmentation's bank; bump to rebuild every cached one
ROOMS_VERSION = "rooms/2"  # of how rooms are drawn, cut and placed; enters the bank's hash and the data's name
N_TALKERS = 3  # talkers each room holds: up to three sources per mixture
ROOMS = {"train": 400, "test": 100}  # rooms per split
TARGETS = ("direct", "reverberant")
_SPLIT_SALT = {"train": 0x7EA1, "test": 0x7E57}


# --------------------------------------------------------------------------------------------
# Rooms: simulation, the augmentation's RIR bank and the convolution

@dataclass(frozen=True)
class RirBankConfig:
    """Shoebox rooms of the reverberation bank (image-source method, pyroomacoustics).

    Each room holds one microphone and two talkers (one per source of a mixture), all at least
    ``margin`` m from the walls; talkers ``distance`` m from the microphone. RT60 targets are
    uniform in ``rt60``; the image order is capped at ``max_order`` (keeps the build to a few
    seconds; long RT60s come out a little shorter than asked). Each RIR starts 2 samples before
    its direct path and is cut at ``max_seconds`` with a 20-ms fade.
    """

    n_rooms: int = 100
    width: tuple[float, float] = (3.0, 10.0)
    depth: tuple[float, float] = (3.0, 8.0)
    height: tuple[float, float] = (2.4, 4.0)
    rt60: tuple[float, float] = (0.15, 0.6)
    distance: tuple[float, float] = (0.5, 2.5)
    margin: float = 0.4
    max_order: int = 40
    max_seconds: float = 0.5


def random_room(rng: np.random.Generator, cfg: RirBankConfig, n_talkers: int = 2
                 ) -> tuple[np.ndarray, float, np.ndarray, list[np.ndarray]]:
    """Dimensions, RT60 target, microphone and ``n_talkers`` talker positions of one random room
    (the first two talkers are drawn as for two, so more talkers leave those rooms as they were)."""
    dims = np.array([rng.uniform(*cfg.width), rng.uniform(*cfg.depth), rng.uniform(*cfg.height)])
    rt60 = float(rng.uniform(*cfg.rt60))
    lo, hi = np.full(3, cfg.margin), dims - cfg.margin
    mic = rng.uniform(lo, hi)
    mic[2] = rng.uniform(0.7, min(1.8, hi[2]))
    talkers: list[np.ndarray] = []
    while len(talkers) < n_talkers:  # rejection sampling of a talker at a plausible distance
        p = rng.uniform(lo, hi)
        p[2] = rng.uniform(1.0, min(1.9, hi[2]))
        if cfg.distance[0] <= np.linalg.norm(p - mic) <= cfg.distance[1]:
            talkers.append(p)
    return dims, rt60, mic, talkers


def simulate_room(dims: np.ndarray, rt60: float, mic: np.ndarray, talkers: list[np.ndarray], sample_rate: int,
                  cfg: RirBankConfig, reflections: bool = True) -> list[np.ndarray]:
    """The raw pyroomacoustics RIR of each talker (float64); ``reflections=False``: the direct
    path alone (image order 0), on the same time axis."""
    import pyroomacoustics as pra

    try:
        e_abs, order = pra.inverse_sabine(rt60, dims)
    except ValueError:  # a room too absorbent for this RT60: take the most reverberant it can be
        e_abs, order = 0.05, cfg.max_order
    room = pra.ShoeBox(dims.tolist(), fs=sample_rate, materials=pra.Material(e_abs),
                       max_order=int(min(order, cfg.max_order)) if reflections else 0, air_absorption=False)
    room.add_microphone(mic.tolist())
    for p in talkers:
        room.add_source(p.tolist())
    room.compute_rir()
    return [np.asarray(room.rir[0][k], np.float64) for k in range(len(talkers))]


def _fade_out(length: int, sample_rate: int) -> np.ndarray:
    fade = np.ones(length, np.float64)
    nf = max(1, int(0.02 * sample_rate))
    fade[-nf:] = np.linspace(1.0, 0.0, nf)
    return fade


def _room_rirs(rng: np.random.Generator, sample_rate: int, cfg: RirBankConfig) -> np.ndarray:
    """Two RIRs ``[2, cfg.max_seconds * rate]`` (float32) of one random room."""
    length = int(cfg.max_seconds * sample_rate)
    fade = _fade_out(length, sample_rate)
    out = np.zeros((2, length), np.float32)
    for k, h in enumerate(simulate_room(*random_room(rng, cfg), sample_rate, cfg)):
        h = h[max(0, int(np.argmax(np.abs(h))) - 2):][:length]
        h = h * fade[: len(h)]
        out[k, : len(h)] = h / max(float(np.sqrt((h ** 2).sum())), 1e-12)
    return out


def rir_bank(seed: int, sample_rate: int, cache_dir: str | Path, cfg: RirBankConfig = RirBankConfig(),
             progress: bool = True) -> Tensor:
    """``[n_rooms, 2, time]`` float32 room impulse responses (unit energy, direct path first),
    a pure function of ``(seed, sample_rate, cfg)`` and the pyroomacoustics version; built
    once (a few seconds) and cached as ``<cache_dir>/rir-bank-<hash16>.npy``."""
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise SeparenaError("reverb: the Python package pyroomacoustics is not installed; expected it for "
                            "the room impulse responses (pip install pyroomacoustics)") from None

    key = json.dumps({"version": RIR_VERSION, "seed": int(seed), "sample_rate": int(sample_rate),
                      "cfg": asdict(cfg), "pyroomacoustics": pra.__version__, "numpy": np.__version__},
                     sort_keys=True)
    path = Path(cache_dir) / f"rir-bank-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npy"
    if path.is_file():
        bank = np.load(path)
        if bank.shape == (cfg.n_rooms, 2, int(cfg.max_seconds * sample_rate)):
            return torch.from_numpy(bank)
    rooms = []
    with progress_bar(progress, transient=False) as bar:
        task = bar.add_task("reverb: shoebox room impulse responses", total=cfg.n_rooms)
        for r in range(cfg.n_rooms):
            rooms.append(_room_rirs(np.random.default_rng([int(seed), 0x41B, r]), int(sample_rate), cfg))
            bar.advance(task)
    bank = np.stack(rooms)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, bank)
    os.replace(tmp, path)
    return torch.from_numpy(bank)


def reverberate(sources: Tensor, rirs: Tensor) -> Tensor:
    """Convolve ``sources [items, n_src, time]`` with ``rirs [items, n_src, taps]`` (FFT,
    output cut to the input length: the reverberant source, time-aligned with its direct path)."""
    n = sources.shape[-1]
    nfft = 1 << (n + rirs.shape[-1] - 2).bit_length()
    y = torch.fft.irfft(torch.fft.rfft(sources, nfft) * torch.fft.rfft(rirs, nfft), nfft)
    return y[..., :n].contiguous()


# --------------------------------------------------------------------------------------------
# Whole data sets in rooms

@dataclass(frozen=True)
class RoomBank:
    """The rooms of one split: ``reverberant [rooms, N_TALKERS, taps]`` and ``direct [rooms,
    N_TALKERS, direct_taps]`` impulse responses (float32) on one time axis, both starting where
    the direct path's fractional-delay filter starts and scaled by one factor that gives the
    direct path unit energy (WHAMR!'s scaling: each talker's direct path keeps its dry level, so
    the talkers' relative levels and the noise's SNR hold against the references, and the
    reverberant talker is louder by its reverberation)."""

    reverberant: Tensor
    direct: Tensor
    source: str  # the cache file's name: names the content

    def __len__(self) -> int:
        return self.reverberant.shape[0]

    def to(self, device: str | torch.device) -> RoomBank:
        return replace(self, reverberant=self.reverberant.to(device), direct=self.direct.to(device))


def _room_pair(rng: np.random.Generator, sample_rate: int, cfg: RirBankConfig) -> tuple[np.ndarray, np.ndarray]:
    """``(reverberant [N_TALKERS, taps], direct [N_TALKERS, direct_taps])`` of one random room."""
    import pyroomacoustics as pra

    geometry = random_room(rng, cfg, N_TALKERS)
    wet, dry = simulate_room(*geometry, sample_rate, cfg), simulate_room(*geometry, sample_rate, cfg, reflections=False)
    half = pra.constants.get("frac_delay_length") // 2  # the direct path's filter: the peak +- half
    length, short = int(cfg.max_seconds * sample_rate), 2 * half + 1
    fade = _fade_out(length, sample_rate)
    reverberant = np.zeros((N_TALKERS, length), np.float32)
    direct = np.zeros((N_TALKERS, short), np.float32)
    for k, (w, d) in enumerate(zip(wet, dry)):
        start = max(0, int(np.argmax(np.abs(d))) - half)
        h = w[start:][:length] * fade[: len(w) - start][:length]
        piece = d[start:][:short]
        scale = 1.0 / max(float(np.sqrt((piece ** 2).sum())), 1e-12)
        reverberant[k, : len(h)] = h * scale
        direct[k, : len(piece)] = piece * scale
    return reverberant, direct


def room_bank(split: str, sample_rate: int = 8000, cache_dir: str | os.PathLike[str] | None = None, *,
              seed: int = 0, cfg: RirBankConfig = RirBankConfig(), progress: bool = True) -> RoomBank:
    """The rooms of ``split`` (``"train"``: :data:`ROOMS` of them, or ``"test"``), a pure function
    of ``(split, seed, sample_rate, cfg)`` and the pyroomacoustics version; simulated once (about
    0.1 s a room) and cached as ``<cache_dir>/rooms-<split>-<hash16>.npz``.

    Raises:
        SeparenaError: ``split`` is unknown, or pyroomacoustics is not installed.
    """
    if split not in ROOMS:
        raise SeparenaError(f"reverberation: unknown split {split!r}; expected 'train' or 'test'")
    try:
        import pyroomacoustics as pra
    except ImportError:
        raise SeparenaError("reverberation: the Python package pyroomacoustics is not installed; expected it for "
                            "the room impulse responses (pip install pyroomacoustics)") from None
    key = json.dumps({"version": ROOMS_VERSION, "split": split, "n_rooms": ROOMS[split], "seed": int(seed),
                      "sample_rate": int(sample_rate), "cfg": asdict(cfg), "pyroomacoustics": pra.__version__,
                      "numpy": np.__version__}, sort_keys=True)
    folder = default_cache_dir() if cache_dir is None else Path(cache_dir)
    path = folder / f"rooms-{split}-{hashlib.sha256(key.encode()).hexdigest()[:16]}.npz"
    if path.is_file():
        with np.load(path) as saved:
            return RoomBank(torch.from_numpy(saved["reverberant"]), torch.from_numpy(saved["direct"]), path.name)
    pairs = []
    with progress_bar(progress, transient=False) as bar:
        task = bar.add_task(f"reverberation: {ROOMS[split]} {split} rooms", total=ROOMS[split])
        for r in range(ROOMS[split]):
            pairs.append(_room_pair(np.random.default_rng([int(seed), _SPLIT_SALT[split], r]), int(sample_rate), cfg))
            bar.advance(task)
    reverberant, direct = (np.stack(x) for x in zip(*pairs))
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npz")  # renamed into place: never read half-written
    np.savez(tmp, reverberant=reverberant, direct=direct)
    os.replace(tmp, path)
    return RoomBank(torch.from_numpy(reverberant), torch.from_numpy(direct), path.name)


def place_in_rooms(mix: Tensor, sources: Tensor, bank: RoomBank, rooms: Tensor, target: str) -> tuple[Tensor, Tensor]:
    """Each item's talkers placed in its room: ``(mixture, references)``.

    Source ``k`` of an item plays from talker position ``k`` of room ``rooms[item]``; the mixture
    becomes ``mix`` with every source replaced by its reverberant version (anything else in
    ``mix``, noise included, stays), the references are the direct paths (``target="direct"``)
    or the reverberant sources. Outputs are cut to the input length, aligned with the direct path.

    Shapes:
        mix ``[batch, time]``, sources ``[batch, n_src, time]``, rooms ``[batch]`` (indices into
        ``bank``) -> ``([batch, time], [batch, n_src, time])``.
    """
    n = sources.shape[1]
    wet = reverberate(sources, bank.reverberant[rooms, :n].to(sources.dtype))
    refs = wet if target == "reverberant" else reverberate(sources, bank.direct[rooms, :n].to(sources.dtype))
    return (mix + (wet - sources).sum(1)).contiguous(), refs


class ReverberantStream:
    """A training stream whose every mixture is placed in a random room of ``bank``: the room of
    each item of batch ``step`` is a pure function of ``(seed, step)``, drawn from its own
    generator, so the dry speech of the batch is the base stream's to the bit."""

    def __init__(self, base: TrainStream, bank: RoomBank, target: str) -> None:
        self.base, self.bank, self.target = base, bank, target

    def to(self, device: str | torch.device) -> ReverberantStream:
        """This stream building its batches (rooms included) on ``device`` where the base stream can."""
        move = getattr(self.base, "to", None)
        if not callable(move):
            return self
        other = copy.copy(self)
        other.base, other.bank = move(device), self.bank.to(device)
        return other

    def batch(self, seed: int, step: int, batch_size: int, segment_samples: int) -> tuple[Tensor, Tensor]:
        mix, sources = self.base.batch(seed, step, batch_size, segment_samples)
        rng = np.random.default_rng([int(seed), int(step), 0x7EA1])
        rooms = torch.from_numpy(rng.integers(0, len(self.bank), size=batch_size)).to(mix.device)
        return place_in_rooms(mix, sources, self.bank, rooms, self.target)  # to() moved the bank with the base


class ReverberantMixtures:
    """A fixed evaluation set with each mixture placed in a room of ``bank``; item ``i``'s room is
    a pure function of ``(seed, salt, i)`` (``salt`` tells the sets of one data set apart)."""

    def __init__(self, base: MixtureSet, bank: RoomBank, target: str, seed: int, salt: str) -> None:
        self.base, self.bank, self.target, self.seed = base, bank, target, int(seed)
        self.salt = int.from_bytes(hashlib.sha256(salt.encode()).digest()[:4], "little")

    def __len__(self) -> int:
        return len(self.base)

    def room(self, index: int) -> int:
        """The room of item ``index`` (an index into the bank)."""
        return int(np.random.default_rng([self.seed, self.salt, int(index)]).integers(0, len(self.bank)))

    def __getitem__(self, index: int) -> Example:
        ex = self.base[index]
        mix, refs = place_in_rooms(ex.mix[None], ex.sources[None], self.bank, torch.tensor([self.room(index)]),
                                   self.target)
        return Example(ex.name, mix[0], refs[0])


def with_reverberation(data: SeparationData, *, target: str = "direct", seed: int = 0,
                       cache_dir: str | os.PathLike[str] | None = None, progress: bool = True) -> SeparationData:
    """``data`` with every mixture, training and evaluation, in a simulated room (WHAMR!'s recipe):
    training and ``valid`` in the ``train`` rooms, test and every extra test set in the held-out
    ``test`` rooms. The references are each talker's direct path (``target="direct"``, WHAMR!'s)
    or its reverberant version (``"reverberant"``). ``espeak-2mix@<hash>`` becomes
    ``espeak-2mix-reverb@<hash8>``, the hash covering the dry set's name, both room banks, the
    target and how rooms are drawn, so its scores never pass for the dry set's.

    Raises:
        SeparenaError: an unknown ``target``, or more sources than a room holds.
    """
    if target not in TARGETS:
        raise SeparenaError(f"reverberation: bad target {target!r}; expected one of {', '.join(TARGETS)}")
    if data.n_src > N_TALKERS:
        raise SeparenaError(f"reverberation: {data.name} has {data.n_src} sources; expected at most {N_TALKERS} "
                            "(the talkers a room holds)")
    train_bank = room_bank("train", data.sample_rate, cache_dir, seed=seed, progress=progress)
    test_bank = room_bank("test", data.sample_rate, cache_dir, seed=seed, progress=progress)
    signature = [data.name, ROOMS_VERSION, train_bank.source, test_bank.source, target, seed]
    name = f"{data.name.partition('@')[0]}-reverb@{hashlib.sha256(json.dumps(signature).encode()).hexdigest()[:8]}"

    def placed(base: MixtureSet, label: str, bank: RoomBank) -> ReverberantMixtures:
        return ReverberantMixtures(base, bank, target, seed, label)

    wet = target == "reverberant"  # the mixture is the sum of the references only then
    return replace(
        data, name=name, train=ReverberantStream(data.train, train_bank, target),
        valid=placed(data.valid, "valid", train_bank), test=placed(data.test, "test", test_bank),
        extra_tests={k: placed(v, k, test_bank) for k, v in data.extra_tests.items()},
        mix_is_sum=data.mix_is_sum and wet, train_mix_is_sum=data.train_mix_is_sum and wet)
