"""The plugin contract: the only GenStudio module a plugin imports.

A plugin contributes model families, data sources, metrics and feature extractors through
the ``genstudio_register_*`` hooks (see :mod:`genstudio.hookspecs`), and observes runs
through the ``genstudio_run_*`` hooks. Everything a plugin needs to write one is here:

- :data:`hookimpl` marks a hook implementation;
- :class:`GenerativeModel` and :class:`TorchModel` are the base classes of a model family;
- :func:`param` declares one hyperparameter of a family's ``Config`` dataclass;
- :class:`DataSpec`, :class:`Batch` and :class:`Dataset` describe data;
- :class:`DataSource` is the base class of a data source;
- :class:`GenStudioError` and its subclasses carry messages meant for the user.

This module imports nothing else from GenStudio, so a plugin depends on it alone. It
imports torch only when something needs it (``TorchModel`` on first use), so the window
and the command line start without paying for torch.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

import numpy as np
import pluggy

if TYPE_CHECKING:
    import torch

__all__ = [
    "KINDS",
    "Batch",
    "CheckpointError",
    "ConfigError",
    "DataError",
    "DataSource",
    "DataSpec",
    "Dataset",
    "EmptyConfig",
    "FeatureExtractor",
    "GenStudioError",
    "GenerativeModel",
    "LoadContext",
    "Metric",
    "Param",
    "PluginError",
    "TorchModel",  # noqa: F822 - made on first use, by __getattr__
    "adam",
    "capabilities",
    "config_from_dict",
    "config_to_dict",
    "hookimpl",
    "param",
    "params",
    "prior_sample",
]

PROJECT = "genstudio"
hookimpl = pluggy.HookimplMarker(PROJECT)

#: The kinds of data GenStudio knows. Images are ``(C, H, W)`` float in [0, 1]; vectors are
#: ``(D,)`` float; tabular rows are ``(D,)`` integer category codes, one per column.
KINDS = ("image", "vector", "tabular")

#: The optional capabilities a model family may have, detected by presence of the method.
CAPABILITIES = (
    "encode",
    "decode",
    "reconstruct",
    "log_prob",
    "evaluate",
    "sample_chain",
    "structure",
    # genstudio.apply: restoration solvers and Bayesian-network queries
    "denoise",
    "gibbs_step",
    "restore",
    "factors",
    "critic",
)


# --------------------------------------------------------------------------------------
# Errors: their messages are shown to the user as they are, without a traceback.


class GenStudioError(Exception):
    """An error whose message is written for the user: shown without a traceback."""


class DataError(GenStudioError):
    """Bad input data. The message names the file (when there is one) and the problem."""

    def __init__(self, problem: str, path: str | Path | None = None):
        self.path = None if path is None else str(path)
        self.problem = problem
        super().__init__(problem if path is None else f"{path}: {problem}")


class ConfigError(GenStudioError):
    """A hyperparameter or option with a value that is not allowed."""


class PluginError(GenStudioError):
    """A plugin that broke the contract (bad registration, a name already taken, ...)."""


class CheckpointError(GenStudioError):
    """A checkpoint that is missing, incomplete or does not fit the model."""


# --------------------------------------------------------------------------------------
# Hyperparameters: a family's Config is a dataclass whose fields are declared with param().

_META_KEY = "genstudio.param"


@dataclass(frozen=True)
class _ParamMeta:
    min: float | None
    max: float | None
    log: bool
    choices: tuple | None
    help: str
    tune: bool = False


def param(
    default: Any,
    *,
    min: float | None = None,  # noqa: A002 - the names users read in the docs
    max: float | None = None,  # noqa: A002
    log: bool = False,
    choices: typing.Sequence | None = None,
    help: str = "",  # noqa: A002
    tune: bool = False,
) -> Any:
    """Declare one hyperparameter of a ``Config`` dataclass.

    :param default: the default value; its type is the field's annotation (int, float, bool, str).
    :param min: smallest allowed value (inclusive), for numbers.
    :param max: largest allowed value (inclusive), for numbers.
    :param log: the value spans orders of magnitude (a learning rate): the GUI shows a
        log-scaled control.
    :param choices: the allowed values; the GUI shows a combo box.
    :param help: one line shown as the CLI flag's help and the GUI's tooltip.
    :param tune: worth tuning: ``genstudio sweep`` searches it by default, over its range.
    """
    if log and (min is None or min <= 0):
        raise ValueError("param(log=True) needs a positive min")
    meta = _ParamMeta(min, max, bool(log), None if choices is None else tuple(choices), help, bool(tune))
    return field(default=default, metadata={_META_KEY: meta})


@dataclass(frozen=True)
class Param:
    """One hyperparameter as the CLI and the GUI see it."""

    name: str
    type: type
    default: Any
    min: float | None = None
    max: float | None = None
    log: bool = False
    choices: tuple | None = None
    help: str = ""
    tune: bool = False

    @property
    def flag(self) -> str:
        """The command-line flag, ``--latent-dim`` for ``latent_dim``."""
        return "--" + self.name.replace("_", "-")

    def describe_range(self) -> str:
        """What values are allowed, as error messages and help show it: ``[1, 512]``,
        ``one of a, b``, ``true or false``, or ``any text``."""
        if self.choices is not None:
            return "one of " + ", ".join(str(c) for c in self.choices)
        if self.type is bool:
            return "true or false"
        if self.type not in (int, float):
            return "any text"

        def num(v: float) -> str:
            return str(int(v)) if self.type is int else f"{v:g}"

        lo = "-inf" if self.min is None else num(self.min)
        hi = "inf" if self.max is None else num(self.max)
        return f"[{lo}, {hi}]"

    def parse(self, text: str) -> Any:
        """Convert a command-line or ``KEY=VALUE`` string and validate it."""
        text = text.strip()
        try:
            if self.type is bool:
                lowered = text.lower()
                if lowered in ("1", "true", "yes", "on"):
                    value: Any = True
                elif lowered in ("0", "false", "no", "off"):
                    value = False
                else:
                    raise ValueError(text)
            elif self.type is int:
                # "1e4" and "100.0" are integers too, as people type them
                value = int(text) if re.fullmatch(r"[-+]?\d+", text) else float(text)
                if isinstance(value, float) and not value.is_integer():
                    raise ValueError(text)
                value = int(value)
            elif self.type is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            kind = {bool: "true or false", int: "an integer", float: "a number"}.get(self.type, "a string")
            raise ConfigError(f"{self.name}: {text!r} is not {kind}") from None
        return self.validate(value)

    def validate(self, value: Any) -> Any:
        """Return ``value`` converted to the parameter's type, or raise :class:`ConfigError`."""
        if self.type is bool:
            if not isinstance(value, (bool, np.bool_)):
                raise ConfigError(f"{self.name}: {value!r} is not true or false")
            value = bool(value)
        elif self.type in (int, float):
            if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
                raise ConfigError(f"{self.name}: {value!r} is not a number")
            if self.type is int:
                if float(value) != int(value):
                    raise ConfigError(f"{self.name}: {value!r} is not an integer")
                value = int(value)
            else:
                value = float(value)
                if not math.isfinite(value):
                    raise ConfigError(f"{self.name}: {value!r} is not a finite number")
            if (self.min is not None and value < self.min) or (self.max is not None and value > self.max):
                raise ConfigError(f"{self.name}: {value!r} is out of range; allowed: {self.describe_range()}")
        elif self.type is str and not isinstance(value, str):
            raise ConfigError(f"{self.name}: {value!r} is not a string")
        if self.choices is not None and value not in self.choices:
            raise ConfigError(f"{self.name}: {value!r} is not allowed; allowed: {self.describe_range()}")
        return value


@dataclass
class EmptyConfig:
    """The ``Config`` of a family or source that has no hyperparameters."""


def params(config_cls: type) -> list[Param]:
    """The hyperparameters of a ``Config`` dataclass, in declaration order."""
    if not dataclasses.is_dataclass(config_cls):
        raise PluginError(f"{config_cls!r} is not a dataclass; decorate Config with @dataclass")
    hints = typing.get_type_hints(config_cls)
    out = []
    for f in dataclasses.fields(config_cls):
        typ = hints.get(f.name, type(f.default))
        if typ not in (int, float, bool, str):
            raise PluginError(f"{config_cls.__qualname__}.{f.name}: type {typ!r} is not one of int, float, bool, str")
        if f.default is dataclasses.MISSING:
            raise PluginError(f"{config_cls.__qualname__}.{f.name} has no default")
        meta = f.metadata.get(_META_KEY) or _ParamMeta(None, None, False, None, "")
        out.append(Param(f.name, typ, f.default, meta.min, meta.max, meta.log, meta.choices, meta.help, meta.tune))
    return out


def config_from_dict(config_cls: type, values: dict[str, Any] | None = None) -> Any:
    """Build a ``Config`` from plain values, validating each; unknown names are refused."""
    values = dict(values or {})
    known = {p.name: p for p in params(config_cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise ConfigError(f"unknown option {unknown[0]!r}; known: {', '.join(known) or 'none'}")
    kwargs = {name: known[name].validate(value) for name, value in values.items()}
    return config_cls(**kwargs)


def config_to_dict(config: Any) -> dict[str, Any]:
    """The values of a ``Config`` as a JSON-able dict."""
    return dataclasses.asdict(config)


# --------------------------------------------------------------------------------------
# Data


@dataclass(frozen=True)
class DataSpec:
    """What a model needs to know about its data, without the data.

    JSON-able (:meth:`to_dict`), so runs and checkpoints record it and a model can be rebuilt
    without loading the data again.
    """

    kind: str
    """``"image"``, ``"vector"`` or ``"tabular"``."""
    shape: tuple[int, ...]
    """One example: ``(C, H, W)`` for images, ``(D,)`` for vectors and tabular rows."""
    count: int
    """Number of examples in the whole dataset."""
    value_range: tuple[float, float] = (0.0, 1.0)
    """Smallest and largest value in the data (images: always ``(0.0, 1.0)``)."""
    classes: tuple[str, ...] | None = None
    """Class names when the data has labels; labels are indices into this tuple."""
    source: str = ""
    """The built-in source's name or the file's path."""
    columns: tuple[dict, ...] | None = None
    """Tabular only: one dict per column (``name``, ``type``, ``categories``, ``bin_edges``)."""
    factors: tuple[str, ...] | None = None
    """Names of known generative factors, when the source knows them (``shapes``)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, not {self.kind!r}")
        object.__setattr__(self, "shape", tuple(int(s) for s in self.shape))
        object.__setattr__(self, "value_range", (float(self.value_range[0]), float(self.value_range[1])))
        if self.classes is not None:
            object.__setattr__(self, "classes", tuple(str(c) for c in self.classes))
        if self.columns is not None:
            object.__setattr__(self, "columns", tuple(dict(c) for c in self.columns))
        if self.factors is not None:
            object.__setattr__(self, "factors", tuple(self.factors))

    @property
    def dim(self) -> int:
        """Number of values in one example."""
        return math.prod(self.shape)

    @property
    def num_classes(self) -> int:
        return 0 if self.classes is None else len(self.classes)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["shape"] = list(self.shape)
        d["value_range"] = list(self.value_range)
        for key in ("classes", "columns", "factors"):
            if d[key] is not None:
                d[key] = list(d[key])
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> DataSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Batch:
    """One training batch, on the training device.

    ``x`` is shaped like the data: images ``(N, C, H, W)`` float32 in [0, 1], vectors
    ``(N, D)`` float32, tabular ``(N, D)`` int64 codes. ``y`` holds class indices ``(N,)``
    int64, or is ``None`` when the data has no labels.
    """

    x: torch.Tensor
    y: torch.Tensor | None = None

    def __len__(self) -> int:
        return int(self.x.shape[0])


@dataclass
class Dataset:
    """Data as a source returns it: arrays in host memory plus their spec.

    ``x`` is ``(N, *spec.shape)``; images are stored as uint8 0..255 (converted to float in
    [0, 1] per batch) or float32 in [0, 1]; vectors as float32; tabular rows as int64 codes.
    """

    x: np.ndarray
    y: np.ndarray | None
    spec: DataSpec
    warnings: list[str] = field(default_factory=list)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    """Per-example extras, such as known factors: each ``(N, ...)``."""

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def as_float(self, index: Any = slice(None)) -> np.ndarray:
        """Examples in data space: float32, images in [0, 1]."""
        x = self.x[index]
        if x.dtype == np.uint8:
            return x.astype(np.float32) / np.float32(255.0)
        return np.asarray(x, dtype=np.float32)


@dataclass
class LoadContext:
    """What a data source may use while loading."""

    cache_dir: Path | None = None
    """A folder in the workspace where a source may cache decoded data, or ``None``."""
    progress: typing.Callable[[int, int], None] | None = None
    """Called as ``progress(done, total)`` during long loads."""

    def report(self, done: int, total: int) -> None:
        if self.progress is not None:
            self.progress(done, total)


class DataSource:
    """A source of data: a built-in dataset (``digits``) or a file format (IDX, CSV, ...).

    A built-in dataset has ``path_based = False`` and is chosen by its ``name``; a file
    format has ``path_based = True`` and is chosen when :meth:`sniff` recognises a path.
    Options come from the ``Options`` dataclass, declared with :func:`param` like a Config.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    path_based: ClassVar[bool] = False
    Options: ClassVar[type] = EmptyConfig

    @classmethod
    def sniff(cls, path: Path) -> bool:
        """File formats: whether this format reads ``path`` (by its content, not only its name)."""
        return False

    def load(self, options: Any, path: Path | None, context: LoadContext) -> Dataset:
        """Load the data. Raise :class:`DataError` naming the file and the problem."""
        raise NotImplementedError


# --------------------------------------------------------------------------------------
# Models


class GenerativeModel:
    """Base class of a model family.

    Subclasses set ``name`` (a stable id used by the CLI and in run records), ``title``,
    ``accepts`` (the data kinds it trains on) and a ``Config`` dataclass, and implement
    :meth:`train_step` and :meth:`sample`. Optional capabilities are detected by presence:

    - ``encode(x) -> z`` and ``decode(z) -> x`` (with ``latent_dim``): latent explorer, PPL;
    - ``reconstruct(x) -> x``: reconstructions, anomaly scores;
    - ``log_prob(x) -> (N,)`` in nats per example: likelihoods, bits/dim, anomaly scores. It
      is a density over data space, or a probability mass when the model treats the data as
      discrete (binarised pixels): then it sets :attr:`discrete_likelihood`;
    - ``evaluate(batch) -> dict[str, float]``: validation losses;
    - ``sample_chain(n, generator=None) -> Iterator[Tensor]``: the sampling process step by
      step (Gibbs chains, reverse diffusion), each frame shaped like :meth:`sample`'s output;
    - ``structure() -> dict``: a learned graph, ``{"nodes": [name, ...], "edges": [[from, to],
      ...]}``; the window draws it and every checkpoint saves it as ``structure.json``;
    - ``denoise(x_t, t) -> x0`` with ``noise_schedule() -> abar (T,)``, ``to_model`` and
      ``to_data``: a diffusion denoiser, for restoration (DDRM, RePaint);
    - ``gibbs_step(x, generator=None) -> x``: one step of the model's Gibbs chain in data space;
    - ``restore(y, operator, generator=None) -> x``: the family's own restoration, which
      overrides the generic solvers;
    - ``factors() -> list[(scope, table)]``: a discrete network's conditional probability
      tables, for exact queries (see docs/plugins.md);
    - ``critic(x) -> (N,)``: a discriminator's score, higher for data like the training set
      (anomaly scores).
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    accepts: ClassVar[frozenset[str] | set[str]] = frozenset()
    Config: ClassVar[type] = EmptyConfig
    #: ``log_prob`` is a probability mass over discrete values (binary pixels, categories),
    #: not a density; bits per dimension then need no dequantization offset.
    discrete_likelihood: bool = False
    #: Optimisation steps completed before the current one. The host sets it before every
    #: ``train_step`` (and it survives resume), so a family needs no step counter of its own.
    step: int = 0
    #: Elapsed share of the run's budget, in [0, 1]: steps done over total steps, or elapsed
    #: training time over ``--minutes``. The host sets it before every ``train_step``;
    #: schedules tied to the run's length (learning-rate decay, KL warm-up) follow it.
    progress: float = 0.0

    def __init__(self, spec: DataSpec, config: Any, device: Any = "cpu"):
        import torch

        self.spec = spec
        self.config = config
        self.device = torch.device(device)
        self._pending_warnings: list[str] = []

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        """Why this family cannot train on ``spec``, or ``None`` if it can."""
        if spec.kind not in cls.accepts:
            kinds = ", ".join(sorted(cls.accepts)) or "no data"
            return f"{cls.title or cls.name} trains on {kinds} data, not {spec.kind}"
        return None

    @classmethod
    def resolve_config(cls, config: Any, spec: DataSpec, device: Any) -> Any:
        """``config`` with every ``auto`` value (a family's own sentinel, such as 0 or the
        choice ``"auto"``) replaced by a concrete one chosen from the data and the device
        (``torch.device``). The host calls it once when a new run is prepared, and records,
        shows and repeats the resolved values. The default returns ``config`` unchanged."""
        return config

    def train_step(self, batch: Batch) -> dict[str, float | torch.Tensor]:
        """One optimisation step. Returns named losses: floats or 0-d tensors."""
        raise NotImplementedError

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples in data space, shaped ``(n, *spec.shape)`` like the dataset."""
        raise NotImplementedError

    def checkpoint_state(self) -> dict[str, Any]:
        """Everything needed to resume: nested dicts and lists of tensors and JSON values."""
        return {}

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        """Restore what :meth:`checkpoint_state` returned."""

    def warn(self, message: str) -> None:
        """Report a training-health warning; the host shows it and logs it with the step."""
        self._pending_warnings.append(str(message))

    def take_warnings(self) -> list[str]:
        """Warnings reported since the last call (used by the host)."""
        out, self._pending_warnings = self._pending_warnings, []
        return out


def _make_torch_model() -> type:
    import torch

    class TorchModel(GenerativeModel, torch.nn.Module):
        """A :class:`GenerativeModel` that is also a ``torch.nn.Module``.

        Call ``super().__init__(spec, config, device)`` first, then build networks and
        optimizers. The host moves the module to ``device`` after construction. Checkpoints hold
        the module's ``state_dict``, the state of every optimizer and LR scheduler kept as an
        attribute, and :meth:`extra_state`.
        """

        def __init__(self, spec: DataSpec, config: Any, device: Any = "cpu"):
            torch.nn.Module.__init__(self)
            GenerativeModel.__init__(self, spec, config, device)

        def _stateful_attributes(self) -> Iterator[tuple[str, Any]]:
            for key, value in sorted(vars(self).items()):
                if isinstance(value, (torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler)):
                    yield key, value

        def extra_state(self) -> dict[str, Any]:
            """Plain values to checkpoint beside the weights (counters, schedules)."""
            return {}

        def load_extra_state(self, state: dict[str, Any]) -> None:
            """Restore what :meth:`extra_state` returned."""

        def checkpoint_state(self) -> dict[str, Any]:
            return {
                "module": dict(self.state_dict()),
                "optimizers": {k: v.state_dict() for k, v in self._stateful_attributes()},
                "extra": self.extra_state(),
            }

        def load_checkpoint_state(self, state: dict[str, Any]) -> None:
            try:
                self.load_state_dict(state["module"])
            except RuntimeError as exc:
                raise CheckpointError(f"the checkpoint does not fit this model: {exc}") from None
            saved = state.get("optimizers", {})
            for key, obj in self._stateful_attributes():
                if key in saved:
                    obj.load_state_dict(saved[key])
            self.load_extra_state(state.get("extra", {}))

    TorchModel.__qualname__ = "TorchModel"
    TorchModel.__module__ = __name__
    return TorchModel


def __getattr__(name: str) -> Any:
    # TorchModel subclasses torch.nn.Module: it is built, and torch imported, on first use
    if name == "TorchModel":
        cls = _make_torch_model()
        globals()["TorchModel"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def adam(params: Any, **kwargs: Any) -> torch.optim.Adam:
    """``torch.optim.Adam(params, **kwargs)``, fused where the parameters' device has a fused
    kernel (CPU, CUDA, MPS), else the default implementation. The update and the state_dict
    are Adam's (Kingma and Ba 2015) either way; fused, a step is one pass over each parameter
    instead of a dozen small operations per tensor, which for a small network on a CPU is a
    sizeable share of the step."""
    import torch

    params = list(params)
    if "fused" not in kwargs and "foreach" not in kwargs:
        try:
            return torch.optim.Adam(params, fused=True, **kwargs)
        except (RuntimeError, ValueError):  # a device or dtype without a fused kernel
            pass
    return torch.optim.Adam(params, **kwargs)


def capabilities(model: Any) -> set[str]:
    """The optional capabilities a model class or instance has (see :data:`CAPABILITIES`)."""
    return {name for name in CAPABILITIES if callable(getattr(model, name, None))}


def prior_sample(model: Any, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Latent codes for a model with ``decode``: its ``sample_latent`` if it has one, else
    standard normal ``(n, latent_dim)``."""
    own = getattr(model, "sample_latent", None)
    if callable(own):
        return own(n, generator=generator)
    import torch

    device = getattr(model, "device", "cpu")
    return torch.randn(n, int(model.latent_dim), generator=generator, device=device)


# --------------------------------------------------------------------------------------
# Evaluation


class FeatureExtractor:
    """Maps examples in data space to feature vectors, for FID, KID and precision/recall.

    An extractor that also classifies implements ``logits(x) -> (N, K)`` (used by the
    Inception Score). :meth:`identity` names the extractor and its weights: results from
    different identities are never compared.
    """

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""

    def __init__(self, spec: DataSpec, device: Any = "cpu", context: LoadContext | None = None):
        import torch

        self.spec = spec
        self.device = torch.device(device)
        self.context = context or LoadContext()

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        """Why this extractor cannot embed data like ``spec``, or ``None`` if it can."""
        return None

    def identity(self) -> str:
        """A stable string naming the extractor and its weights."""
        return self.name

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, *spec.shape)`` examples in data space -> ``(N, D)`` features."""
        raise NotImplementedError


class Metric:
    """One evaluation metric. ``requires`` names what it needs from the evaluation context:
    ``"features"`` (real and generated features), ``"logits"``, ``"decode"`` or ``"log_prob"``
    (model capabilities), ``"train_data"``."""

    name: ClassVar[str] = ""
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    requires: ClassVar[frozenset[str]] = frozenset()
    lower_is_better: ClassVar[bool] = True

    def compute(self, context: Any) -> dict[str, float]:
        """Compute the metric; returns named values (the first is the headline figure)."""
        raise NotImplementedError
