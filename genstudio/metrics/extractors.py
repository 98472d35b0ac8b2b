"""The built-in feature extractors: ``inception-v3``, ``classifier`` (trained on the data) and ``raw``.

An extractor maps examples in data space to features for FID, KID, precision/recall and
density/coverage; one that classifies also gives logits for the Inception Score. Beyond
:class:`genstudio.api.FeatureExtractor`, these implement two optional methods the evaluation
driver uses when present:

- ``features_and_logits(x) -> (features, logits or None)``: both from one forward pass;
- ``prepare(data, train_index, progress)``: an extractor that learns from the data (the
  classifier) trains or loads its cached weights here, before any ``features`` call.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from genstudio.api import ConfigError, Dataset, DataSpec, FeatureExtractor, LoadContext
from genstudio.files import atomic_write_bytes, atomic_write_text
from genstudio.metrics.tensors import to_device_float

if TYPE_CHECKING:
    import torch

# torch (and the Inception loader) are imported on first use: registering these extractors,
# which every plugin host does, stays cheap

#: Smallest image side for which Inception-v3 is the default extractor (smaller images say
#: little once blown up to 299x299; the data-specific classifier serves them better).
INCEPTION_MIN_SIDE = 16


class InceptionExtractor(FeatureExtractor):
    """Inception-v3 (Szegedy et al. 2016) with the 2015-12-05 weights of the FID literature:
    pool3 features ``(N, 2048)`` and, when the file has the classifier layer, logits
    ``(N, 1008)``. Images are fed as StyleGAN2-ADA feeds its detector (see
    :mod:`genstudio.metrics.inception`)."""

    name = "inception-v3"
    title = "Inception-v3 (2015-12-05)"
    description = "The FID/KID/IS network of the literature; 2048 pool3 features, resized to 299x299 inside"

    def __init__(self, spec: DataSpec, device: Any = "cpu", context: LoadContext | None = None):
        super().__init__(spec, device, context)
        from genstudio.metrics import inception as inc

        reason = self.check_data(spec)
        if reason:
            raise ConfigError(reason)
        cache = self.context.cache_dir
        path = inc.find_weights(cache)
        if path is None:
            raise ConfigError(f"no Inception-v3 weights on this machine: {inc.where_to_put_weights(cache)}")
        self.net = inc.load_inception(path).to(self.device)
        self.sha1 = inc.file_sha1(path)

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        if spec.kind != "image":
            return f"Inception-v3 embeds images, not {spec.kind} data"
        if spec.shape[0] not in (1, 3, 4):
            return f"Inception-v3 embeds grey, RGB or RGBA images, not {spec.shape[0]}-channel ones"
        return None

    @classmethod
    def available(cls, cache_dir: str | Path | None = None) -> bool:
        """Whether weights are on this machine (nothing is downloaded)."""
        from genstudio.metrics import inception as inc

        try:
            return inc.find_weights(cache_dir) is not None
        except ConfigError:
            return False

    @classmethod
    def suits(cls, spec: DataSpec) -> bool:
        """Whether this is the natural default for ``spec``: images of at least 16 px."""
        return cls.check_data(spec) is None and min(spec.shape[1:]) >= INCEPTION_MIN_SIDE

    @property
    def has_logits(self) -> bool:
        return self.net.has_logits

    @property
    def no_logits_reason(self) -> str:
        if self.net.has_logits:
            return ""
        return (
            f"{self.net.path.name} holds no classifier layer; the Inception Score needs StyleGAN2-ADA's "
            f"inception-2015-12-05.pt or pytorch-fid's pt_inception-2015-12-05-6726825d.pth "
            f"(or --extractor classifier on labelled data)"
        )

    def identity(self) -> str:
        # the file's hash: different files are never assumed to give the same features
        return f"inception-v3-2015-12-05/{self.net.format}/{self.sha1[:10]}"

    def _prepare_images(self, x: Any, quantize: bool = True) -> torch.Tensor:
        x = to_device_float(x, self.device).clamp(0.0, 1.0).mul(255.0)
        if quantize:
            x = x.round()  # the 256 levels of uint8, as StyleGAN2-ADA feeds it
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        elif x.shape[1] == 4:
            x = x[:, :3]
        return x

    def features(self, x: Any) -> torch.Tensor:
        with _no_grad():
            return self.net.pool3(self._prepare_images(x))

    def logits(self, x: Any) -> torch.Tensor:
        with _no_grad():
            return self.net.logits(self.features(x))

    def continuous_features(self, x: Any) -> torch.Tensor:
        """Features of images not rounded to 8 bits: path lengths compare images a step of
        1e-4 apart, a difference rounding would erase."""
        with _no_grad():
            return self.net.pool3(self._prepare_images(x, quantize=False))

    def features_and_logits(self, x: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
        with _no_grad():
            f = self.features(x)
            return f, (self.net.logits(f) if self.net.has_logits else None)


class RawExtractor(FeatureExtractor):
    """The data itself as features (flattened): the natural choice for low-dimensional vectors."""

    name = "raw"
    title = "Raw values"
    description = "The examples themselves, flattened; for vector data"

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        if spec.kind == "tabular":
            return "tabular rows are category codes, not coordinates; distances between them mean nothing"
        return None

    def identity(self) -> str:
        return "raw"

    def features(self, x: Any) -> torch.Tensor:
        return to_device_float(x, self.device).flatten(1)


# --------------------------------------------------------------------------------------
# A classifier trained on the data


CLASSIFIER_VERSION = 1
FEATURE_DIM = 128


def classifier_net(spec: DataSpec, num_classes: int) -> Any:
    """A small CNN (images) or MLP (vectors), as a ``torch.nn.Module`` whose forward returns
    ``(features (N, 128), logits (N, K))``: the penultimate layer is the feature vector."""
    return _classifier_class()(spec, num_classes)


@functools.cache
def _classifier_class() -> type:
    import torch
    from torch import nn

    class ClassifierNet(nn.Module):
        def __init__(self, spec: DataSpec, num_classes: int):
            super().__init__()
            self.register_buffer("mean", torch.zeros(spec.shape))
            self.register_buffer("std", torch.ones(spec.shape))
            if spec.kind == "image":
                c, h, w = spec.shape
                layers: list[nn.Module] = [nn.Conv2d(c, 32, 3, padding=1), nn.ReLU()]
                layers += [nn.Conv2d(32, 32, 3, padding=1), nn.ReLU()]
                side, width = min(h, w), 32
                for _ in range(3):  # halve while the image is large, up to three times
                    if side < 8:
                        break
                    layers += [nn.MaxPool2d(2), nn.Conv2d(width, 2 * width, 3, padding=1), nn.ReLU()]
                    side, width = side // 2, 2 * width
                layers += [nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(width * 16, FEATURE_DIM), nn.ReLU()]
            else:
                d = math.prod(spec.shape)
                layers = [nn.Flatten(), nn.Linear(d, 256), nn.ReLU(), nn.Linear(256, FEATURE_DIM), nn.ReLU()]
            self.body = nn.Sequential(*layers)
            self.head = nn.Linear(FEATURE_DIM, num_classes)

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
            f = self.body((x - self.mean) / self.std)
            return f, self.head(f)

    return ClassifierNet


def _no_grad() -> Any:
    import torch

    return torch.no_grad()


class ClassifierExtractor(FeatureExtractor):
    """A classifier GenStudio trains on the labelled data's training split: 128 penultimate
    features for FID/KID/PR and class logits for the Inception Score, where no Inception
    network fits (8x8 digits, 2-D data). Cached in ``<workspace>/cache/extractors/`` as
    safetensors + JSON (with its held-out accuracy), keyed by a hash of the data, the labels,
    the training split and this code's version; the identity carries that key, so figures
    from classifiers trained on different data are never compared."""

    name = "classifier"
    title = "Data-specific classifier"
    description = "A small CNN or MLP trained on the labelled data; features and class probabilities"

    steps_min, steps_max, epochs = 300, 3000, 10
    batch_size = 128
    lr = 1e-3
    seed = 0

    def __init__(self, spec: DataSpec, device: Any = "cpu", context: LoadContext | None = None):
        super().__init__(spec, device, context)
        reason = self.check_data(spec)
        if reason:
            raise ConfigError(reason)
        self.net: Any = None
        self.key = ""
        self.info: dict[str, Any] = {}

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        if spec.kind == "tabular":
            return "the classifier extractor embeds images and vectors, not tabular rows"
        if spec.num_classes < 2:
            return f"the classifier extractor needs labelled data with 2 or more classes; {spec.source or 'this data'} has none"
        return None

    def identity(self) -> str:
        if self.net is None:
            raise ConfigError("the classifier extractor is not prepared: call prepare(data, train_index) first")
        # the data's key and the weights' hash: two trainings on the same data (another
        # machine, another thread count) differ in their last bits and are not compared
        return f"classifier/{self.key[:8]}-{self.info.get('weights', '?')[:8]}"

    @property
    def has_logits(self) -> bool:
        return True

    @property
    def accuracy(self) -> float | None:
        return self.info.get("accuracy")

    @property
    def prepared(self) -> bool:
        return self.net is not None

    def _paths(self) -> tuple[Path, Path] | None:
        if self.context.cache_dir is None:
            return None
        folder = Path(self.context.cache_dir) / "extractors"
        stem = f"classifier-{self.key[:24]}"
        return folder / f"{stem}.safetensors", folder / f"{stem}.json"

    def prepare(
        self, data: Dataset, train_index: np.ndarray | None = None, progress: Callable[[int, int], None] | None = None
    ) -> None:
        """Load the cached classifier for this data and split, or train and cache it.
        ``train_index`` is the run's training split; the rest is held out for the accuracy."""
        from safetensors.torch import load, save

        from genstudio.metrics.context import array_digest

        if data.y is None:
            raise ConfigError("the classifier extractor needs labels; this data has none")
        n = len(data)
        train_index = np.arange(n) if train_index is None else np.sort(np.asarray(train_index, dtype=np.int64))
        self.key = array_digest(CLASSIFIER_VERSION, data.spec.to_dict(), data.x, data.y, train_index)
        held = np.setdiff1d(np.arange(n), train_index)
        if len(held) == 0:  # nothing held out by the run: hold out a tenth of the training split
            rng = np.random.default_rng(self.seed)
            held = np.sort(rng.choice(train_index, max(1, n // 10), replace=False))
            train_index = np.setdiff1d(train_index, held)
        net = classifier_net(data.spec, data.spec.num_classes)
        paths = self._paths()
        if paths is not None and paths[0].is_file() and paths[1].is_file():
            try:
                net.load_state_dict(load(paths[0].read_bytes()))
                self.info = json.loads(paths[1].read_text())
                self.net = net.to(self.device).eval()
                return
            except Exception:  # a damaged cache entry is rebuilt, not fatal
                pass
        self.info = self._train(net, data, train_index, held, progress)
        self.net = net.eval()
        blob = save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()})
        self.info["weights"] = hashlib.sha256(blob).hexdigest()
        self.info["identity"] = self.identity()
        if paths is not None:
            atomic_write_bytes(paths[0], blob)
            atomic_write_text(paths[1], json.dumps(self.info, indent=2))

    def _train(
        self,
        net: Any,
        data: Dataset,
        train_index: np.ndarray,
        held: np.ndarray,
        progress: Callable[[int, int], None] | None,
    ) -> dict[str, Any]:
        import torch
        from torch import nn

        started = time.time()
        dev = self.device
        x = to_device_float(data.x[train_index], dev)
        y = torch.from_numpy(np.asarray(data.y)[train_index].astype(np.int64)).to(dev)
        with torch.no_grad():
            net.mean.copy_(x.mean(0))
            net.std.copy_(x.std(0).clamp(min=1e-3) if data.spec.kind == "vector" else torch.full_like(net.std, 0.5))
            if data.spec.kind == "image":
                net.mean.fill_(0.5)
        net.to(dev).train()
        gen = torch.Generator(device="cpu").manual_seed(self.seed)
        with torch.random.fork_rng(devices=[dev.index or 0] if dev.type == "cuda" else []):
            torch.manual_seed(self.seed)
            for m in net.modules():  # re-initialise under the fixed seed: the same data gives the same net
                if isinstance(m, (nn.Conv2d, nn.Linear)):
                    m.reset_parameters()
        opt = torch.optim.Adam(net.parameters(), lr=self.lr)
        bs = min(self.batch_size, len(x))
        steps = int(min(self.steps_max, max(self.steps_min, self.epochs * math.ceil(len(x) / bs))))
        perm = torch.randperm(len(x), generator=gen)
        pos = 0
        for step in range(steps):
            if pos + bs > len(x):
                perm, pos = torch.randperm(len(x), generator=gen), 0
            idx = perm[pos : pos + bs].to(dev)
            pos += bs
            loss = nn.functional.cross_entropy(net(x[idx])[1], y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if progress is not None and (step % 25 == 0 or step == steps - 1):
                progress(step + 1, steps)
        net.eval()
        correct = 0
        with torch.no_grad():
            for start in range(0, len(held), 1024):
                idx = held[start : start + 1024]
                xb = to_device_float(data.x[idx], dev)
                pred = net(xb)[1].argmax(1).cpu().numpy()
                correct += int((pred == np.asarray(data.y)[idx]).sum())
        return {
            "key": self.key,
            "version": CLASSIFIER_VERSION,
            "accuracy": correct / max(1, len(held)),
            "n_train": len(train_index),
            "n_heldout": len(held),
            "steps": steps,
            "classes": list(data.spec.classes or ()),
            "source": data.spec.source,
            "spec": data.spec.to_dict(),
            "seconds": round(time.time() - started, 3),
        }

    def features_and_logits(self, x: Any) -> tuple[torch.Tensor, torch.Tensor]:
        if self.net is None:
            self.identity()  # raises the explanation
        with _no_grad():
            return self.net(to_device_float(x, self.device))

    def features(self, x: Any) -> torch.Tensor:
        return self.features_and_logits(x)[0]

    def logits(self, x: Any) -> torch.Tensor:
        return self.features_and_logits(x)[1]
