"""The Bayesian network family: it recovers a known network from data sampled from it, up to
Markov equivalence, with a held-out likelihood close to the true network's; its likelihood is
exact, its samples follow it, and its checkpoints round-trip.

The known network has 7 columns, two v-structures and a chain::

    A -> C <- B,  C -> D -> E,  D -> F <- G
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from genstudio.api import Batch, DataSpec
from genstudio.data.tabular import decode_rows
from genstudio.runs.inference import load_model
from genstudio.testing import dry_run, train
from genstudio.training import checkpoint as ckpt
from genstudio_plugins.bayesnet import BayesNet, BayesNetConfig

NAMES = ["A", "B", "C", "D", "E", "F", "G"]
CARDS = [2, 3, 2, 3, 2, 2, 2]
PARENTS = [[], [], [0, 1], [2], [3], [3, 6], []]
TABLES = [
    [[0.4, 0.6]],
    [[0.3, 0.3, 0.4]],
    [[0.9, 0.1], [0.6, 0.4], [0.2, 0.8], [0.7, 0.3], [0.3, 0.7], [0.05, 0.95]],  # rows: (A, B) = 00, 01, ... 12
    [[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]],
    [[0.85, 0.15], [0.5, 0.5], [0.15, 0.85]],
    [[0.9, 0.1], [0.5, 0.5], [0.7, 0.3], [0.3, 0.7], [0.4, 0.6], [0.1, 0.9]],  # rows: (D, G)
    [[0.5, 0.5]],
]
TRUE_EDGES = {(NAMES[p], NAMES[i]) for i, ps in enumerate(PARENTS) for p in ps}


def _index(x: np.ndarray, parents: list[int], cards: list[int]) -> np.ndarray:
    j = np.zeros(len(x), np.int64)
    for p in parents:
        j = j * cards[p] + x[:, p]
    return j


def sample_network(n, seed, parents=PARENTS, tables=TABLES, cards=CARDS):
    """``n`` rows of codes ``(n, D)`` by ancestral sampling of a known network."""
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(cards)), np.int64)
    done: set[int] = set()
    while len(done) < len(cards):
        for i in range(len(cards)):
            if i not in done and set(parents[i]) <= done:
                cdf = np.cumsum(np.asarray(tables[i])[_index(x, parents[i], cards)], 1)
                x[:, i] = np.minimum((cdf <= rng.random((n, 1))).sum(1), cards[i] - 1)
                done.add(i)
    return x


def true_log_prob(x):
    return sum(np.log(np.asarray(TABLES[i])[_index(x, PARENTS[i], CARDS), x[:, i]]) for i in range(len(CARDS)))


def write_csv(path: Path, x: np.ndarray, names=NAMES) -> Path:
    # categories "A0", "A1", ... sort in code order, so the CSV's codes are the network's
    rows = [",".join(f"{names[j]}{v}" for j, v in enumerate(row)) for row in x]
    path.write_text(",".join(names) + "\n" + "\n".join(rows) + "\n")
    return path


def spec_for(cards, count, names=None):
    names = names or [f"x{i}" for i in range(len(cards))]
    columns = [
        {"name": n, "type": "categorical", "categories": [f"{n}{k}" for k in range(c)]} for n, c in zip(names, cards)
    ]
    return DataSpec("tabular", (len(cards),), count, (0, max(cards) - 1), columns=columns)


def fitted(x, cards, names=None, **config):
    model = BayesNet(spec_for(cards, len(x), names), BayesNetConfig(**config), "cpu")
    model.train_step(Batch(torch.from_numpy(x)))
    return model


def skeleton(edges):
    return {frozenset(e) for e in edges}


def v_structures(edges):
    """(a, c, b) with a -> c <- b and a, b not adjacent (a < b): with the skeleton, these decide
    Markov equivalence (Verma and Pearl 1990)."""
    adjacent = skeleton(edges)
    parents: dict[str, set[str]] = {}
    for a, c in edges:
        parents.setdefault(c, set()).add(a)
    return {
        (a, c, b)
        for c, ps in parents.items()
        for a, b in itertools.combinations(sorted(ps), 2)
        if frozenset((a, b)) not in adjacent
    }


# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("structure", ["hill-climb", "chow-liu"])
def test_dry_run(gs_host, gs_workspace, tmp_path, structure):
    x = sample_network(300, seed=1)
    path = write_csv(tmp_path / "net.csv", x)
    # a continuous column too: binned by the data layer
    lines = path.read_text().splitlines()
    weight = np.random.default_rng(0).normal(size=len(x))
    path.write_text("\n".join([lines[0] + ",weight"] + [f"{ln},{w:.3f}" for ln, w in zip(lines[1:], weight)]) + "\n")
    events = dry_run(
        gs_host,
        gs_workspace,
        "bayesnet",
        data=str(path),
        data_options={"kind": "tabular"},
        config={"structure": structure},
    )
    assert {"nll", "bic", "edges", "val/nll"} <= set(events[-1].losses)


def test_one_epoch_recovers_the_network_and_its_likelihood(gs_host, gs_workspace, tmp_path):
    path = write_csv(tmp_path / "net.csv", sample_network(5000, seed=3))
    trainer, events = train(
        gs_host, gs_workspace, "bayesnet", data=str(path), data_options={"kind": "tabular"}, epochs=1
    )
    assert events[-1].status == "finished"
    model = trainer.model
    n_train = 4500 - 4500 % 128  # one epoch drops the last partial batch
    assert model.seen == model.fit_seen == n_train  # fitted on every row it saw, once
    graph = json.loads((trainer.folder / "structure.json").read_text())
    assert graph["nodes"] == NAMES and len(graph["strength"]) == len(graph["edges"])
    learned = {tuple(e) for e in graph["edges"]}
    assert skeleton(learned) == skeleton(TRUE_EDGES)
    assert v_structures(learned) == v_structures(TRUE_EDGES) == {("A", "C", "B"), ("D", "F", "G")}
    # held out: fresh rows from the same network; 5,000 rows leave the learned network within
    # 0.02 nats per row of the true one (about 0.003 is typical)
    held = sample_network(4000, seed=99)
    learned_nll = -float(model.log_prob(torch.from_numpy(held)).mean())
    true_nll = -float(true_log_prob(held).mean())
    assert abs(learned_nll - true_nll) < 0.02, (learned_nll, true_nll)


def test_chow_liu_recovers_a_tree():
    parents = [[], [0], [0], [1], [1], [2]]
    tables = [
        [[0.5, 0.5]],
        [[0.8, 0.1, 0.1], [0.1, 0.3, 0.6]],
        [[0.85, 0.15], [0.2, 0.8]],
        [[0.9, 0.1], [0.5, 0.5], [0.1, 0.9]],
        [[0.2, 0.8], [0.7, 0.3], [0.5, 0.5]],
        [[0.75, 0.25], [0.25, 0.75]],
    ]
    cards = [2, 3, 2, 2, 2, 2]
    x = sample_network(3000, 5, parents, tables, cards)
    model = fitted(x, cards, structure="chow-liu")
    tree = {(f"x{p}", f"x{i}") for i, ps in enumerate(parents) for p in ps}
    assert skeleton(tuple(e) for e in model.structure()["edges"]) == skeleton(tree)
    assert all(len(ps) <= 1 for ps in model.parents)


def test_log_prob_is_exact_sums_to_one_and_sampling_follows_it():
    cards = [2, 3, 2]
    x = sample_network(
        2000, 0, [[], [0], [0, 1]], [[[0.3, 0.7]], [[0.8, 0.1, 0.1], [0.1, 0.2, 0.7]], _xor_ish()], cards
    )
    model = fitted(x, cards, max_parents=2)
    assert model.structure()["edges"]  # something was learned
    every = torch.tensor(list(itertools.product(*(range(c) for c in cards))))
    with torch.no_grad():
        p = model.log_prob(every).exp()
    assert p.dtype == torch.float64
    assert abs(float(p.sum()) - 1.0) < 1e-12
    draws = model.sample(40_000, generator=torch.Generator().manual_seed(0))
    assert draws.dtype == torch.int64 and draws.shape == (40_000, 3)
    flat = (draws[:, 0] * 6 + draws[:, 1] * 2 + draws[:, 2]).bincount(minlength=12).double() / len(draws)
    assert 0.5 * float((flat - p).abs().sum()) < 0.02  # total variation, sampling noise ~ 0.01


def _xor_ish():
    return [[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.1, 0.9], [0.8, 0.2], [0.6, 0.4]]


def test_checkpoint_round_trip_gives_identical_log_prob_and_samples(tmp_path):
    x = sample_network(1500, seed=2)
    model = fitted(x, CARDS, NAMES)
    model.train_step(Batch(torch.from_numpy(x[:100])))  # pending rows: merged into the state
    path = ckpt.save_checkpoint(tmp_path, 2, {"model": model.checkpoint_state()}, {})
    state, _ = ckpt.load_checkpoint(path)
    again = BayesNet(model.spec, BayesNetConfig(), "cpu")
    again.load_checkpoint_state(state["model"])
    held = torch.from_numpy(sample_network(500, seed=7))
    assert torch.equal(model.log_prob(held), again.log_prob(held))
    draw = lambda m: m.sample(200, generator=torch.Generator().manual_seed(3))  # noqa: E731
    assert torch.equal(draw(model), draw(again))
    assert again.structure() == model.structure()
    assert again.seen == model.seen == 1600 and int(again.weights.sum()) == 1600


def test_later_epochs_keep_the_sample_size_and_the_fit():
    x = sample_network(1000, seed=4)
    model = BayesNet(spec_for(CARDS, 1000, NAMES), BayesNetConfig(relearn_growth=1.0), "cpu")
    for _ in range(3):  # three epochs of the same rows, in batches
        for start in range(0, 1000, 100):
            losses = model.train_step(Batch(torch.from_numpy(x[start : start + 100])))
    once = fitted(x, CARDS, NAMES)
    assert model.structure()["rows"] == 1000  # N is the data's size, however often rows repeat
    assert model.structure()["edges"] == once.structure()["edges"]
    assert losses["nll"] == pytest.approx(once.losses["nll"], abs=1e-9)


def test_samples_decode_to_the_csv_categories(gs_host, gs_workspace, tmp_path):
    path = write_csv(tmp_path / "net.csv", sample_network(400, seed=6))
    trainer, _ = train(gs_host, gs_workspace, "bayesnet", data=str(path), data_options={"kind": "tabular"}, steps=3)
    loaded = load_model(gs_host, gs_workspace, trainer.run.id)
    with torch.no_grad():
        codes = loaded.model.sample(300, generator=torch.Generator().manual_seed(0))
    rows = decode_rows(trainer.dataset.spec, codes)
    for j, name in enumerate(NAMES):
        assert {r[j] for r in rows} <= {f"{name}{k}" for k in range(CARDS[j])}


def test_wrong_data_is_refused():
    model = BayesNet(spec_for([2, 3], 10), BayesNetConfig(), "cpu")
    with pytest.raises(ValueError, match=r"column 'x1': code 3 is outside 0\.\.2"):
        model.train_step(Batch(torch.tensor([[0, 1], [1, 3]])))
    with pytest.raises(ValueError, match=r"expected codes shaped \(N, 2\)"):
        model.log_prob(torch.zeros(4, 3, dtype=torch.long))
    vectors = DataSpec("vector", (2,), 10, (0.0, 1.0))
    assert "add --data-option kind=tabular" in BayesNet.check_data(vectors)
    # before any data: uniform tables, samples still come shaped like the data
    assert model.sample(5).shape == (5, 2)
    assert torch.allclose(model.log_prob(torch.tensor([[1, 2]])), torch.tensor([-np.log(6.0)], dtype=torch.float64))


def test_max_parents_zero_learns_independent_columns():
    x = sample_network(800, seed=8)
    model = fitted(x, CARDS, NAMES, max_parents=0)
    assert model.structure()["edges"] == [] and model.losses["edges"] == 0


def test_resume_continues_exactly(gs_host, gs_workspace, tmp_path):
    from genstudio.runs.trainer import Trainer

    path = write_csv(tmp_path / "net.csv", sample_network(600, seed=9))
    options = {"kind": "tabular"}
    straight, _ = train(
        gs_host, gs_workspace, "bayesnet", data=str(path), data_options=options, steps=12, batch_size=64
    )
    first, _ = train(gs_host, gs_workspace, "bayesnet", data=str(path), data_options=options, steps=5, batch_size=64)
    resumed = Trainer.resume(gs_host, gs_workspace, first.run.id, steps=7)
    assert list(resumed.events())[-1].status == "finished"
    held = torch.from_numpy(sample_network(300, seed=10))
    assert resumed.model.seen == straight.model.seen == 12 * 64
    assert torch.equal(resumed.model.log_prob(held), straight.model.log_prob(held))
    assert resumed.model.structure() == straight.model.structure()
