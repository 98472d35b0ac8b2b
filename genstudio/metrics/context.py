"""What metrics compute from: :class:`EvalContext`, lazily drawing samples and embedding
them and the held-out examples, with real statistics cached by :class:`StatsCache`."""

from __future__ import annotations

import hashlib
import inspect
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genstudio import api
from genstudio.api import ConfigError, DataSpec, PluginError
from genstudio.files import atomic_write, atomic_write_text
from genstudio.host.blame import blame
from genstudio.metrics import core
from genstudio.metrics.tensors import to_device_float

STATS_VERSION = 1
#: Samples drawn per call of the model's ``sample``: fixed, so that the same seed gives the
#: same samples whatever extractor (and extraction batch size) is used.
SAMPLE_BATCH = 256

Progress = Callable[[str, int, int], None]


# --------------------------------------------------------------------------------------
# Progress and caching


def call_model(what: str, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call the model's ``what`` method; what it raises becomes a :class:`PluginError` saying so."""
    with blame(f"calling {what}()"):
        return fn(*args, **kwargs)


def accepts_temperature(sample: Callable[..., Any]) -> bool:
    """Whether a model's ``sample`` takes the optional ``temperature`` keyword (docs/plugins.md)."""
    try:
        return "temperature" in inspect.signature(sample).parameters
    except (TypeError, ValueError):
        return False


def as_progress(progress: Callable[..., None] | None) -> Progress:
    if progress is None:
        return lambda stage, done, total: None
    try:
        params = inspect.signature(progress).parameters.values()
        positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
        takes_stage = len(positional) >= 3 or any(p.kind == p.VAR_POSITIONAL for p in params)
    except (TypeError, ValueError):
        takes_stage = True
    if takes_stage:
        return progress
    return lambda stage, done, total: progress(done, total)


def array_digest(*parts: Any) -> str:
    """SHA-256 of arrays (dtype, shape and bytes) and JSON-able values, in order."""
    h = hashlib.sha256()
    for part in parts:
        if isinstance(part, np.ndarray):
            arr = np.ascontiguousarray(part)
            h.update(f"{arr.dtype.str}{arr.shape}".encode())
            h.update(arr.reshape(-1).view(np.uint8).data)
        else:
            h.update(json.dumps(part, sort_keys=True, default=str).encode())
        h.update(b"\x00")
    return h.hexdigest()


class StatsCache:
    """Features and their mean and covariance for real data, one ``.npz`` + ``.json`` per key
    in ``<workspace>/cache/stats/``. The key hashes the exact real examples (so the data
    source, its options, the split and ``n`` all count) and the extractor's identity."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder)

    def key(self, real_x: np.ndarray, extractor_identity: str) -> str:
        return array_digest(STATS_VERSION, extractor_identity, real_x)[:32]

    def load(self, key: str) -> dict[str, np.ndarray] | None:
        path = self.folder / f"{key}.npz"
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as z:
                return {k: z[k] for k in z.files}
        except (OSError, ValueError):  # a damaged entry is recomputed
            return None

    def save(self, key: str, arrays: dict[str, np.ndarray], meta: dict[str, Any]) -> None:
        atomic_write(self.folder / f"{key}.npz", lambda f: np.savez(f, **arrays))
        atomic_write_text(self.folder / f"{key}.json", json.dumps(meta, indent=2, default=str))


# --------------------------------------------------------------------------------------
# The evaluation context


class EvalContext(api.EvalContext):
    """What metrics compute from. Every property is computed on first use, then kept.

    ``real_x`` are the held-out real examples (as the dataset stores them), ``train_x`` the
    training split; ``n`` is the number of samples to draw. Metrics may record extra,
    JSON-able facts with :meth:`add_details`.
    """

    def __init__(
        self,
        *,
        model: Any,
        spec: DataSpec,
        real_x: np.ndarray,
        train_x: np.ndarray | None,
        extractor: Any | None,
        n: int,
        seed: int,
        device: torch.device,
        progress: Progress,
        cache: StatsCache | None,
        batch_size: int,
        train_index: np.ndarray | None = None,
        held_out: bool = True,
    ):
        self.model = model
        self.spec = spec
        self.real_x = real_x
        self.train_x = train_x
        self.train_index = train_index
        self.held_out = held_out
        """Whether ``real_x`` is data the model was not trained on."""
        self.extractor = extractor
        self.n = n
        self.seed = seed
        self.device = device
        self.progress = progress
        self.cache = cache
        self.batch_size = batch_size
        self.details: dict[str, dict[str, Any]] = {}
        self._memo: dict[str, Any] = {}

    # -- helpers -----------------------------------------------------------------------------

    def add_details(self, metric: str, details: dict[str, Any]) -> None:
        self.details.setdefault(metric, {}).update(details)

    def generator(self, offset: int = 0) -> torch.Generator:
        g = torch.Generator(device=self.device if self.device.type == "cuda" else "cpu")
        g.manual_seed(self.seed + offset)
        return g

    def computed(self, key: str) -> Any | None:
        return self._memo.get(key)

    def _once(self, key: str, make: Callable[[], Any]) -> Any:
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def to_device(self, x: np.ndarray) -> torch.Tensor:
        """Examples as the model takes them: float32 on the device, images in [0, 1]."""
        return to_device_float(x, self.device)

    # -- samples -----------------------------------------------------------------------------

    @property
    def samples(self) -> np.ndarray:
        """``n`` samples ``(n, *spec.shape)`` float32 (images clamped to [0, 1]), drawn in
        batches of :data:`SAMPLE_BATCH` from a generator seeded with ``seed``."""
        return self._once("samples", self._draw)

    def _draw(self) -> np.ndarray:
        out = np.empty((self.n, *self.spec.shape), np.float32)
        gen = self.generator()
        bs = SAMPLE_BATCH
        # a family whose pictures default to a lower temperature (a flow's 0.7) is measured at 1
        unit = {"temperature": 1.0} if accepts_temperature(self.model.sample) else {}
        for start in range(0, self.n, bs):
            k = min(bs, self.n - start)
            x = call_model("sample", self.model.sample, k, generator=gen, **unit)
            x = torch.as_tensor(x).detach().float()
            if tuple(x.shape) != (k, *self.spec.shape):
                raise PluginError(f"sample({k}) returned shape {tuple(x.shape)}; expected {(k, *self.spec.shape)}")
            if self.spec.kind == "image":
                x = torch.where(torch.isfinite(x), x.clamp(0.0, 1.0), x)  # clamping would hide an inf
            out[start : start + k] = x.cpu().numpy()
            self.progress("sampling", start + k, self.n)
        bad = core.non_finite_message(
            out, temperature=unit.get("temperature", getattr(getattr(self.model, "config", None), "temperature", None))
        )
        if bad:
            raise PluginError(f"the model's samples are broken: {bad}")
        return out

    # -- features ----------------------------------------------------------------------------

    def embed(self, x: np.ndarray, stage: str) -> tuple[np.ndarray, np.ndarray | None]:
        """Features ``(N, D)`` float32 and logits ``(N, K)`` or ``None``, batched on the device."""
        ex = self.extractor
        if ex is None:
            raise ConfigError("no feature extractor fits this data")
        both = getattr(ex, "features_and_logits", None)
        want_logits = has_logits(ex)
        feats, logits = [], []
        bs = self.batch_size
        for start in range(0, len(x), bs):
            xb = self.to_device(x[start : start + bs])
            if callable(both):
                f, lg = both(xb)
            else:
                f = ex.features(xb)
                lg = ex.logits(xb) if want_logits else None
            feats.append(torch.as_tensor(f).detach().float().cpu().numpy())
            if lg is not None:
                logits.append(torch.as_tensor(lg).detach().float().cpu().numpy())
            self.progress(stage, min(start + bs, len(x)), len(x))
        f_all = np.concatenate(feats) if feats else np.zeros((0, 0), np.float32)
        if not np.isfinite(f_all).all():
            raise PluginError(f"the {getattr(ex, 'name', '?')} extractor returned NaN or infinite features")
        return f_all, (np.concatenate(logits) if logits else None)

    def _real(self) -> dict[str, Any]:
        identity = self.extractor_identity
        key = self.cache.key(self.real_x, identity) if self.cache is not None else None
        if key is not None:
            hit = self.cache.load(key)
            if hit is not None:
                return {**hit, "cached": True, "key": key}
        feats, _ = self.embed(self.real_x, "features (real)")
        mu, sigma = core.feature_statistics(feats)
        arrays = {"features": feats, "mu": mu, "sigma": sigma}
        if key is not None:
            meta = {
                "extractor": identity,
                "n": len(self.real_x),
                "shape": list(self.real_x.shape),
                "source": self.spec.source,
                "created": time.time(),
            }
            self.cache.save(key, arrays, meta)
        return {**arrays, "cached": False, "key": key}

    @property
    def extractor_identity(self) -> str:
        return self._once("identity", lambda: str(self.extractor.identity()))

    @property
    def real(self) -> dict[str, Any]:
        """``{"features", "mu", "sigma", "cached", "key"}`` of the held-out real examples."""
        return self._once("real", self._real)

    def real_features(self) -> np.ndarray:
        return self.real["features"]

    def real_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self.real["mu"], self.real["sigma"]

    def _fake(self) -> tuple[np.ndarray, np.ndarray | None]:
        return self.embed(self.samples, "features (generated)")

    def fake_features(self) -> np.ndarray:
        return self._once("fake", self._fake)[0]

    def fake_logits(self) -> np.ndarray:
        logits = self._once("fake", self._fake)[1]
        if logits is None:
            raise ConfigError(f"the {self.extractor.name} extractor gives no class logits")
        return logits

    def fake_stats(self) -> tuple[np.ndarray, np.ndarray]:
        return self._once("fake_stats", lambda: core.feature_statistics(self.fake_features()))


def has_logits(extractor: Any) -> bool:
    flag = getattr(extractor, "has_logits", None)
    if flag is not None:
        return bool(flag)
    return callable(getattr(extractor, "logits", None))
