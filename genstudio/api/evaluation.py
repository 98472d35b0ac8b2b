"""Evaluation: the base classes of a feature extractor and a metric, and the context a
metric computes from."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from genstudio.api.data import DataSpec, LoadContext

if TYPE_CHECKING:
    import torch

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

    def compute(self, context: EvalContext) -> dict[str, float]:
        """Compute the metric; returns named values (the first is the headline figure)."""
        raise NotImplementedError


class EvalContext:
    """What a :class:`Metric`'s ``compute(context)`` receives: the model, the real examples and
    lazily computed samples and features. Every property is computed on first use, then kept,
    so metrics that share features pay for them once. The host passes a subclass that
    implements the methods below; this class documents and types them.

    Attributes: ``model`` (the model being evaluated), ``spec`` (its :class:`DataSpec`),
    ``real_x`` (held-out real examples as the dataset stores them, ``(N, *spec.shape)``),
    ``train_x`` (the training split or ``None``), ``train_index`` (their indices into the
    dataset, or ``None``), ``held_out`` (whether ``real_x`` is data the model was not trained
    on), ``extractor`` (a :class:`FeatureExtractor` or ``None``), ``n`` (samples to draw),
    ``seed``, ``device`` (``torch.device``), ``batch_size`` and ``details`` (what
    :meth:`add_details` recorded, per metric).
    """

    model: Any
    spec: DataSpec
    n: int
    seed: int
    held_out: bool
    details: dict[str, dict[str, Any]]

    def add_details(self, metric: str, details: dict[str, Any]) -> None:
        """Record extra JSON-able facts beside ``metric``'s figures (shown and stored)."""
        raise NotImplementedError

    def generator(self, offset: int = 0) -> torch.Generator:
        """A generator on the evaluation device, seeded with ``seed + offset``."""
        raise NotImplementedError

    def to_device(self, x: Any) -> torch.Tensor:
        """Examples as the model takes them: float32 on the device, images in [0, 1]."""
        raise NotImplementedError

    @property
    def samples(self) -> Any:
        """``n`` samples ``(n, *spec.shape)`` float32 numpy array, images clamped to [0, 1]."""
        raise NotImplementedError

    @property
    def extractor_identity(self) -> str:
        """The extractor's identity: figures from different identities are not comparable."""
        raise NotImplementedError

    def real_features(self) -> Any:
        """Features ``(N, D)`` float32 of ``real_x``."""
        raise NotImplementedError

    def real_stats(self) -> tuple[Any, Any]:
        """Mean ``(D,)`` and covariance ``(D, D)`` of the real features."""
        raise NotImplementedError

    def fake_features(self) -> Any:
        """Features ``(n, D)`` float32 of :attr:`samples`."""
        raise NotImplementedError

    def fake_logits(self) -> Any:
        """Class logits ``(n, K)`` of :attr:`samples`; :class:`ConfigError` if the extractor has none."""
        raise NotImplementedError

    def fake_stats(self) -> tuple[Any, Any]:
        """Mean and covariance of the generated features."""
        raise NotImplementedError

    def computed(self, key: str) -> Any | None:
        """What was computed under ``key`` (``"samples"``, ``"real"``, ...), or ``None`` if it was
        not needed: for the host, which reports what the metrics used without computing more."""
        raise NotImplementedError
