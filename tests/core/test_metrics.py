"""The metrics on arrays agree with the reference implementations to a relative 1e-6.

Each case draws seeded inputs and checks GenStudio twice: against the value the reference
library gave when these tests were written (recorded below with its seed, so the test guards
regressions on a machine without the libraries), and live against the library when it is
importable (the dev set-up installs pytorch-fid, torch-fidelity, torchmetrics and prdc).
Those libraries import torchvision, which has no CPU build here: :func:`_without_torchvision`
stands in for it, since the functions compared never touch it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.abc
import importlib.machinery
import io
import math
import sys
import types

import numpy as np
import pytest
import torch

from genstudio.metrics import (
    bits_per_dim,
    density_coverage,
    feature_statistics,
    fid,
    frechet_distance,
    inception_score,
    kid,
    kth_neighbour_distances,
    nearest_neighbours,
    path_length,
    precision_recall,
)

REL = 1e-6


def close(a: float, b: float, rel: float = REL) -> bool:
    return math.isclose(a, b, rel_tol=rel, abs_tol=1e-12)


def sets(seed: int, na: int, nb: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    """Two feature sets: standard normal, and a scaled and shifted normal."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal((na, d)), 1.1 * rng.standard_normal((nb, d)) + 0.1


def exact_fid(a: np.ndarray, b: np.ndarray) -> float:
    """FID from the centred features themselves: ``tr sqrt(S1 S2)`` is the nuclear norm of
    ``A B^T`` when ``S1 = A^T A`` and ``S2 = B^T B``; an SVD of an N x M matrix, well
    conditioned whatever the covariances' rank. An independent check of the eigenvalue route."""
    ac = (a - a.mean(0)) / math.sqrt(len(a) - 1)
    bc = (b - b.mean(0)) / math.sqrt(len(b) - 1)
    d = a.mean(0) - b.mean(0)
    nuclear = np.linalg.svd(ac @ bc.T, compute_uv=False).sum()
    return float(d @ d + (ac * ac).sum() + (bc * bc).sum() - 2 * nuclear)


# -- the reference libraries, when installed ------------------------------------------------


class _Stub(types.ModuleType):
    """Any attribute: a submodule, or (capitalised) an empty nn.Module class to subclass."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        if name[:1].isupper():
            obj = type(name, (torch.nn.Module,), {})
        else:
            obj = _Stub(f"{self.__name__}.{name}")
            obj.__path__ = []
            sys.modules[obj.__name__] = obj
        setattr(self, name, obj)
        return obj


class _StubFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    def __init__(self, roots: tuple[str, ...]):
        self.roots = roots

    def find_spec(self, name, path, target=None):
        if name.split(".")[0] in self.roots:
            return importlib.machinery.ModuleSpec(name, self, is_package=True)
        return None

    def create_module(self, spec):
        module = _Stub(spec.name)
        module.__path__ = []
        return module

    def exec_module(self, module):
        pass


@contextlib.contextmanager
def _without_torchvision():
    """Import the reference libraries on a machine without torchvision (or scikit-learn,
    which prdc imports for one function: scipy's cdist stands in for it)."""
    stubbed = tuple(r for r in ("torchvision",) if importlib.util.find_spec(r) is None)
    finder = _StubFinder(stubbed)
    sys.meta_path.insert(0, finder)
    added = []
    if importlib.util.find_spec("sklearn") is None and importlib.util.find_spec("scipy") is not None:
        from scipy.spatial.distance import cdist

        metrics = types.ModuleType("sklearn.metrics")
        metrics.pairwise_distances = lambda x, y=None, metric="euclidean", n_jobs=None: cdist(x, x if y is None else y)
        sk = types.ModuleType("sklearn")
        sk.metrics = metrics
        sys.modules.update({"sklearn": sk, "sklearn.metrics": metrics})
        added = ["sklearn", "sklearn.metrics"]
    try:
        yield
    finally:
        sys.meta_path.remove(finder)
        for name in list(sys.modules):
            if name.split(".")[0] in stubbed:
                del sys.modules[name]
        for name in added:
            sys.modules.pop(name, None)


def reference(module: str, attr: str):
    """``module.attr`` from a reference library, or skip the test when it is not installed."""
    if importlib.util.find_spec(module.split(".")[0]) is None:
        pytest.skip(f"{module.split('.')[0]} is not installed (the dev set-up installs it)")
    with _without_torchvision():
        return getattr(importlib.import_module(module), attr)


def pytorch_fid(a: np.ndarray, b: np.ndarray) -> float:
    fn = reference("pytorch_fid.fid_score", "calculate_frechet_distance")
    with contextlib.redirect_stdout(io.StringIO()):
        return float(fn(*feature_statistics(a), *feature_statistics(b)))


def torchmetrics_fid(a: np.ndarray, b: np.ndarray) -> float:
    fn = reference("torchmetrics.image.fid", "_compute_fid")
    stats = [torch.from_numpy(v) for v in (*feature_statistics(a), *feature_statistics(b))]
    return float(fn(*stats))


# -- FID -----------------------------------------------------------------------------------

#: (seed, N_a, N_b, D) -> FID from pytorch-fid 0.3.0 (scipy 1.15.3) and torchmetrics 1.9.0
FID_CASES = {
    "general": ((1, 600, 500, 64), 5.908514723392955, 5.908514723393097),
    "n_smaller_than_d": ((2, 40, 50, 64), 57.08848902273411, 57.088489110169746),
    "one_dimensional": ((3, 300, 200, 1), 0.01930006498547554, 0.01930006498547554),
    "d256": ((4, 700, 600, 256), 62.27613574780082, 62.27613574780116),
}


@pytest.mark.parametrize("case", list(FID_CASES))
def test_fid_matches_recorded_references(case):
    (seed, na, nb, d), by_pytorch_fid, by_torchmetrics = FID_CASES[case]
    a, b = sets(seed, na, nb, d)
    value = fid(a, b)
    assert close(value, by_pytorch_fid), (value, by_pytorch_fid)
    assert close(value, by_torchmetrics), (value, by_torchmetrics)
    assert close(value, exact_fid(a, b))


@pytest.mark.parametrize("case", list(FID_CASES))
def test_fid_matches_pytorch_fid_and_torchmetrics_live(case):
    (seed, na, nb, d), _, _ = FID_CASES[case]
    a, b = sets(seed, na, nb, d)
    assert close(fid(a, b), pytorch_fid(a, b))
    assert close(fid(a, b), torchmetrics_fid(a, b))


def test_fid_of_a_set_with_itself_is_zero():
    a, _ = sets(1, 600, 500, 64)
    assert fid(a, a) == pytest.approx(0.0, abs=1e-9)
    small, _ = sets(2, 10, 10, 64)  # singular covariance too
    assert fid(small, small) == pytest.approx(0.0, abs=1e-9)


#: (seed, N, D) -> FID of the first set of ``sets`` with itself, 0 in exact arithmetic, from
#: pytorch-fid 0.3.0 (scipy 1.15.3) and torchmetrics 1.9.0, and the tolerance's scale (below)
SAME_CASES = {
    "full_rank": ((1, 600, 64), -5.684341886080802e-14, 2.842170943040401e-14, 1e-12),
    "n_smaller_than_d": ((2, 10, 64), -4.156869550797637e-06, -4.416891357550412e-06, REL),
}


def same_tolerance(x: np.ndarray, scale: float) -> float:
    """Absolute tolerance for an FID that is 0: a relative one would demand exact zeros. The
    FID here is tr S + tr S - 2 tr sqrt(S S), terms near 2 tr S (126 and 130 for these sets)
    cancelling, so the tolerance is ``scale`` times 2 tr S. Full rank: scipy's sqrtm is
    accurate to rounding, the references land within 4.5e-16 of 2 tr S from 0, and ``scale`` is
    1e-12. N < D: S S is singular, and a square root's error at a zero eigenvalue is the square
    root of the rounding there (about 1e-8 relative, summed over the 55 null directions): the
    references land 3.2e-8 and 3.4e-8 of 2 tr S below 0, so ``scale`` is the suite's 1e-6
    (1.3e-4 here). GenStudio gives 0 in both cases; a negative FID is returned as 0."""
    return scale * 2 * float(np.trace(feature_statistics(x)[1]))


@pytest.mark.parametrize("case", list(SAME_CASES))
def test_fid_of_a_set_with_itself_matches_recorded_references(case):
    (seed, n, d), by_pytorch_fid, by_torchmetrics, scale = SAME_CASES[case]
    a, _ = sets(seed, n, n, d)
    tol = same_tolerance(a, scale)
    value = fid(a, a)
    assert abs(value - by_pytorch_fid) <= tol, (value, by_pytorch_fid, tol)
    assert abs(value - by_torchmetrics) <= tol, (value, by_torchmetrics, tol)
    assert abs(value - exact_fid(a, a)) <= tol


@pytest.mark.parametrize("case", list(SAME_CASES))
def test_fid_of_a_set_with_itself_matches_pytorch_fid_and_torchmetrics_live(case):
    (seed, n, d), _, _, scale = SAME_CASES[case]
    a, _ = sets(seed, n, n, d)
    tol = same_tolerance(a, scale)
    value = fid(a, a)
    assert abs(value - pytorch_fid(a, a)) <= tol, (value, pytorch_fid(a, a), tol)
    assert abs(value - torchmetrics_fid(a, a)) <= tol, (value, torchmetrics_fid(a, a), tol)


def singular_sets() -> tuple[np.ndarray, np.ndarray]:
    """Seed 5, 400 x 32 each, a constant feature and a duplicated one: both covariances are
    singular whatever N is."""
    a, b = sets(5, 400, 400, 32)
    a[:, 3] = 0.0
    a[:, 7] = a[:, 6]
    b[:, 3] = 0.0
    return a, b


def test_fid_with_singular_covariances():
    a, b = singular_sets()
    _, s1 = feature_statistics(a)
    assert np.linalg.matrix_rank(s1) < 32
    value = fid(a, b)
    assert math.isfinite(value)
    assert close(value, 3.519861340564802)  # pytorch-fid 0.3.0, recorded
    assert close(value, 3.519861351564785)  # torchmetrics 1.9.0, recorded
    assert close(value, exact_fid(a, b))


def test_fid_with_singular_covariances_matches_pytorch_fid_and_torchmetrics_live():
    a, b = singular_sets()
    value = fid(a, b)
    assert close(value, pytorch_fid(a, b)), (value, pytorch_fid(a, b))
    assert close(value, torchmetrics_fid(a, b)), (value, torchmetrics_fid(a, b))


def test_fid_with_rank_one_covariances_is_exact():
    # two sets on lines: covariances of rank 1, products nilpotent-free but singular
    t = np.linspace(-1, 1, 50)[:, None]
    a = t @ np.array([[1.0, 0.0, 0.0]])
    b = t @ np.array([[0.0, 2.0, 0.0]]) + 0.5
    assert close(fid(a, b), exact_fid(a, b))


def test_the_cholesky_and_eigenvector_routes_agree(monkeypatch):
    from genstudio.metrics.core import _lower_congruence

    rng = np.random.default_rng(8)
    s = np.cov(rng.standard_normal((60, 30)), rowvar=False)
    lower = np.linalg.cholesky(np.cov(rng.standard_normal((50, 30)), rowvar=False))
    blocked = _lower_congruence(lower, s, block=7)
    assert np.allclose(np.tril(blocked), np.tril(lower.T @ s @ lower), rtol=1e-12, atol=1e-14)
    a, b = sets(1, 600, 500, 64)
    fast = fid(a, b)

    def singular(x):
        raise np.linalg.LinAlgError("as if singular")

    monkeypatch.setattr(np.linalg, "cholesky", singular)
    assert close(fid(a, b), fast, 1e-10)


def test_frechet_distance_from_statistics_and_validation():
    a, b = sets(1, 600, 500, 64)
    mu1, s1 = feature_statistics(a)
    mu2, s2 = feature_statistics(b)
    assert frechet_distance(mu1, s1, mu2, s2) == fid(a, b)
    # torch tensors (float32) are accepted and computed in float64
    value = frechet_distance(*(torch.from_numpy(v) for v in (mu1, s1, mu2, s2)))
    assert close(value, fid(a, b))
    # 1-D statistics as scalars: N(0, 1) and N(1, 4): 1 + 1 + 4 - 2 * 2 = 2
    assert frechet_distance(0.0, 1.0, 1.0, 4.0) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(mu1, s1, mu2[:3], s2)
    with pytest.raises(ValueError, match="NaN"):
        fid(np.full((3, 2), np.nan), a[:, :2])
    assert np.allclose(s1, np.cov(a, rowvar=False), rtol=0, atol=1e-14)


# -- KID -----------------------------------------------------------------------------------

KID_RECORDED = (0.040370620183534725, 0.01328820188948104)  # torch-fidelity 0.4.0, seed 3


def torch_fidelity_kid(a, b, subsets, subset_size, seed):
    fn = reference("torch_fidelity.metric_kid", "kid_features_to_metric")
    return fn(
        torch.from_numpy(a),
        torch.from_numpy(b),
        kid_subsets=subsets,
        kid_subset_size=subset_size,
        rng_seed=seed,
        verbose=False,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1.0,
    )


def test_kid_matches_torch_fidelity_recorded_and_live():
    a, b = sets(1, 600, 500, 64)
    mean, std = kid(a, b, subsets=20, subset_size=100, seed=3)
    assert close(mean, KID_RECORDED[0]) and close(std, KID_RECORDED[1])
    ref = torch_fidelity_kid(a, b, 20, 100, 3)
    assert close(mean, ref["kernel_inception_distance_mean"])
    assert close(std, ref["kernel_inception_distance_std"])
    # subsets that are both whole sets: torch-fidelity's value, computed once, and no spread
    # (torch-fidelity's is rounding's)
    whole = kid(a[:100], b[:100], subsets=20, subset_size=100, seed=3)
    ref = torch_fidelity_kid(a[:100], b[:100], 20, 100, 3)
    assert close(whole[0], ref["kernel_inception_distance_mean"])
    assert whole[1] == 0.0 and ref["kernel_inception_distance_std"] < 1e-12


def test_kid_full_kernel_and_per_subset_paths_agree(monkeypatch):
    import genstudio.metrics.core as core

    a, b = sets(7, 120, 150, 8)
    full = kid(a, b, subsets=30, subset_size=50, seed=1)
    monkeypatch.setattr(core, "KID_FULL_KERNEL_MAX", 0)
    per_subset = kid(a, b, subsets=30, subset_size=50, seed=1)
    assert close(full[0], per_subset[0], 1e-10) and close(full[1], per_subset[1], 1e-10)


def test_kid_is_near_zero_for_one_distribution_and_seeded():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((400, 16)), rng.standard_normal((400, 16))
    mean, std = kid(a, b, subsets=50, subset_size=200)
    assert abs(mean) < 3 * std + 1e-3
    assert kid(a, b, subsets=5, subset_size=100, seed=4) == kid(a, b, subsets=5, subset_size=100, seed=4)
    far = kid(a, b + 1.0, subsets=5, subset_size=100)[0]
    assert far > 10 * abs(mean)
    # a subset larger than a set shrinks to it
    assert kid(a[:30], b, subsets=3, subset_size=1000)[0] == kid(a[:30], b, subsets=3, subset_size=30)[0]


# -- Inception Score -----------------------------------------------------------------------

IS_RECORDED = (3.920972617151949, 0.2549573398381278)  # torch-fidelity 0.4.0, shuffle off, seed 6


def test_inception_score_matches_torch_fidelity():
    logits = np.random.default_rng(6).standard_normal((1003, 10)) * 3
    mean, std = inception_score(logits, splits=10)
    assert close(mean, IS_RECORDED[0]) and close(std, IS_RECORDED[1])
    fn = reference("torch_fidelity.metric_isc", "isc_features_to_metric")
    ref = fn(torch.from_numpy(logits), 10, shuffle=False)
    assert close(mean, ref["inception_score_mean"]) and close(std, ref["inception_score_std"])


def test_inception_score_splits_in_order_without_shuffling():
    # first half: confident in class 0 only; second half: confident, all classes -> split 1
    # scores 1, split 2 scores K. Shuffling would mix them.
    k = 4
    first = np.tile(np.array([[20.0, 0, 0, 0]]), (8, 1))
    second = np.repeat(np.eye(k) * 20.0, 2, axis=0)
    mean, std = inception_score(np.concatenate([first, second]), splits=2)
    assert mean == pytest.approx((1.0 + k) / 2, rel=1e-6)
    assert std == pytest.approx((k - 1.0) / 2, rel=1e-6)
    # one split: uniform predictions score 1, perfectly confident and balanced ones score K
    assert inception_score(np.zeros((10, 5)), splits=1)[0] == pytest.approx(1.0)
    assert inception_score(np.eye(5) * 50, splits=1)[0] == pytest.approx(5.0, rel=1e-6)
    # parts are rows i*N//splits to (i+1)*N//splits: with 5 rows and 2 splits, 2 and 3 rows
    logits = np.random.default_rng(0).standard_normal((5, 3))
    parts = [inception_score(logits[:2], 1)[0], inception_score(logits[2:], 1)[0]]
    assert inception_score(logits, 2)[0] == pytest.approx(np.mean(parts), rel=1e-12)
    with pytest.raises(ValueError, match="splits"):
        inception_score(logits, splits=6)


def test_inception_score_stays_finite_when_a_class_probability_underflows():
    # class 2's probability is exp(-1000) in every example: 0 in float64. log(mean(p)) was -inf
    # there and 0 * inf made the score NaN; the log-sum-exp marginal keeps the exact answer
    logits = np.array([[20.0, 0.0, -1000.0], [0.0, 20.0, -1000.0]] * 4)
    mean, std = inception_score(logits, splits=2)
    assert np.isfinite(mean) and np.isfinite(std)
    assert mean == pytest.approx(inception_score(logits[:, :2], splits=2)[0], rel=1e-9)
    assert mean == pytest.approx(2.0, rel=1e-6)


# -- precision/recall, density/coverage ---------------------------------------------------

PR_RECORDED = (0.2460000067949295, 0.9066666960716248)  # torch-fidelity 0.4.0 (float32 means)
DC_RECORDED = (0.21600000000000003, 0.5166666666666667)  # prdc 0.2


def test_precision_recall_matches_torch_fidelity():
    real, fake = sets(1, 600, 500, 64)
    precision, recall = precision_recall(real, fake, k=3)
    assert close(precision, PR_RECORDED[0]) and close(recall, PR_RECORDED[1])
    fn = reference("torch_fidelity.metric_prc", "prc_features_to_metric")
    # torch-fidelity's convention: features_1 generated, features_2 real
    ref = fn(
        torch.from_numpy(fake),
        torch.from_numpy(real),
        prc_neighborhood=3,
        prc_batch_size=10000,
        save_cpu_ram=False,
        verbose=False,
    )
    assert close(precision, ref["precision"]) and close(recall, ref["recall"])


def test_density_coverage_matches_prdc():
    real, fake = sets(1, 600, 500, 64)
    density, coverage = density_coverage(real, fake, k=5)
    assert close(density, DC_RECORDED[0]) and close(coverage, DC_RECORDED[1])
    fn = reference("prdc", "compute_prdc")
    with contextlib.redirect_stdout(io.StringIO()):
        ref = fn(real, fake, 5)
    assert close(density, float(ref["density"])) and close(coverage, float(ref["coverage"]))


def test_precision_recall_density_coverage_on_known_sets():
    rng = np.random.default_rng(3)
    real = rng.standard_normal((300, 2))
    assert precision_recall(real, real, k=3) == (1.0, 1.0)
    far = real + 100.0
    assert precision_recall(real, far, k=3) == (0.0, 0.0)
    # samples collapsed onto one real point: precise, with no recall
    collapsed = np.repeat(real[:1], 50, axis=0)
    precision, recall = precision_recall(real, collapsed, k=3)
    assert precision == 1.0 and recall < 0.05
    density, coverage = density_coverage(real, far, k=5)
    assert (density, coverage) == (0.0, 0.0)
    density, coverage = density_coverage(real, rng.standard_normal((3000, 2)), k=5)
    assert 0.8 < density < 1.2 and coverage > 0.95


def test_knn_radii_count_duplicates_and_validate_k():
    x = np.array([[0.0], [0.0], [1.0], [3.0]])
    # nearest other point of the first is its duplicate, at distance 0
    assert kth_neighbour_distances(x, 1).tolist() == [0.0, 0.0, 1.0, 2.0]
    assert kth_neighbour_distances(x, 2).tolist() == [1.0, 1.0, 1.0, 3.0]
    with pytest.raises(ValueError, match="k must be"):
        kth_neighbour_distances(x, 4)


# -- memorisation ----------------------------------------------------------------------------


def test_nearest_neighbours_finds_copies():
    rng = np.random.default_rng(0)
    train = rng.standard_normal((500, 10))
    samples = np.concatenate([train[[7, 42]] + 1e-6, rng.standard_normal((20, 10)) + 3.0])
    dist, idx = nearest_neighbours(samples, train)
    assert idx[:2].tolist() == [7, 42]
    assert dist[:2].max() < 1e-5 and dist[2:].min() > 0.1
    brute = np.sqrt(((samples[:, None] - train[None]) ** 2).sum(-1))
    assert np.allclose(dist, brute.min(1), rtol=1e-9) and (idx == brute.argmin(1)).all()


# -- path length -----------------------------------------------------------------------------


def test_path_length_of_a_linear_decoder_is_exact():
    rng = np.random.default_rng(0)
    w = rng.standard_normal((5, 3))
    z0, z1 = rng.standard_normal((200, 3)), rng.standard_normal((200, 3))

    def sqdist(a, b):
        return ((np.asarray(a) - np.asarray(b)) ** 2).sum(1)

    # lerp, endpoints: d(G(z0), G(z0 + eps (z1 - z0))) / eps^2 = |W (z1 - z0)|^2 exactly
    mean, _, dist = path_length(lambda z: z @ w.T, sqdist, z0, z1, interpolation="lerp", discard=None)
    expected = (((z1 - z0) @ w.T) ** 2).sum(1)
    assert np.allclose(dist, expected, rtol=1e-6)
    assert close(mean, float(expected.mean()), 1e-6)
    # the 1/99 percentile filter drops the extremes, as StyleGAN and torch-fidelity do
    kept_mean, _, _ = path_length(lambda z: z @ w.T, sqdist, z0, z1, interpolation="lerp")
    lo = np.percentile(expected, 1, method="lower")
    hi = np.percentile(expected, 99, method="higher")
    assert close(kept_mean, float(expected[(expected >= lo) & (expected <= hi)].mean()), 1e-5)
    # slerp at t: the path moves at speed omega * |z| on a great circle (equal norms)
    unit0 = z0 / np.linalg.norm(z0, axis=1, keepdims=True)
    unit1 = z1 / np.linalg.norm(z1, axis=1, keepdims=True)
    omega = np.arccos((unit0 * unit1).sum(1))
    _, _, d = path_length(lambda z: z, sqdist, unit0, unit1, t=np.full(200, 0.3), discard=None)
    assert np.allclose(d, omega**2, rtol=1e-3)


# -- likelihoods -----------------------------------------------------------------------------


def test_bits_per_dim_conventions():
    d = 784
    # a mass (binarised pixels, categories): nll / (D ln 2)
    assert bits_per_dim(d * math.log(2), d, discrete=True) == pytest.approx(1.0)
    # a density on [0, 1]^D: (nll + D ln 256) / (D ln 2); the uniform density scores 8 bits
    assert bits_per_dim(0.0, d, discrete=False) == pytest.approx(8.0)
    nll = 1234.5
    assert bits_per_dim(nll, d, discrete=False) == pytest.approx((nll + d * math.log(256)) / (d * math.log(2)))
    assert np.allclose(bits_per_dim(np.array([0.0, 0.0]), 4, discrete=False), [8.0, 8.0])


def test_read_only_examples_become_tensors_without_a_warning():
    """A data set's memory-mapped examples are read-only; torch warns (on the terminal) about a
    tensor over them, so they are copied. uint8 images are scaled to [0, 1]."""
    import warnings

    from genstudio.metrics.tensors import to_device_float

    x = np.arange(12, dtype=np.uint8).reshape(3, 4)
    x.flags.writeable = False
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = to_device_float(x, torch.device("cpu"))
    assert t.dtype == torch.float32 and torch.equal(t, torch.from_numpy(x.copy()).float() / 255.0)
