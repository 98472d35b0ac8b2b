"""The evaluation driver: a tiny run evaluated end to end, results stored with their extractor
and sample count, real statistics cached and reused, in-memory evaluation for the training
loop, and metrics a model cannot compute skipped with a reason."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genstudio.api import Dataset, DataSpec, GenStudioError, PluginError
from genstudio.data import load_dataset
from genstudio.data.splits import split_indices
from genstudio.metrics import fid as fid_fn
from genstudio.metrics.evaluate import EvalReport, default_extractor, evaluate_model, evaluate_scalars
from genstudio.metrics.extractors import InceptionExtractor, RawExtractor
from genstudio.runs.evaluation import evaluate_run
from genstudio.runs.store import RunStore


@pytest.fixture
def tiny_run(gs_train):
    trainer, events = gs_train("tiny", "tiny-vectors", steps=30)
    assert events[-1].type == "finished"
    return trainer


def test_a_run_is_evaluated_and_its_results_stored_with_extractor_and_n(gs_host, gs_workspace, tiny_run):
    stages = set()
    report = evaluate_run(
        gs_host,
        gs_workspace,
        tiny_run.run.id,
        metrics=["fid", "kid", "pr", "dc", "nll", "memo"],
        n=60,
        progress=lambda stage, done, total: stages.add(stage),
    )
    assert isinstance(report, EvalReport)
    assert report.extractor == "raw" and report.extractor_identity == "raw"
    assert report.step == 30 and report.n == 60
    assert report.n_real == 26  # the run's validation split: 10% of 256
    assert {"sampling", "features (real)", "features (generated)"} <= stages
    by = {r.metric: r for r in report.results}
    assert list(by) == ["fid", "kid", "pr", "dc", "nll", "memo"] and not report.skipped
    assert by["fid"].extractor == "raw" and by["nll"].extractor is None and by["memo"].extractor is None
    assert set(by["kid"].values) == {"kid", "kid_std"} and set(by["nll"].values) == {"nll", "nll_per_dim"}
    assert all(math.isfinite(v) for r in report.results for v in r.values.values())
    # the figures are the array API's on the same samples and held-out examples
    data = load_dataset(gs_host, "tiny-vectors")
    _, val = split_indices(len(data), 0.1, 0)
    assert by["fid"].values["fid"] == pytest.approx(fid_fn(data.x[val], report.samples), rel=1e-9)
    stored = RunStore(gs_workspace).metrics(tiny_run.run.id)
    fid_row = next(r for r in stored if r["metric"] == "fid")
    assert fid_row["extractor"] == "raw" and fid_row["n"] == 60 and fid_row["step"] == 30
    assert fid_row["value"] == by["fid"].values["fid"] and fid_row["details"]["n_real"] == 26
    assert {r["key"] for r in stored} >= {"fid", "kid", "kid_std", "precision", "recall", "density", "coverage"}
    nll_row = next(r for r in stored if r["metric"] == "nll" and r["key"] == "nll")
    assert nll_row["extractor"] is None and nll_row["n"] == 26


def test_real_statistics_are_cached_per_data_and_extractor_and_reused(gs_host, gs_workspace, tiny_run, monkeypatch):
    first = evaluate_run(gs_host, gs_workspace, tiny_run.run.id, metrics=["fid"], n=40, store=False)
    assert first.results[0].details["real_stats_cached"] is False
    folder = gs_workspace.cache_dir / "stats"
    assert len(list(folder.glob("*.npz"))) == 1 and len(list(folder.glob("*.json"))) == 1
    calls = []
    monkeypatch.setattr("genstudio.metrics.context.EvalContext.embed", _counting(calls))
    second = evaluate_run(gs_host, gs_workspace, tiny_run.run.id, metrics=["fid"], n=40, store=False)
    assert second.results[0].details["real_stats_cached"] is True
    assert calls == ["features (generated)"]  # the real examples were not embedded again
    assert second.results[0].values == first.results[0].values
    # another n is another set of real examples: another entry
    evaluate_run(gs_host, gs_workspace, tiny_run.run.id, metrics=["fid"], n=20, store=False)
    assert len(list(folder.glob("*.npz"))) == 2


def _counting(calls):
    from genstudio.metrics.context import EvalContext

    original = EvalContext.embed

    def embed(self, x, stage):
        calls.append(stage)
        return original(self, x, stage)

    return embed


def test_metrics_a_model_cannot_compute_are_skipped_with_the_reason(gs_host):
    data = load_dataset(gs_host, "tiny-vectors")

    class Sampler:  # samples, and nothing else: no log_prob, no decode
        spec = data.spec
        device = torch.device("cpu")

        def sample(self, n, generator=None):
            return torch.randn(n, 2, generator=generator)

    report = evaluate_model(gs_host, Sampler(), data, metrics=["fid", "nll", "ppl", "is"], n=50)
    assert [r.metric for r in report.results] == ["fid"]
    assert report.skipped == {
        "nll": "the model has no log_prob()",
        "ppl": "the model has no decode()",
        "is": "the raw extractor (raw) gives no class logits",
    }
    default = evaluate_model(gs_host, Sampler(), data, n=50)  # the defaults, where they apply
    assert {r.metric for r in default.results} == {"fid", "kid", "pr", "dc", "memo"}
    with pytest.raises(GenStudioError, match="unknown metric 'bogus'"):
        evaluate_model(gs_host, Sampler(), data, metrics=["bogus"])
    with pytest.raises(GenStudioError, match="--extractor inception-v3: Inception-v3 embeds images"):
        evaluate_model(gs_host, Sampler(), data, metrics=["fid"], extractor="inception-v3")


def test_in_memory_evaluation_for_the_training_loop(gs_host, tiny_run):
    model = tiny_run.model
    model.train()
    data = tiny_run.dataset
    tr, va = split_indices(len(data), 0.1, 0)
    extractor = RawExtractor(data.spec)  # built once, reused at every interval
    kwargs = dict(metrics=["fid", "nll", "ppl", "is"], n=40, train_index=tr, val_index=va, extractor=extractor)
    rng_before = torch.get_rng_state()
    scalars = evaluate_scalars(gs_host, model, data, **kwargs)
    assert torch.equal(torch.get_rng_state(), rng_before)  # the run's random state is untouched
    assert model.training  # and its mode restored
    # what applies, flattened for the loss plot; IS does not apply to raw features
    assert set(scalars) == {"eval/fid", "eval/nll", "eval/nll_per_dim", "eval/ppl", "eval/ppl_std"}
    assert all(math.isfinite(v) for v in scalars.values())
    assert evaluate_scalars(gs_host, model, data, **kwargs) == scalars  # seeded: the same figures every time


def tiny_classes(trainer):
    return trainer.dataset.spec.classes


def test_the_classifier_extractor_for_small_labelled_images(gs_host, gs_workspace, gs_train):
    trainer, _ = gs_train("tiny", "tiny", steps=20)
    report = evaluate_run(gs_host, gs_workspace, trainer.run.id, metrics=["fid", "is", "pr", "memo"], n=30)
    assert report.extractor == "classifier" and report.extractor_identity.startswith("classifier/")
    assert any(note.startswith("classifier held-out accuracy") for note in report.notes)
    by = {r.metric: r for r in report.results}
    # exp of a mean KL divergence between two-class distributions: within [1, 2] for the tiny
    # data's two classes (bars across, bars down); an error in the formula leaves that range
    classes = len(tiny_classes(trainer))
    assert classes == 2 and 1.0 <= by["is"].values["is"] <= classes and by["is"].details["splits"] == 10
    assert by["is"].extractor == by["fid"].extractor == report.extractor_identity
    # the closest pairs are saved for the window to show
    pairs = np.load(by["memo"].details["pairs_file"])
    assert pairs["samples"].shape == (8, 1, 8, 8) and pairs["train"].shape == (8, 1, 8, 8)
    assert (np.diff(pairs["distance"]) >= 0).all()


def test_memorisation_flags_a_model_that_copies_its_training_data(gs_host):
    data = load_dataset(gs_host, "tiny-vectors")
    tr, va = split_indices(len(data), 0.2, 0)

    class Copier:
        spec = data.spec
        device = torch.device("cpu")

        def sample(self, n, generator=None):
            idx = torch.randint(len(tr), (n,), generator=generator).numpy()
            return torch.from_numpy(data.x[tr][idx] + 1e-4)

    report = evaluate_model(gs_host, Copier(), data, metrics=["memo"], n=40, train_index=tr, val_index=va)
    memo = report.results[0]
    assert memo.values["nn_distance"] < 1e-3 and memo.values["nn_ratio"] < 0.05
    closest = memo.details["closest"]
    assert len(closest) == 8 and all(p["train_index"] in set(tr.tolist()) for p in closest)


def test_nll_in_bits_per_dim_for_a_mass_over_binary_pixels(gs_host):
    spec = DataSpec("image", (1, 2, 2), 20, classes=("a", "b"))
    x = np.random.default_rng(0).random((20, 1, 2, 2)).astype(np.float32)
    data = Dataset(x, np.zeros(20, np.int64), spec)

    class Coin:  # every pixel a fair coin: exactly 1 bit per dimension
        discrete_likelihood = True
        device = torch.device("cpu")

        def __init__(self):
            self.spec = spec
            self.seen = []

        def sample(self, n, generator=None):
            return torch.rand(n, 1, 2, 2, generator=generator)

        def log_prob(self, x):
            self.seen.append(x)
            return torch.full((len(x),), 4 * math.log(0.5))

    coin = Coin()
    report = evaluate_model(gs_host, coin, data, metrics=["nll"], n=20)
    nll = report.results[0]
    assert nll.values["bpd"] == pytest.approx(1.0) and nll.details["binarized"]
    assert set(torch.cat(coin.seen).unique().tolist()) <= {0.0, 1.0}


def test_a_density_over_images_is_scored_on_dequantized_pixels(gs_host):
    # a density is scored at (k + u) / 256, inside the bin of each 256-level pixel, never at
    # k / 255 itself: only there does (nll + D ln 256) / (D ln 2) bound the discrete bits/dim
    spec = DataSpec("image", (1, 3, 3), 30, classes=("a", "b"))
    levels = np.random.default_rng(1).integers(0, 256, (30, 1, 3, 3)).astype(np.uint8)
    data = Dataset(levels, np.zeros(30, np.int64), spec)

    class Uniform:  # the uniform density on [0, 1]^D: exactly 8 bits per dimension
        device = torch.device("cpu")

        def __init__(self):
            self.spec = spec
            self.seen = []

        def sample(self, n, generator=None):
            return torch.rand(n, 1, 3, 3, generator=generator)

        def log_prob(self, x):
            self.seen.append(x.clone())
            return torch.zeros(len(x))

    model = Uniform()
    report = evaluate_model(gs_host, model, data, metrics=["nll"], n=30)
    nll = report.results[0]
    assert nll.values["bpd"] == pytest.approx(8.0) and nll.details["dequantized"]
    seen = torch.cat(model.seen).double()  # without a split, the real examples in order
    k = torch.from_numpy(levels).double()
    assert torch.equal(torch.floor(seen * 256), k)  # each value inside its own level's bin
    assert ((seen * 256 - k) > 0).double().mean() > 0.99  # and off the lattice: noise was added
    twice = evaluate_model(gs_host, Uniform(), data, metrics=["nll"], n=30)
    assert twice.results[0].values == nll.values  # the dequantization is seeded


def test_default_extractor_choice(gs_host, monkeypatch, tmp_path):
    labelled8 = DataSpec("image", (1, 8, 8), 5, classes=("a", "b"))
    rgb32 = DataSpec("image", (3, 32, 32), 5, classes=("a", "b"))
    assert default_extractor(gs_host, DataSpec("vector", (2,), 5), tmp_path) == "raw"
    assert default_extractor(gs_host, labelled8, tmp_path) == "classifier"
    monkeypatch.setattr(InceptionExtractor, "available", classmethod(lambda cls, cache_dir=None: True))
    assert default_extractor(gs_host, rgb32, tmp_path) == "inception-v3"
    assert default_extractor(gs_host, labelled8, tmp_path) == "classifier"  # too small for Inception
    monkeypatch.setattr(InceptionExtractor, "available", classmethod(lambda cls, cache_dir=None: False))
    assert default_extractor(gs_host, rgb32, tmp_path) == "classifier"
    assert default_extractor(gs_host, DataSpec("tabular", (3,), 5), tmp_path) is None


def test_a_broken_model_is_an_error_that_names_the_method(gs_host):
    data = load_dataset(gs_host, "tiny-vectors")

    class Broken:
        spec = data.spec
        device = torch.device("cpu")

        def sample(self, n, generator=None):
            raise RuntimeError("out of ideas")

        def log_prob(self, x):
            return torch.full((len(x),), float("nan"))

    with pytest.raises(PluginError, match=r"the model failed while calling sample\(\): RuntimeError: out of ideas"):
        evaluate_model(gs_host, Broken(), data, metrics=["fid"], n=10)
    with pytest.raises(PluginError, match=r"log_prob\(\) returned NaN"):
        evaluate_model(gs_host, Broken(), data, metrics=["nll"], n=10)


def test_kid_over_subsets_that_are_always_both_whole_sets_has_no_spread(gs_host, gs_workspace, tiny_run):
    """n samples against n held-out examples, n below the subset size: every subset is the same
    pair of sets, so the spread is 0, not rounding's 1e-16 shown as one."""
    report = evaluate_run(gs_host, gs_workspace, tiny_run.run.id, metrics=["kid"], n=26)
    assert report.n_real == 26
    values = report.results[0].values
    assert values["kid_std"] == 0.0 and math.isfinite(values["kid"])
    other = evaluate_run(gs_host, gs_workspace, tiny_run.run.id, metrics=["kid"], n=60)
    assert other.results[0].values["kid_std"] > 0  # 26 of 60 samples a subset: a spread
