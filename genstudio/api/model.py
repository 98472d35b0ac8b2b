"""Model families: :class:`GenerativeModel`, ``TorchModel`` (made on first use, so that
importing the API does not import torch), and helpers every family may use."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, ClassVar

from genstudio.api.data import Batch, DataSpec
from genstudio.api.errors import CheckpointError
from genstudio.api.family import Family, accepts_problem
from genstudio.api.params import EmptyConfig

if TYPE_CHECKING:
    import torch

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

    def __init_subclass__(cls, family: Family | None = None, **kwargs: Any) -> None:
        """``class MyModel(TorchModel, family=FAMILY)``: the class takes the facts its
        :class:`~genstudio.api.Family` declaration states (name, title, description,
        accepts, Config), so they are written once."""
        super().__init_subclass__(**kwargs)
        if family is not None:
            for fact, value in family.facts().items():
                setattr(cls, fact, value)

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        """Why this family cannot train on ``spec``, or ``None`` if it can."""
        return accepts_problem(cls.title or cls.name, cls.accepts, spec)

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

    @property
    def has_warnings(self) -> bool:
        """Whether :meth:`warn` was called since the last :meth:`take_warnings`: the host asks
        after every step, so this is cheap."""
        return bool(self.__dict__.get("_pending_warnings"))

    def take_warnings(self) -> list[str]:
        """Warnings reported since the last call (used by the host)."""
        out, self._pending_warnings = self.__dict__.get("_pending_warnings", []), []
        return out


_TORCH_MODEL: type | None = None


def make_torch_model() -> type:
    """``TorchModel``, built once on first use (``genstudio.api.TorchModel`` calls this)."""
    global _TORCH_MODEL
    if _TORCH_MODEL is None:
        _TORCH_MODEL = _build_torch_model()
    return _TORCH_MODEL


def _build_torch_model() -> type:
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

        def optimizers(self) -> Iterator[tuple[str, Any]]:
            """Every optimizer and learning-rate scheduler kept as an attribute, ``(attribute
            name, object)`` sorted by name: checkpoints save them, and under torchrun the host
            averages gradients before each optimizer's step."""
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
                "optimizers": {k: v.state_dict() for k, v in self.optimizers()},
                "extra": self.extra_state(),
            }

        def load_checkpoint_state(self, state: dict[str, Any]) -> None:
            try:
                self.load_state_dict(state["module"])
            except RuntimeError as exc:
                raise CheckpointError(f"the checkpoint does not fit this model: {exc}") from None
            saved = state.get("optimizers", {})
            for key, obj in self.optimizers():
                if key in saved:
                    obj.load_state_dict(saved[key])
            self.load_extra_state(state.get("extra", {}))

    TorchModel.__qualname__ = "TorchModel"
    TorchModel.__module__ = "genstudio.api"
    return TorchModel


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


@contextlib.contextmanager
def inference_mode(model: Any, device: Any = None) -> Iterator[Any]:
    """Use ``model`` for inference, then leave it as it was: eval mode (for a
    ``torch.nn.Module``), no gradients, and the global random state (CPU, and the CUDA device
    ``device`` is on) forked, so sampling in the middle of a run never changes the training.
    Training mode is restored on the way out if the model was training. Yields ``model``."""
    import torch

    device = torch.device(device if device is not None else getattr(model, "device", "cpu"))
    devices = [device.index or 0] if device.type == "cuda" else []
    was_training = isinstance(model, torch.nn.Module) and model.training
    with torch.random.fork_rng(devices=devices), torch.no_grad():
        if isinstance(model, torch.nn.Module):
            model.eval()
        try:
            yield model
        finally:
            if was_training:
                model.train()
