"""The built-in metrics and feature extractors, contributed through the same hooks as any
plugin's (:func:`genstudio_register_metrics`, :func:`genstudio_register_feature_extractors`).

Each metric reads what it needs from the :class:`~genstudio.metrics.evaluate.EvalContext` it
is given and returns named values, the headline first. Keys are unique across metrics, so a
report flattens into scalars (``eval/fid``, ``eval/kid``, ``eval/precision``, ...).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from genstudio.api import EvalContext, Metric, PluginError, Registry, hookimpl, prior_sample
from genstudio.metrics import core
from genstudio.metrics.extractors import ClassifierExtractor, InceptionExtractor, RawExtractor


class FID(Metric):
    name = "fid"
    title = "Frechet Inception Distance"
    description = "Frechet distance between Gaussians fitted to real and generated features (Heusel et al. 2017)"
    requires = frozenset({"features"})

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        return {"fid": core.frechet_distance(*ctx.real_stats(), *ctx.fake_stats())}


class KID(Metric):
    name = "kid"
    title = "Kernel Inception Distance"
    description = "Unbiased MMD^2 with a cubic polynomial kernel, over random subsets (Binkowski et al. 2018)"
    requires = frozenset({"features"})
    subsets, subset_size = 100, 1000

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        real, fake = ctx.real_features(), ctx.fake_features()
        size = min(self.subset_size, len(real), len(fake))
        mean, std = core.kid(fake, real, subsets=self.subsets, subset_size=size, seed=ctx.seed)
        ctx.add_details(self.name, {"subsets": self.subsets, "subset_size": size})
        return {"kid": mean, "kid_std": std}


class InceptionScore(Metric):
    name = "is"
    title = "Inception Score"
    description = "exp E KL(p(y|x) || p(y)) over 10 splits of the samples, in order (Salimans et al. 2016)"
    requires = frozenset({"logits"})
    lower_is_better = False
    splits = 10

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        logits = ctx.fake_logits()
        splits = min(self.splits, len(logits))
        mean, std = core.inception_score(logits, splits=splits)
        ctx.add_details(self.name, {"splits": splits})
        return {"is": mean, "is_std": std}


class PrecisionRecall(Metric):
    name = "pr"
    title = "Precision and recall"
    description = "Share of samples on the real manifold, and of real data on the sample manifold (k = 3)"
    requires = frozenset({"features"})
    lower_is_better = False
    k = 3

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        real, fake = ctx.real_features(), ctx.fake_features()
        k = min(self.k, len(real) - 1, len(fake) - 1)
        precision, recall = core.precision_recall(real, fake, k=k)
        ctx.add_details(self.name, {"k": k})
        return {"precision": precision, "recall": recall}


class DensityCoverage(Metric):
    name = "dc"
    title = "Density and coverage"
    description = "k-NN density and coverage around the real examples (Naeem et al. 2020, k = 5)"
    requires = frozenset({"features"})
    lower_is_better = False
    k = 5

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        real = ctx.real_features()
        k = min(self.k, len(real) - 1)
        density, coverage = core.density_coverage(real, ctx.fake_features(), k=k)
        ctx.add_details(self.name, {"k": k})
        return {"density": density, "coverage": coverage}


class PerceptualPathLength(Metric):
    """Karras et al. 2019 (StyleGAN), eq. 3, with full-path sampling (t ~ U(0, 1)), slerp
    between prior draws, epsilon 1e-4 and the 1st/99th-percentile filter. The distance is the
    squared Euclidean distance between the chosen extractor's features, not LPIPS (whose VGG
    weights GenStudio does not ship): figures compare between runs with the same extractor,
    not with published PPL."""

    name = "ppl"
    title = "Perceptual path length"
    description = "Feature change per unit of latent interpolation, over slerp paths (Karras et al. 2019)"
    requires = frozenset({"decode", "features"})
    epsilon = 1e-4

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        import torch

        from genstudio.metrics.context import call_model

        model, n = ctx.model, ctx.n
        gen = ctx.generator(offset=7)
        first = call_model("sample_latent", prior_sample, model, n, generator=gen).detach()
        latent_shape = tuple(first.shape[1:])
        z0 = first.double().cpu().numpy().reshape(n, -1)
        z1 = prior_sample(model, n, generator=gen).detach().double().cpu().numpy().reshape(n, -1)
        t = torch.rand(n, generator=gen, device=gen.device, dtype=torch.float64).cpu().numpy()
        done = [0]

        def decode(z: np.ndarray) -> np.ndarray:
            zt = torch.from_numpy(z).float().to(ctx.device).reshape(len(z), *latent_shape)
            x = torch.as_tensor(call_model("decode", model.decode, zt)).float()
            if ctx.spec.kind == "image":
                x = x.clamp(0.0, 1.0)
            return x

        # an extractor that rounds its input (Inception, to 8 bits) offers features without rounding
        embed = getattr(ctx.extractor, "continuous_features", None) or ctx.extractor.features

        def distance(xa: Any, xb: Any) -> np.ndarray:
            fa = torch.as_tensor(embed(xa)).double()
            fb = torch.as_tensor(embed(xb)).double()
            done[0] += len(xa)
            ctx.progress("path length", done[0], n)
            return (fa - fb).pow(2).sum(1).cpu().numpy()

        mean, std, _ = core.path_length(
            decode, distance, z0, z1, epsilon=self.epsilon, t=t, interpolation="slerp", batch_size=ctx.batch_size
        )
        ctx.add_details(self.name, {"epsilon": self.epsilon, "sampling": "full", "distance": "squared L2 of features"})
        return {"ppl": mean, "ppl_std": std}


class NegativeLogLikelihood(Metric):
    """Mean ``-log p(x)`` of the held-out examples in nats per example, and bits per
    dimension (see :func:`genstudio.metrics.core.bits_per_dim` for the conventions), with the
    protocol stated in the details: which data the figure is a likelihood of, and the
    estimator. A model says how it scores images with an optional ``likelihood_protocol()``
    returning a dict: ``pixels`` (``binary``, ``levels`` or ``continuous``), ``binarize``
    (``stochastic`` or ``threshold``: the binarisation it learned), ``estimator`` (a sentence),
    and facts such as ``k``, ``ess``, ``log_z`` and ``log_z_bracket``, or a ``warning``.

    - binary (``discrete_likelihood`` without a protocol): a mass over binary pixels, scored on
      the held-out images binarised once with the evaluation seed (or thresholded at 0.5 when
      the model learned that); bits/dim = nll / (D ln 2).
    - levels: a mass over the 256 grey levels (k = round(255 x)); bits/dim = nll / (D ln 2).
    - continuous: a density over images, scored on the held-out images dequantized once with
      the evaluation seed, level k read as (k + u) / 256 with u ~ U[0, 1)^D (Theis et al. 2016):
      only then does ``(nll + D ln 256) / (D ln 2)`` bound the bits per dimension of the
      256-level data, as papers report them. At the undequantized points a density is higher
      than its bin average, and the figure would flatter the model.
    - noised: a density over the images plus Gaussian noise of std ``noise`` (a flow trained
      that way, Zhai et al. 2024), scored on the held-out images noised once with the
      evaluation seed; bits/dim as for a density, ``(nll + D ln 256) / (D ln 2)``, which bound
      nothing about the 256-level data and compare only with figures of the same noise.

    With ``log_z_bracket`` (an AIS estimate's +-3 standard errors on log Z) the values carry
    ``nll_low`` and ``nll_high``, the nll that each end of the bracket gives."""

    name = "nll"
    title = "Negative log-likelihood"
    description = "Held-out -log p(x): nats per example and bits per dimension, with the protocol"
    requires = frozenset({"log_prob"})

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        import torch

        from genstudio.metrics.context import call_model

        model, spec = ctx.model, ctx.spec
        protocol = _likelihood_protocol(model)
        discrete = bool(getattr(model, "discrete_likelihood", False))
        pixels = protocol.get("pixels") or ("binary" if discrete else "continuous")
        image = spec.kind == "image"
        threshold = protocol.get("binarize") == "threshold"
        gen = ctx.generator(offset=11)
        total, count = 0.0, 0
        for start in range(0, len(ctx.real_x), ctx.batch_size):
            x = ctx.to_device(ctx.real_x[start : start + ctx.batch_size])
            if image and pixels == "binary":
                x = (x > 0.5).to(x.dtype) if threshold else torch.bernoulli(x, generator=gen)
            elif image and pixels == "levels":
                x = torch.round(x.clamp(0, 1) * 255) / 255
            elif image and pixels == "noised":
                e = torch.randn(x.shape, generator=gen, device=gen.device).to(x.device)
                x = torch.round(x.clamp(0, 1) * 255) / 255 + float(protocol["noise"]) * e
            elif image:
                u = torch.rand(x.shape, generator=gen, device=gen.device).to(x.device)
                x = (torch.round(x.clamp(0, 1) * 255) + u) / 256
            lp = torch.as_tensor(call_model("log_prob", model.log_prob, x)).double().reshape(-1)
            if not torch.isfinite(lp).all():
                raise PluginError("the model's log_prob() returned NaN or infinite values")
            total += float(lp.sum())
            count += len(lp)
            ctx.progress("log-likelihood", count, len(ctx.real_x))
        nll = -total / count
        d = spec.dim
        protocol = _likelihood_protocol(model)  # again: an estimate (AIS) may be known only now
        mass = pixels not in ("continuous", "noised")
        data = {
            "binary": "binarised pixels ("
            + ("x > 0.5" if threshold else "drawn as Bernoulli(x) once with the evaluation seed")
            + "), a probability mass",
            "levels": "the 256 grey levels, a probability mass",
            "continuous": "dequantised continuous pixels, (k + u) / 256 with u ~ U[0, 1) once with the evaluation seed",
            "noised": f"the 256-level pixels plus Gaussian noise of std {protocol.get('noise', 0):g}, "
            "drawn once with the evaluation seed, a density",
        }[pixels]
        if not image:
            data = "a probability mass over discrete values" if discrete else "a density over data space"
        details = {
            "n": count,
            "discrete": mass,
            "binarized": image and pixels == "binary",
            "dequantized": image and pixels == "continuous",
            "dim": d,
            "protocol": f"{data}; {protocol.get('estimator', 'exact log_prob')}",
            **{k: v for k, v in protocol.items() if k not in ("pixels", "estimator")},
        }
        ctx.add_details(self.name, details)
        values = {"nll": nll}
        if image or discrete:
            values["bpd"] = float(core.bits_per_dim(nll, d, discrete=mass))
        else:
            values["nll_per_dim"] = nll / d
        bracket, log_z = protocol.get("log_z_bracket"), protocol.get("log_z")
        if bracket and log_z is not None:
            if bracket[0] is not None:
                values["nll_low"] = nll + bracket[0] - log_z
            values["nll_high"] = nll + bracket[1] - log_z
        return values


def _likelihood_protocol(model: Any) -> dict[str, Any]:
    from genstudio.metrics.context import call_model

    get = getattr(model, "likelihood_protocol", None)
    return dict(call_model("likelihood_protocol", get) or {}) if callable(get) else {}


class Memorisation(Metric):
    """Distance (Euclidean, in data space) from each sample to its nearest training example.
    ``nn_ratio`` divides the median of those distances by the median distance from held-out
    examples to their nearest training example: about 1 for a model that generalises, well
    below 1 for one that copies its training data (the idea of Meehan et al. 2020's
    data-copying test, in its simplest form). The closest pairs go in the details."""

    name = "memo"
    title = "Memorisation check"
    description = "Distance of each sample to its nearest training example, with the closest pairs"
    requires = frozenset({"train_data"})
    lower_is_better = False
    pairs = 8

    def compute(self, ctx: EvalContext) -> dict[str, float]:
        train = _flat_float(ctx.train_x)
        samples = ctx.samples.reshape(len(ctx.samples), -1).astype(np.float64)
        ctx.progress("nearest neighbours", 0, 2)
        dist, idx = core.nearest_neighbours(samples, train)
        values = {"nn_distance": float(dist.mean()), "nn_distance_min": float(dist.min())}
        if ctx.held_out:
            held, _ = core.nearest_neighbours(_flat_float(ctx.real_x), train)
            med = float(np.median(held))
            values["nn_ratio"] = float(np.median(dist)) / med if med > 0 else math.inf
        ctx.progress("nearest neighbours", 2, 2)
        order = np.argsort(dist, kind="stable")[: self.pairs]
        to_dataset = ctx.train_index if ctx.train_index is not None else np.arange(len(train))
        closest = [
            {"sample": int(i), "train_index": int(to_dataset[idx[i]]), "distance": float(dist[i])} for i in order
        ]
        ctx.add_details(self.name, {"closest": closest, "space": "data", "n_train": len(train)})
        return values


def _flat_float(x: np.ndarray) -> np.ndarray:
    out = x.reshape(len(x), -1)
    return out.astype(np.float64) / 255.0 if out.dtype == np.uint8 else out.astype(np.float64)


METRICS = (FID, KID, InceptionScore, PrecisionRecall, DensityCoverage, PerceptualPathLength, NegativeLogLikelihood)


@hookimpl
def genstudio_register_metrics(registry: Registry) -> None:
    for cls in (*METRICS, Memorisation):
        registry.add(cls)


@hookimpl
def genstudio_register_feature_extractors(registry: Registry) -> None:
    for cls in (InceptionExtractor, ClassifierExtractor, RawExtractor):
        registry.add(cls)
