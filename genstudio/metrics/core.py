"""The metrics as pure functions on arrays: FID, KID, IS, precision/recall, density/coverage,
path lengths, likelihoods in bits per dimension, and nearest training examples.

Inputs may be numpy arrays or torch tensors (any device); everything is computed in float64
with numpy. Feature arrays are ``(N, D)``; a 1-D array ``(N,)`` is ``N`` one-dimensional
features. Each estimator cites the paper (and equation) it comes from, and the reference
implementation whose conventions it follows where papers leave a choice open.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = [
    "bits_per_dim",
    "density_coverage",
    "feature_statistics",
    "fid",
    "frechet_distance",
    "inception_score",
    "kid",
    "kth_neighbour_distances",
    "nearest_neighbours",
    "non_finite_message",
    "path_length",
    "precision_recall",
]

#: Most entries of a pairwise-distance block held in memory at once (float64: 128 MB).
BLOCK = 1 << 24


def _rows(n_columns: int) -> int:
    """Rows per block of a distance matrix with ``n_columns`` columns."""
    return max(1, min(4096, BLOCK // max(1, n_columns)))


def as_float64(x: Any, name: str = "features") -> np.ndarray:
    """A numpy float64 array from a numpy array, a torch tensor (any device) or a list."""
    if hasattr(x, "detach"):  # a torch tensor; no torch import needed here
        x = x.detach().cpu().double().numpy()
    arr = np.asarray(x, dtype=np.float64)
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} hold NaN or infinite values")
    return arr


def _features(x: Any, name: str) -> np.ndarray:
    arr = as_float64(x, name)
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name} must be (N, D), not shaped {arr.shape}")
    if len(arr) == 0:
        raise ValueError(f"{name} are empty")
    return arr


def _pair(a: Any, b: Any, names: tuple[str, str] = ("a", "b")) -> tuple[np.ndarray, np.ndarray]:
    a, b = _features(a, names[0]), _features(b, names[1])
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"{names[0]} and {names[1]} differ in dimension: {a.shape[1]} and {b.shape[1]}")
    return a, b


# --------------------------------------------------------------------------------------
# Frechet distance (FID)


def feature_statistics(x: Any) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(D,)`` and covariance ``(D, D)`` of features ``(N, D)``, float64, with the
    unbiased ``N - 1`` denominator as ``np.cov`` (and every FID implementation) uses."""
    x = _features(x, "features")
    if len(x) < 2:
        raise ValueError("a covariance needs at least 2 examples")
    mu = x.mean(axis=0)
    xc = x - mu
    sigma = (xc.T @ xc) / (len(x) - 1)
    return mu, sigma


def _lower_congruence(lower: np.ndarray, s: np.ndarray, block: int = 128) -> np.ndarray:
    """The lower triangle of ``L^T S L`` for lower-triangular ``L`` and symmetric ``S``
    (the upper triangle is left zero or partly filled). Blocked so that the zeros of ``L``
    and the upper triangle of the result are never computed: about a third of the work of
    two full matrix products, with the same BLAS kernels."""
    n = len(lower)
    x = np.empty_like(s)
    for j in range(0, n, block):  # (S L)[:, j-block] = S[:, j:] L[j:, j-block]; S[:, j:] = S[j:, :]^T
        x[:, j : j + block] = s[j:, :].T @ lower[j:, j : j + block]
    m = np.zeros_like(s)
    for i in range(0, n, block):  # rows of the i-block, up to the diagonal: L[i:, i-block]^T (S L)[i:, :]
        m[i : i + block, : i + block] = lower[i:, i : i + block].T @ x[i:, : i + block]
    return m


def _sqrt_trace_product(sigma1: np.ndarray, sigma2: np.ndarray) -> float:
    """``tr sqrt(sigma1 sigma2)`` for symmetric positive semi-definite matrices.

    With any factor ``sigma2 = A A^T``, ``sigma1 sigma2`` is similar to ``A^T sigma1 A``,
    which is symmetric PSD: the trace of the square root is the sum of the square roots of
    its eigenvalues, from a symmetric eigen-solver (always real, defined for singular
    matrices). ``A`` is a Cholesky factor when one exists (cheap, and triangular, which
    :func:`_lower_congruence` exploits), else ``V diag(sqrt(w))`` from the eigendecomposition,
    which exists for every PSD matrix. This replaces the iterative ``sqrtm`` of the product
    that pytorch-fid uses, which can return complex noise or fail when the product is
    singular, and is several times faster.
    """
    for first, second in ((sigma1, sigma2), (sigma2, sigma1)):  # tr sqrt(S1 S2) = tr sqrt(S2 S1)
        try:
            lower = np.linalg.cholesky(second)
        except np.linalg.LinAlgError:  # singular: try the other, then eigenvectors
            continue
        m = _lower_congruence(lower, first)
        break
    else:
        w, v = np.linalg.eigh(sigma2)
        a = v * np.sqrt(np.clip(w, 0.0, None))
        m = a.T @ (sigma1 @ a)
    ev = np.linalg.eigvalsh(m, UPLO="L")
    return float(np.sqrt(np.clip(ev, 0.0, None)).sum())


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any) -> float:
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2) (Heusel et al. 2017, eq. 6;
    Dowson and Landau 1982): ``|mu1 - mu2|^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))``.

    Computed in float64 from eigenvalues (see :func:`_sqrt_trace_product`); exact for singular
    covariances. Tiny negative results from rounding are returned as 0.
    """
    mu1, mu2 = np.atleast_1d(as_float64(mu1, "mu1")), np.atleast_1d(as_float64(mu2, "mu2"))
    s1, s2 = np.atleast_2d(as_float64(sigma1, "sigma1")), np.atleast_2d(as_float64(sigma2, "sigma2"))
    d = mu1.shape[0]
    if mu1.shape != (d,) or mu2.shape != (d,) or s1.shape != (d, d) or s2.shape != (d, d):
        raise ValueError(f"shapes do not fit: mu1 {mu1.shape}, sigma1 {s1.shape}, mu2 {mu2.shape}, sigma2 {s2.shape}")
    diff = mu1 - mu2
    s1 = (s1 + s1.T) * 0.5
    s2 = (s2 + s2.T) * 0.5
    value = float(diff @ diff) + float(np.trace(s1)) + float(np.trace(s2)) - 2.0 * _sqrt_trace_product(s1, s2)
    return max(value, 0.0)


def fid(a: Any, b: Any) -> float:
    """Frechet Inception Distance (Heusel et al. 2017) between two feature sets ``(N, D)``:
    the Frechet distance between Gaussians fitted to each (mean and unbiased covariance)."""
    a, b = _pair(a, b)
    return frechet_distance(*feature_statistics(a), *feature_statistics(b))


# --------------------------------------------------------------------------------------
# Kernel Inception Distance (KID)


def _poly_kernel(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cubic polynomial kernel ``k(x, y) = (x . y / d + 1)^3`` (Binkowski et al. 2018, sec. 4)."""
    return (x @ y.T / x.shape[1] + 1.0) ** 3


def _mmd2_unbiased(kxx: np.ndarray, kxy: np.ndarray, kyy: np.ndarray) -> float:
    """Unbiased MMD^2 estimate from kernel blocks of m examples each (Gretton et al. 2012,
    eq. 3; as in Binkowski et al.'s and torch-fidelity's code: the cross term keeps its diagonal)."""
    m = kxx.shape[0]
    sum_xx = kxx.sum() - np.trace(kxx)
    sum_yy = kyy.sum() - np.trace(kyy)
    return float((sum_xx + sum_yy) / (m * (m - 1)) - 2.0 * kxy.sum() / (m * m))


#: Largest number of examples for which KID precomputes the full kernel matrices
#: (three N x N float64 blocks, 600 MB at this size).
KID_FULL_KERNEL_MAX = 5000


def kid(a: Any, b: Any, subsets: int = 100, subset_size: int = 1000, seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Binkowski et al. 2018): the unbiased MMD^2 with the cubic
    polynomial kernel, averaged over ``subsets`` random subsets of ``subset_size`` examples
    drawn without replacement from each set. Returns ``(mean, std)`` over the subsets
    (population std, as torch-fidelity).

    Subsets are drawn as torch-fidelity draws them: ``rng = np.random.RandomState(seed)``, then
    for each subset ``rng.choice(len(a), m, replace=False)`` and likewise for ``b``; the same
    seed gives the same subsets and so the same value. ``subset_size`` larger than either set
    is reduced to the smaller set's size (the estimate stays unbiased; only its variance grows).
    When that size is both sets' whole size, every subset is the two whole sets, reordered: the
    estimate is computed once and its spread is 0 (computed a hundred times, it differed only
    by rounding, 1e-16, which read as a spread).
    """
    a, b = _pair(a, b)
    if subsets < 1:
        raise ValueError("subsets must be at least 1")
    m = min(int(subset_size), len(a), len(b))
    if m < 2:
        raise ValueError("KID needs at least 2 examples in each set")
    if m == len(a) == len(b):
        return float(_mmd2_unbiased(_poly_kernel(a, a), _poly_kernel(a, b), _poly_kernel(b, b))), 0.0
    rng = np.random.RandomState(seed)
    full = max(len(a), len(b)) <= KID_FULL_KERNEL_MAX and subsets * m * m > len(a) * len(b)
    if full:  # every subset is a block of the same three matrices: compute them once
        kaa, kbb, kab = _poly_kernel(a, a), _poly_kernel(b, b), _poly_kernel(a, b)
    mmds = np.empty(subsets)
    for i in range(subsets):
        ia = rng.choice(len(a), m, replace=False)
        ib = rng.choice(len(b), m, replace=False)
        if full:
            mmds[i] = _mmd2_unbiased(kaa[np.ix_(ia, ia)], kab[np.ix_(ia, ib)], kbb[np.ix_(ib, ib)])
        else:
            x, y = a[ia], b[ib]
            mmds[i] = _mmd2_unbiased(_poly_kernel(x, x), _poly_kernel(x, y), _poly_kernel(y, y))
    return float(mmds.mean()), float(mmds.std())


# --------------------------------------------------------------------------------------
# Inception Score (IS)


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def inception_score(logits: Any, splits: int = 10) -> tuple[float, float]:
    """Inception Score (Salimans et al. 2016, sec. 4): ``exp(E_x KL(p(y|x) || p(y)))`` from class
    logits ``(N, K)``, computed on ``splits`` consecutive parts in order (no shuffling), part
    ``i`` being rows ``i * N // splits`` to ``(i + 1) * N // splits`` as in the original code
    and torch-fidelity. Returns ``(mean, std)`` over the parts (population std)."""
    logits = _features(logits, "logits")
    n = len(logits)
    if not 1 <= splits <= n:
        raise ValueError(f"splits must be between 1 and the number of examples ({n}), not {splits}")
    log_p = _log_softmax(logits)
    p = np.exp(log_p)
    scores = []
    for i in range(splits):
        lo, hi = i * n // splits, (i + 1) * n // splits
        part, log_part = p[lo:hi], log_p[lo:hi]
        # log p(y) = logsumexp_x log p(y|x) - log n: log(mean(p)) is -inf where every p(y|x) of
        # the part underflows to 0, and 0 * (-inf - -inf) is NaN; the log-sum-exp stays finite
        top = log_part.max(axis=0, keepdims=True)
        log_marginal = top + np.log(np.exp(log_part - top).sum(axis=0, keepdims=True)) - math.log(hi - lo)
        kl = (part * (log_part - log_marginal)).sum(axis=1).mean()
        scores.append(math.exp(kl))
    return float(np.mean(scores)), float(np.std(scores))


# --------------------------------------------------------------------------------------
# k-nearest-neighbour manifolds: precision/recall, density/coverage


def _sq_norms(x: np.ndarray) -> np.ndarray:
    return np.einsum("ij,ij->i", x, x)


def _sq_distances(x: np.ndarray, y: np.ndarray, x2: np.ndarray, y2: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances ``(len(x), len(y))``, float64, clipped at 0."""
    d = x2[:, None] + y2[None, :] - 2.0 * (x @ y.T)
    return np.maximum(d, 0.0, out=d)


def kth_neighbour_distances(x: Any, k: int) -> np.ndarray:
    """Distance from each row of ``x`` to its k-th nearest other row ``(N,)``: the (k+1)-th
    smallest distance, counting the row itself at 0 (so duplicates count as neighbours)."""
    x = _features(x, "features")
    if not 1 <= k < len(x):
        raise ValueError(f"k must be between 1 and N - 1 = {len(x) - 1}, not {k}")
    x2 = _sq_norms(x)
    out = np.empty(len(x))
    step = _rows(len(x))
    for start in range(0, len(x), step):
        d = _sq_distances(x[start : start + step], x, x2[start : start + step], x2)
        out[start : start + step] = np.partition(d, k, axis=1)[:, k]
    return np.sqrt(out)


def _ball_counts(points: np.ndarray, centres: np.ndarray, radii: np.ndarray, strict: bool) -> np.ndarray:
    """For each point, how many balls ``B(centre, radius)`` hold it ``(len(points),)``."""
    r2 = radii**2
    p2, c2 = _sq_norms(points), _sq_norms(centres)
    out = np.empty(len(points), dtype=np.int64)
    step = _rows(len(centres))
    for start in range(0, len(points), step):
        d = _sq_distances(points[start : start + step], centres, p2[start : start + step], c2)
        inside = d < r2[None, :] if strict else d <= r2[None, :]
        out[start : start + step] = inside.sum(axis=1)
    return out


def precision_recall(real: Any, fake: Any, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkaanniemi et al. 2019, eq. 1-2). Each set's manifold
    is the union of balls around its examples reaching their k-th nearest neighbour in the
    set. Precision: share of ``fake`` inside the real manifold; recall: share of ``real``
    inside the fake manifold. A point on a ball's boundary is inside, as in torch-fidelity."""
    real, fake = _pair(real, fake, ("real", "fake"))
    precision = (_ball_counts(fake, real, kth_neighbour_distances(real, k), strict=False) > 0).mean()
    recall = (_ball_counts(real, fake, kth_neighbour_distances(fake, k), strict=False) > 0).mean()
    return float(precision), float(recall)


def density_coverage(real: Any, fake: Any, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020, eq. 3-4), with balls around the real examples
    only. Density: mean number of real balls holding each fake example, divided by k (about
    1 when the sets match; it counts how crowded, not only whether). Coverage: share of real
    examples whose ball holds at least one fake example. Boundaries are outside (strict
    ``<``), as in the authors' ``prdc`` package."""
    real, fake = _pair(real, fake, ("real", "fake"))
    radii = kth_neighbour_distances(real, k)
    density = _ball_counts(fake, real, radii, strict=True).sum() / (k * len(fake))
    # coverage: is the nearest fake example of each real one inside its ball?
    nearest = nearest_neighbours(real, fake)[0]
    coverage = (nearest < radii).mean()
    return float(density), float(coverage)


def nearest_neighbours(queries: Any, reference: Any) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``queries``, the Euclidean distance to its nearest row of ``reference``
    and that row's index: ``(distances (N,) float64, indices (N,) int64)``. Memorisation
    checks call it with generated samples and the training set."""
    q, r = _pair(queries, reference, ("queries", "reference"))
    q2, r2 = _sq_norms(q), _sq_norms(r)
    dist = np.empty(len(q))
    index = np.empty(len(q), dtype=np.int64)
    step = _rows(len(r))
    for start in range(0, len(q), step):
        d = _sq_distances(q[start : start + step], r, q2[start : start + step], r2)
        j = d.argmin(axis=1)
        index[start : start + step] = j
        dist[start : start + step] = d[np.arange(len(j)), j]
    return np.sqrt(dist), index


# --------------------------------------------------------------------------------------
# Perceptual path length (PPL)


def slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray | float) -> np.ndarray:
    """Spherical interpolation between rows of ``a`` and ``b`` (Shoemake 1985), as StyleGAN
    interpolates in Z; falls back to linear where the rows are (anti)parallel or zero."""
    t = np.asarray(t, dtype=np.float64).reshape(-1, 1) if np.ndim(t) else float(t)
    na, nb = np.linalg.norm(a, axis=1, keepdims=True), np.linalg.norm(b, axis=1, keepdims=True)
    safe = (na > 1e-12) & (nb > 1e-12)
    cos = np.clip((a * b).sum(axis=1, keepdims=True) / np.where(safe, na * nb, 1.0), -1.0, 1.0)
    omega = np.arccos(cos)
    so = np.sin(omega)
    lerp = a + (b - a) * t
    use = safe & (so > 1e-7)
    so = np.where(use, so, 1.0)
    out = (np.sin((1.0 - t) * omega) * a + np.sin(t * omega) * b) / so
    return np.where(use, out, lerp)


def path_length(
    decode: Callable[[np.ndarray], Any],
    distance: Callable[[Any, Any], Any],
    z0: Any,
    z1: Any,
    *,
    epsilon: float = 1e-4,
    t: Any = None,
    interpolation: str = "slerp",
    discard: tuple[float, float] | None = (1.0, 99.0),
    batch_size: int = 256,
) -> tuple[float, float, np.ndarray]:
    """Perceptual path length (Karras et al. 2019, StyleGAN, eq. 3): the mean of
    ``d(G(i(z0, z1; t)), G(i(z0, z1; t + eps))) / eps^2`` over pairs of latent codes.

    :param decode: latent codes ``(B, L)`` float64 numpy -> images or vectors (any array).
    :param distance: two decoded batches -> ``(B,)`` distances. StyleGAN uses LPIPS; GenStudio
        uses the squared Euclidean distance between the chosen extractor's features.
    :param t: positions ``(N,)`` in [0, 1] (StyleGAN's full-path sampling draws them
        uniformly); ``None`` compares the endpoints ``t = 0`` and ``t = eps`` (torch-fidelity's
        default, and StyleGAN's ``sampling='end'``).
    :param interpolation: ``"slerp"`` (StyleGAN in Z) or ``"lerp"``.
    :param discard: percentiles outside which distances are dropped before averaging, as
        StyleGAN does (1 and 99; the low bound taken with ``interpolation='lower'``, the high
        one with ``'higher'`` as torch-fidelity); ``None`` keeps all.
    :return: ``(mean, std, distances)``, the distances ``(N,)`` before discarding.
    """
    z0, z1 = as_float64(z0, "z0"), as_float64(z1, "z1")
    if z0.shape != z1.shape or z0.ndim != 2:
        raise ValueError(f"z0 and z1 must both be (N, L), not {z0.shape} and {z1.shape}")
    if interpolation not in ("slerp", "lerp"):
        raise ValueError(f"interpolation must be 'slerp' or 'lerp', not {interpolation!r}")
    interp = slerp if interpolation == "slerp" else (lambda a, b, s: a + (b - a) * np.reshape(s, (-1, 1)))
    if t is None:
        ta, tb = np.zeros(len(z0)), np.full(len(z0), float(epsilon))
    else:
        ta = as_float64(t, "t").reshape(-1)
        tb = ta + float(epsilon)
    za, zb = interp(z0, z1, ta), interp(z0, z1, tb)
    out = []
    for start in range(0, len(z0), batch_size):
        stop = start + batch_size
        xa, xb = decode(za[start:stop]), decode(zb[start:stop])
        out.append(as_float64(distance(xa, xb), "distances").reshape(-1))
    dist = np.concatenate(out) / float(epsilon) ** 2
    kept = dist
    if discard is not None:
        lo = np.percentile(dist, discard[0], method="lower")
        hi = np.percentile(dist, discard[1], method="higher")
        kept = dist[(dist >= lo) & (dist <= hi)]
    return float(kept.mean()), float(kept.std()), dist


# --------------------------------------------------------------------------------------
# Likelihoods


LN2 = math.log(2.0)


def bits_per_dim(nll: Any, dim: int, *, discrete: bool, levels: int = 256) -> Any:
    """Negative log-likelihood in nats per example -> bits per dimension.

    A probability mass over discrete values (``discrete=True``: binarised pixels, categories)
    converts directly: ``nll / (D ln 2)``. A density over data scaled to [0, 1]^D is first
    made a density over the ``levels`` (256) integer pixel values, the convention of
    Theis et al. 2016 and every bits/dim table since (Dinh et al. 2017; Ho et al. 2020):
    ``(nll + D ln levels) / (D ln 2)``. The density of uniformly dequantised data bounds the
    discrete model's ``-log2 P`` from above, so these figures compare with papers'.
    """
    nll = as_float64(nll, "nll") if not isinstance(nll, (int, float)) else float(nll)
    d = float(dim)
    if discrete:
        return nll / (d * LN2)
    return (nll + d * math.log(levels)) / (d * LN2)


# --------------------------------------------------------------------------------------
# Samples a model should never produce


def non_finite_message(x: Any, *, offset: int = 0, temperature: float | None = None) -> str | None:
    """``None`` when every value of ``x`` (N, ...) is finite; else a sentence naming the
    samples (rows, counted from ``offset``) that hold NaN or infinite values, and the sampling
    temperature when one is given, for the error a front end shows."""
    arr = np.asarray(x)
    bad = np.flatnonzero(~np.isfinite(arr.reshape(len(arr), -1)).all(1)) if arr.size else np.empty(0, int)
    if not len(bad):
        return None
    shown = ", ".join(str(int(i) + offset) for i in bad[:10]) + (", ..." if len(bad) > 10 else "")
    at = f" at temperature {temperature:g}" if temperature is not None else ""
    return f"{len(bad)} of {len(arr)} samples hold NaN or infinite values{at} (sample {shown})"
