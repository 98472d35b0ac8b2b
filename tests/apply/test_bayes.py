"""Exact Bayesian-network queries: variable elimination against brute-force enumeration."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from genstudio.api import ConfigError
from genstudio.apply.bayes import Network, all_posteriors, brute_force, impute, joint, parse_query, posterior

from .asia import NAMES, asia


def all_evidence(net: Network, max_size: int = 2):
    for k in range(max_size + 1):
        for cols in itertools.combinations(range(len(net.names)), k):
            for values in itertools.product(*(range(net.cards[c]) for c in cols)):
                yield dict(zip(cols, values))


def test_asia_posteriors_agree_with_enumeration_of_the_joint():
    net = asia()
    checked = 0
    for evidence in all_evidence(net):
        if brute_force_possible(net, evidence):
            for q in range(len(NAMES)):
                if q in evidence:
                    continue
                got = joint(net, [q], evidence)
                np.testing.assert_allclose(got, brute_force(net, q, evidence), rtol=0, atol=1e-9)
                checked += 1
    assert checked > 600


def brute_force_possible(net, evidence):
    try:
        joint(net, [], evidence)
    except ConfigError:
        return False
    return True


def test_the_textbook_query_lung_given_smoking_and_a_positive_xray():
    net = asia()
    query, evidence = parse_query("lung | smoke=yes, xray=yes", net)
    got = posterior(net, query, evidence)["lung"]
    want = brute_force(net, NAMES.index("lung"), evidence)
    assert got["yes"] == pytest.approx(want[0], abs=1e-12)
    # the prior is 0.1 for a smoker; a positive X-ray makes lung cancer far more likely
    assert got["yes"] > 0.4 and got["yes"] + got["no"] == pytest.approx(1.0)


def test_joint_posterior_of_two_columns_matches_enumeration():
    net = asia()
    evidence = {NAMES.index("dysp"): 0}
    p = joint(net, [NAMES.index("lung"), NAMES.index("bronc")], evidence)
    ref = np.zeros((2, 2))
    for x in np.ndindex(*net.cards):
        if x[NAMES.index("dysp")] != 0:
            continue
        pr = np.prod([t[tuple(x[v] for v in s)] for s, t in net.factors])
        ref[x[NAMES.index("lung")], x[NAMES.index("bronc")]] += pr
    np.testing.assert_allclose(p, ref / ref.sum(), atol=1e-12)


def test_a_random_network_with_many_states_agrees_too():
    rng = np.random.default_rng(1)
    cards = [3, 2, 4, 3, 2, 3]
    parents = [[], [0], [0, 1], [2], [1, 3], [3, 4]]
    factors = []
    for i, ps in enumerate(parents):
        t = rng.dirichlet(np.ones(cards[i]), size=[cards[p] for p in ps] or None)
        factors.append(((*ps, i), np.asarray(t)))
    net = Network([f"c{i}" for i in range(6)], [[str(k) for k in range(c)] for c in cards], factors)
    for evidence in ({}, {5: 2}, {0: 1, 4: 0}, {3: 2, 1: 1, 5: 0}):
        for q in set(range(6)) - set(evidence):
            np.testing.assert_allclose(joint(net, [q], evidence), brute_force(net, q, evidence), atol=1e-12)


def test_bad_queries_name_the_problem():
    net = asia()
    with pytest.raises(ConfigError, match=r"no column 'cancer'.*asia, tub"):
        parse_query("cancer | smoke=yes", net)
    with pytest.raises(ConfigError, match="'smoke' never had the value 'maybe'; its values: yes, no"):
        parse_query("lung | smoke=maybe", net)
    with pytest.raises(ConfigError, match="no column 'smoking'"):
        parse_query("lung | smoking=yes", net)
    with pytest.raises(ConfigError, match="COLUMN=VALUE"):
        parse_query("lung | smoke", net)
    with pytest.raises(ConfigError, match="probability 0"):
        # 'either' is a deterministic OR: tub=yes and either=no cannot happen together
        posterior(net, [0], {NAMES.index("tub"): 0, NAMES.index("either"): 1})


def test_all_posteriors_holds_the_evidence_as_certain():
    net = asia()
    post = all_posteriors(net, {NAMES.index("smoke"): 0})
    assert post["smoke"] == {"yes": 1.0, "no": 0.0}
    assert post["lung"]["yes"] == pytest.approx(0.1)


def test_impute_fills_the_most_probable_values_and_samples_from_the_posterior():
    net = asia()
    rows = np.array([[-1, -1, 0, -1, -1, 0, 0, 0], [1, 1, 1, 1, 1, 1, -1, 1]], np.int64)
    filled = impute(net, rows)
    assert (filled >= 0).all() and (filled[rows >= 0] == rows[rows >= 0]).all()
    missing = [0, 1, 3, 4]
    evidence = {j: int(rows[0, j]) for j in range(8) if rows[0, j] >= 0}
    p = joint(net, missing, evidence)
    assert tuple(filled[0, missing]) == np.unravel_index(np.argmax(p), p.shape)
    # drawn many times, xray given everything else "no" is "yes" about 5% of the time
    many = np.repeat(rows[1:], 4000, axis=0)
    drawn = impute(net, many, sample=True, seed=0)
    assert abs((drawn[:, 6] == 0).mean() - 0.05) < 0.015
