"""One likelihood ledger: ``--metrics nll`` scores every family on the data its likelihood is
of (binarised as it learned, 256 levels, or dequantised), and states the protocol: the pixels,
the estimator and, for AIS, its effective sample size and bracket, warning when unreliable."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genstudio.api import Dataset, DataSpec, config_from_dict
from genstudio.cli.evaluate import format_report
from genstudio.metrics.evaluate import evaluate_model
from genstudio_plugins.diffusion import Diffusion
from genstudio_plugins.rbm import RBM, ais_summary

SPEC = DataSpec("image", (1, 2, 2), 20, classes=("a", "b"))
X = np.random.default_rng(0).random((20, 1, 2, 2)).astype(np.float32)


class Recorder:
    """log_prob of 4 fair coins; records what it was asked to score, and states a protocol."""

    discrete_likelihood = True
    device = torch.device("cpu")
    spec = SPEC

    def __init__(self, protocol):
        self.protocol, self.seen = protocol, []

    def sample(self, n, generator=None):
        return torch.rand(n, 1, 2, 2, generator=generator)

    def log_prob(self, x):
        self.seen.append(x)
        return torch.full((len(x),), 4 * math.log(0.5))

    def likelihood_protocol(self):
        return self.protocol


def normal_cdf(z: float) -> float:
    """The standard normal CDF (the core environment has no scipy)."""
    return 0.5 * math.erfc(-z / math.sqrt(2.0))


def nll_of(gs_host, model):
    report = evaluate_model(gs_host, model, Dataset(X, np.zeros(20, np.int64), SPEC), metrics=["nll"], n=20)
    return report, report.results[0]


def test_a_model_that_learned_a_threshold_is_scored_on_thresholded_pixels(gs_host):
    model = Recorder({"pixels": "binary", "binarize": "threshold", "estimator": "exact"})
    _, nll = nll_of(gs_host, model)
    assert torch.equal(torch.cat(model.seen), torch.from_numpy((X > 0.5).astype(np.float32)))
    assert nll.values["bpd"] == pytest.approx(1.0)
    assert nll.details["protocol"] == "binarised pixels (x > 0.5), a probability mass; exact"


def test_a_mass_over_256_levels_sees_the_levels_and_needs_no_offset(gs_host):
    model = Recorder({"pixels": "levels", "estimator": "a bound"})
    _, nll = nll_of(gs_host, model)
    seen = torch.cat(model.seen)
    assert torch.equal(seen, torch.round(torch.from_numpy(X) * 255) / 255)
    assert nll.values["bpd"] == pytest.approx(1.0)  # nll / (D ln 2), no ln 256
    assert nll.details["protocol"] == "the 256 grey levels, a probability mass; a bound"


def test_a_density_of_noised_images_sees_noised_levels_and_says_so(gs_host):
    """A flow trained on Gaussian-noised levels (``pixels``: ``noised``) is scored on the
    levels plus noise of its std, not on a uniform dequantization within each bin."""
    model = Recorder({"pixels": "noised", "noise": 0.1, "estimator": "exact"})
    model.discrete_likelihood = False
    _, nll = nll_of(gs_host, model)
    offset = (torch.cat(model.seen) - torch.round(torch.from_numpy(X) * 255) / 255) / 0.1
    assert float(offset.min()) < -1.0 and float(offset.max()) > 1.0  # no bin holds that
    assert abs(float(offset.std()) - 1.0) < 0.3
    d = 4
    assert nll.values["bpd"] == pytest.approx((nll.values["nll"] + d * math.log(256)) / (d * math.log(2)))
    assert nll.details["dequantized"] is False and nll.details["noise"] == 0.1
    assert nll.details["protocol"].startswith("the 256-level pixels plus Gaussian noise of std 0.1")


def test_an_ais_bracket_and_its_warning_reach_the_report(gs_host):
    log_w = torch.tensor([0.0, -30.0, -30.0, -30.0], dtype=torch.float64)  # one run carries it all
    summary = ais_summary(10.0, log_w)
    assert summary["ess"] == pytest.approx(1.0, abs=1e-6) and "unreliable" in summary["warning"]
    model = Recorder({"pixels": "binary", "estimator": "AIS", **summary})
    report, nll = nll_of(gs_host, model)
    low, high = summary["log_z_bracket"]
    assert nll.values["nll_high"] == pytest.approx(nll.values["nll"] + high - 10.0)
    assert ("nll_low" in nll.values) == (low is not None)
    text = format_report(report)
    assert "protocol: binarised pixels (drawn as Bernoulli(x) once with the evaluation seed)" in text
    assert "warning: AIS estimate unreliable" in text
    even = ais_summary(5.0, torch.zeros(100, dtype=torch.float64))
    assert even["ess"] == pytest.approx(100.0) and even["log_z_bracket"] == [5.0, 5.0] and "warning" not in even


def test_the_rbm_states_its_estimator_and_binarisation():
    small = RBM(SPEC, config_from_dict(RBM.Config, {"hidden": 8, "binarize": "threshold"}))
    assert small.likelihood_protocol() == {
        "pixels": "binary",
        "binarize": "threshold",
        "estimator": "exact partition function (sum over 2^8 hidden states)",
    }
    big = RBM(SPEC, config_from_dict(RBM.Config, {"hidden": 24, "ais_betas": 200, "ais_runs": 16}))
    big.log_prob(torch.rand(3, 1, 2, 2))
    protocol = big.likelihood_protocol()
    assert protocol["estimator"].startswith("AIS (Salakhutdinov and Murray 2008), 200 temperatures, 16 runs")
    assert protocol["runs"] == 16 and 1 <= protocol["ess"] <= 16 and protocol["log_z"] == big.log_partition()


def test_the_diffusion_bound_of_a_perfect_denoiser_is_its_decoder_and_prior_terms():
    """With x0_hat = x0 every KL term vanishes; what is left is the prior term, analytic, and the
    discretised Gaussian decoder's mass of each pixel's bin around its own mean (Ho et al. 2020,
    eq. 13): Phi(h / s) - Phi(-h / s) inside, Phi(h / s) at the end levels, h = 1/255."""
    model = Diffusion(
        DataSpec("image", (1, 2, 2), 4), config_from_dict(Diffusion.Config, {"timesteps": 20, "width": 8})
    )
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.25]]]])
    x0 = torch.round(x * 255) / 255 * 2 - 1
    model.predict_x0 = lambda x_t, i: x0.to(x_t.dtype)
    parts = model.vlb_terms(x, torch.Generator().manual_seed(0))
    assert float(parts["diffusion"][0]) == 0.0
    abar = model.abar64
    s = float(((1 - abar[0]) / (1 - abar[1]) * (1 - abar[1] / abar[0])).sqrt())
    z = (1 / 255) / s
    inner, edge = math.log(normal_cdf(z) - normal_cdf(-z)), math.log(normal_cdf(z))
    assert float(parts["decoder"][0]) == pytest.approx(-(2 * edge + 2 * inner), rel=1e-6)
    ab = float(abar[-1])
    prior = sum(0.5 * (ab * v**2 + (1 - ab) - 1 - math.log(1 - ab)) for v in x0.flatten().tolist())
    assert float(parts["prior"][0]) == pytest.approx(prior, rel=1e-9, abs=1e-12)
    assert model.discrete_likelihood and model.likelihood_protocol()["pixels"] == "levels"
    lp = model.log_prob(x)
    assert float(lp[0]) == pytest.approx(-float(sum(p[0] for p in parts.values())), rel=1e-5)
