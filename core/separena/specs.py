"""Declarative records: what a plugin provides (architectures, losses, datasets) and what a
registry file declares (presets, suites). Frozen dataclasses, one comment per field."""

from __future__ import annotations

import importlib
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .errors import SeparenaError

__all__ = [
    "ArchitectureSpec",
    "LossSpec",
    "DatasetSpec",
    "MetricSpec",
    "Preset",
    "Suite",
    "Budget",
    "BUDGET_KINDS",
    "BUDGET_FIELDS",
    "MAX_SEED",
    "check_budget_value",
    "is_seed",
    "is_positive_int",
    "is_positive_number",
    "is_macs",
    "FAMILIES",
    "FAMILY_RULES",
    "BRACKETS",
    "resolve",
    "objective_terms",
]

Family = Literal["mask", "embedding", "waveform", "oracle", "baseline", "classic"]
# What puts a model in a family, decided by how its estimates are made (one rule for every
# plugin, native or adapter, so the same architecture has one family wherever it comes from):
FAMILY_RULES: dict[str, str] = {
    "mask": "a trained network estimates one mask per source over a representation of the mixture, "
            "an STFT or a learned encoder (Conv-TasNet, DPRNN, Open-Unmix, Chimera++'s mask head), "
            "and the masked mixture is decoded; auxiliary losses (an embedding head) do not change it",
    "embedding": "a trained network estimates an embedding per time-frequency bin and the masks come "
                 "from clustering them (deep clustering)",
    "waveform": "a trained network outputs the source waveforms directly, with no mask on the mixture "
                "(e.g. Wave-U-Net, Demucs)",
    "oracle": "not trained: masks computed from the reference sources, the ceiling of a leaderboard",
    "baseline": "not trained: a trivial estimate (the unprocessed mixture), the floor of a leaderboard",
    "classic": "not trained: a signal-processing or factorization method (HPSS, REPET, RPCA, NMF)",
}
FAMILIES: tuple[str, ...] = tuple(FAMILY_RULES)  # the same names as Family
BRACKETS: tuple[str, ...] = ("oracle", "baseline")  # families every suite runs: the leaderboard's bounds
# The objective of models whose sources have roles (music stems), in order: SI-SDR shapes the
# separation (its polarity counted: losses.si_sdr_loss), uSDR sets each stem's level (SI-SDR leaves
# it free: Open-Unmix's stems scored -0.65 dB uSDR at 8.87 dB SI-SDRi; with both terms 4.92 dB at
# 8.74; docs/benchmarks/quality.md).
STEM_OBJECTIVE: dict[str, float] = {"si-sdr": 1.0, "usdr": 1.0}


def objective_terms(objective: str | Mapping[str, float] | None) -> dict[str, float]:
    """An objective (a loss name, ``{loss name: weight}``, or None for a model that is not
    trained) as ``{loss name: weight}``; empty for None."""
    if objective is None:
        return {}
    if isinstance(objective, str):
        return {objective: 1.0}
    return dict(objective)


def resolve(target: Callable[..., Any] | str) -> Callable[..., Any]:
    """Return ``target`` itself, or import it from a ``"package.module:attribute"`` string."""
    if callable(target):
        return target
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise SeparenaError(f"builder {target!r}: expected 'package.module:attribute'")
    module = importlib.import_module(module_name)
    try:
        return getattr(module, attr)
    except AttributeError:
        raise SeparenaError(f"builder {target!r}: module {module_name!r} has no attribute {attr!r}") from None


@dataclass(frozen=True)
class ArchitectureSpec:
    """An architecture a plugin can build. Its builder's signature is its parameter schema."""

    name: str  # kebab-case, unique across plugins, e.g. "mask-inference"
    build: Callable[..., Any] | str  # builder callable, or lazy "module:attr" (keeps `list` cheap)
    family: Family  # mask | embedding | waveform | oracle | baseline | classic: see FAMILY_RULES
    summary: str  # one line shown by `separena list`
    reference: str = ""  # the paper, e.g. "Hershey et al., ICASSP 2016"
    tasks: tuple[str, ...] = ("speech",)  # what it can serve: speech, music, ...
    objective: str | Mapping[str, float] | None = "pit-si-sdr"  # loss name, {loss: weight}, None if untrainable
    trainable: bool = True  # oracles and classic methods are benchmarked but never trained
    requires: tuple[str, ...] = ()  # import names needed to build; missing ones make it unavailable
    test_params: Mapping[str, Any] = field(default_factory=dict)  # tiny config for the contract kit
    expected_failures: Mapping[str, str] = field(default_factory=dict)  # check name -> reason
    noop_params: tuple[str, ...] = ()  # builder params that by design do not change the module

    def builder(self) -> Callable[..., Any]:
        """The builder callable (imports it if given lazily)."""
        return resolve(self.build)

    def signature(self) -> inspect.Signature:
        """The builder's signature: each keyword argument and its default is a parameter."""
        return inspect.signature(self.builder())

    def params(self) -> dict[str, inspect.Parameter]:
        """Parameters of the builder by name (``**kwargs`` and ``*args`` are not parameters)."""
        kinds = (inspect.Parameter.VAR_KEYWORD, inspect.Parameter.VAR_POSITIONAL)
        return {n: p for n, p in self.signature().parameters.items() if p.kind not in kinds}

    def param_descriptions(self) -> dict[str, str]:
        """Each parameter's description from the builder's docstring (its ``Args:`` section), on one line."""
        import docstring_parser

        doc = docstring_parser.parse(inspect.getdoc(self.builder()) or "")
        return {p.arg_name: " ".join((p.description or "").split()) for p in doc.params}


@dataclass(frozen=True)
class LossSpec:
    """A training loss. ``fn(output, sources, model) -> scalar tensor`` (lower is better)."""

    name: str  # kebab-case, e.g. "pit-si-sdr"
    fn: Callable[..., Any] | str  # the loss function, or lazy "module:attr"
    summary: str  # one line

    def function(self) -> Callable[..., Any]:
        return resolve(self.fn)


@dataclass(frozen=True)
class MetricSpec:
    """A score of separated sources that a suite can ask for by name (``metrics:``).

    ``fn(estimates, references, sample_rate) -> [n_src]`` scores each estimate against the
    reference in the same position (the evaluator has already matched speakers to estimates
    by SI-SDR); both are ``[n_src, time]`` float tensors of one mixture. With ``improvement``
    the reported value is the estimates' score minus the mixture's (the mixture in every
    position), computed once per mixture and reused for every model.
    """

    name: str  # kebab-case, e.g. "stoi-i"
    fn: Callable[..., Any] | str  # the score function, or lazy "module:attr"
    summary: str  # one line
    label: str = ""  # column title, e.g. "STOIi"; default: the name
    unit: str = "dB"  # "dB", "" for unitless scores such as STOI, "MOS" for PESQ
    higher_is_better: bool = True
    improvement: bool = False  # report fn(estimates) - fn(mixture)
    requires: tuple[str, ...] = ()  # import names it needs (e.g. "pesq"); missing ones fail the run in one line

    def function(self) -> Callable[..., Any]:
        return resolve(self.fn)

    @property
    def key(self) -> str:
        """The name as a payload and CSV key: ``stoi-i`` -> ``stoi_i``."""
        return self.name.replace("-", "_")


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset a suite can name. ``build(**params)`` returns a ``separena.data.SeparationData``."""

    name: str  # kebab-case, e.g. "espeak-2mix"
    build: Callable[..., Any] | str  # builder, or lazy "module:attr"
    summary: str  # one line
    tasks: tuple[str, ...] = ("speech",)  # speech, music, ...
    source_names: tuple[str, ...] = ()  # roles of the sources in order (music stems); () for speakers

    def builder(self) -> Callable[..., Any]:
        return resolve(self.build)

    def create(self, sample_rate: int, params: Mapping[str, Any]) -> Any:
        """The data at ``sample_rate`` with ``params``. A parameter the builder does not take is
        a one-line :class:`SeparenaError` naming it, not the builder's ``TypeError``."""
        try:
            return self.builder()(sample_rate=sample_rate, **dict(params))
        except TypeError as exc:
            found = re.search(r"unexpected keyword argument '([^']+)'", str(exc))
            if found is None or found.group(1) not in params:
                raise
            where = self.build if isinstance(self.build, str) else getattr(self.build, "__qualname__", "its builder")
            raise SeparenaError(f"dataset {self.name}: unknown parameter {found.group(1)!r}; expected a parameter "
                                f"of {where} (docs/data.md lists each dataset's)") from None


@dataclass(frozen=True)
class Preset:
    """A named model: an architecture plus parameter overrides (from YAML or the defaults)."""

    name: str  # kebab-case preset name
    architecture: str  # the architecture it builds
    params: Mapping[str, Any] = field(default_factory=dict)  # overrides of the builder's defaults
    objective: str | Mapping[str, float] | None = None  # None: the architecture's objective
    tasks: tuple[str, ...] | None = None  # None: the architecture's tasks
    description: str = ""  # one line; falls back to the architecture's summary
    sources: tuple[str, ...] = ()  # "file:line" of every definition, later ones override


SOURCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}")  # a source's role; it becomes part of file names


def source_names_problem(names: Any, n_src: int | None = None) -> str | None:
    """Why ``names`` are not source names (``n_src`` of them, when given), or ``None``."""
    named = isinstance(names, (list, tuple)) and all(isinstance(n, str) and SOURCE_NAME.fullmatch(n) for n in names)
    if not named or len(set(names)) != len(names) or (n_src is not None and len(names) != n_src):
        count = f"{n_src} " if n_src is not None else ""
        return (f"expected {count}distinct names of letters, digits, '-' or '_' (at most 32 characters), "
                f"got {names!r}"[:200])
    return None


BUDGET_KINDS: tuple[str, ...] = ("steps", "examples", "macs", "minutes")  # the limits a budget may set
MAX_SEED = 2**32 - 1  # numpy's seed range; torch takes more, but every run seeds both


def is_positive_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and v > 0


def is_positive_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v > 0


def is_macs(v: Any) -> bool:
    """A positive number; YAML reads ``4e12`` (no dot, no sign) as a string, so such text counts too."""
    if isinstance(v, str):
        try:
            v = float(v)
        except ValueError:
            return False
    return is_positive_number(v)


def is_seed(v: Any) -> bool:
    """An integer numpy and torch both accept as a seed: 0 to :data:`MAX_SEED`."""
    return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= MAX_SEED


# Every budget field's check and what it expects: the one schema the YAML loader, the Budget
# record and the command line's options all use, so a budget is a budget wherever it is written.
BUDGET_FIELDS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "steps": (is_positive_int, "a positive integer"),
    "examples": (is_positive_int, "a positive integer"),
    "macs": (is_macs, "a positive number of multiply-accumulates, e.g. 4.0e+12"),
    "minutes": (is_positive_number, "a positive number"),
    "batch_size": (is_positive_int, "a positive integer"),
    "learning_rate": (is_positive_number, "a positive number"),
}


def check_budget_value(key: str, value: Any) -> str | None:
    """None if ``value`` fits budget field ``key``, else what was expected (``"a positive integer"``)."""
    check, expected = BUDGET_FIELDS[key]
    return None if check(value) else expected


@dataclass(frozen=True)
class Budget:
    """How much training each model of a suite gets; the first limit reached stops it.

    ``steps``, ``examples`` and ``macs`` are deterministic: they fix the number of steps before
    training starts, so a run trains the same on any machine and under any load. ``minutes``
    depends on the machine's speed and load; use it as a cap, or for quick experiments.
    """

    steps: int | None = None  # optimizer steps
    minutes: float | None = None  # wall-clock minutes of training
    batch_size: int = 8  # mixtures per step
    learning_rate: float = 1e-3  # Adam's learning rate
    examples: int | None = None  # training mixtures seen (steps x batch_size)
    macs: float | None = None  # training compute: forward MACs per mixture x 3 x mixtures seen

    def __post_init__(self) -> None:
        # Zero, negative and non-finite limits used to mean "no limit" or "no training" silently.
        for key in BUDGET_FIELDS:
            value = getattr(self, key)
            if value is None and key in BUDGET_KINDS:
                continue
            expected = check_budget_value(key, value)
            if expected is not None:
                raise SeparenaError(f"budget.{key}: expected {expected}, got {value!r}")

    @property
    def kinds(self) -> tuple[str, ...]:
        """The limits this budget sets, in :data:`BUDGET_KINDS` order."""
        return tuple(k for k in BUDGET_KINDS if getattr(self, k) is not None)

    @property
    def deterministic(self) -> bool:
        """True if a step, example or compute limit is set (the clock may still cap it sooner)."""
        return any(getattr(self, k) is not None for k in ("steps", "examples", "macs"))

    def max_steps(self, macs_per_example: float | None = None) -> tuple[int | None, str | None]:
        """The step count the deterministic limits allow and the limit that sets it.

        Args:
            macs_per_example: training MACs per mixture (needed for a ``macs`` limit).

        Returns:
            ``(steps, kind)``, or ``(None, None)`` for a budget of minutes only.
        """
        limits: list[tuple[int, str]] = []
        if self.steps is not None:
            limits.append((self.steps, "steps"))
        if self.examples is not None:
            limits.append((max(1, math.ceil(self.examples / self.batch_size)), "examples"))
        if self.macs is not None:
            if not macs_per_example or macs_per_example <= 0:
                raise SeparenaError(f"budget.macs: expected a model whose training MACs can be counted, "
                                    f"got {macs_per_example!r} MACs per example")
            limits.append((max(1, math.ceil(self.macs / (macs_per_example * self.batch_size))), "macs"))
        return min(limits) if limits else (None, None)


@dataclass(frozen=True)
class Suite:
    """A benchmark: one dataset, one budget, the same seeds and metrics for every model."""

    name: str  # kebab-case suite name
    dataset: str  # dataset name (a DatasetSpec)
    dataset_params: Mapping[str, Any] = field(default_factory=dict)  # passed to the dataset builder
    sample_rate: int = 8000  # Hz
    segment_seconds: float = 2.0  # training crop length
    budget: Budget = field(default_factory=Budget)  # training budget per model and seed
    seeds: tuple[int, ...] = (0,)  # one run per model per seed
    models: tuple[str, ...] = ("*",)  # names or fnmatch patterns
    metrics: tuple[str, ...] = ("si-sdri", "sdri")  # registered metric names (separena_register_metrics)
    description: str = ""  # one line
    sources: tuple[str, ...] = ()  # "file:line" of every definition

    def where(self) -> str:
        """Where the suite is defined (its last definition's ``file:line``), to begin an error."""
        return f"{self.sources[-1]}: suite {self.name}" if self.sources else f"suite {self.name}"
