"""ROC, AUROC, precision-recall and average precision: hand-computed cases and scikit-learn."""

from __future__ import annotations

import numpy as np
import pytest

from genstudio.api import ConfigError, DataError
from genstudio.apply.anomaly import auroc, average_precision, curves, parse_labels, roc_curve
from genstudio.data import load_dataset
from genstudio.testing import make_host


def test_the_textbook_case():
    # scikit-learn's documented example: AUROC 0.75, AP 0.8333
    s, y = np.array([0.1, 0.4, 0.35, 0.8]), np.array([0, 0, 1, 1])
    assert auroc(s, y) == pytest.approx(0.75)
    assert average_precision(s, y) == pytest.approx((1 / 2) * 1.0 + (1 / 2) * (2 / 3))
    fpr, tpr, thr = roc_curve(s, y)
    np.testing.assert_allclose(fpr, [0, 0, 0.5, 0.5, 1])
    np.testing.assert_allclose(tpr, [0, 0.5, 0.5, 1, 1])
    assert thr[0] == np.inf


def test_ties_make_diagonal_segments_and_one_threshold():
    s, y = np.array([1.0, 1.0, 0.0, 0.0]), np.array([1, 0, 1, 0])
    assert auroc(s, y) == pytest.approx(0.5)
    assert average_precision(s, y) == pytest.approx(0.5)
    assert auroc(np.array([3.0, 2.0, 1.0]), np.array([1, 0, 0])) == 1.0
    assert auroc(np.array([1.0, 2.0, 3.0]), np.array([1, 0, 0])) == 0.0


def test_agrees_with_scikit_learn_on_random_scores_with_ties():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(20):
        n = int(rng.integers(5, 300))
        y = rng.integers(0, 2, n)
        y[0], y[1] = 0, 1
        s = np.round(rng.normal(size=n) + 0.7 * y, int(rng.integers(0, 3)))  # rounding makes ties
        c = curves(s, y)
        assert c.auroc == pytest.approx(metrics.roc_auc_score(y, s), abs=1e-12)
        assert c.average_precision == pytest.approx(metrics.average_precision_score(y, s), abs=1e-12)
        fpr, tpr, _ = metrics.roc_curve(y, s, drop_intermediate=False)
        np.testing.assert_allclose(c.fpr, fpr)
        np.testing.assert_allclose(c.tpr, tpr)
        precision, recall, _ = metrics.precision_recall_curve(y, s)
        np.testing.assert_allclose(c.precision[::-1], precision[:-1])
        np.testing.assert_allclose(c.recall[::-1], recall[:-1])


def test_one_kind_only_is_refused():
    with pytest.raises(ConfigError, match="every example is normal"):
        auroc(np.array([1.0, 2.0]), np.array([0, 0]))


def test_labels_by_name_index_and_range():
    classes = tuple(str(i) for i in range(10))
    assert parse_labels("9", classes) == [9]
    assert parse_labels("0-3, 9", classes) == [0, 1, 2, 3, 9]
    assert parse_labels("heart", ("square", "ellipse", "heart")) == [2]
    with pytest.raises(ConfigError, match="no label '12'; its labels: 0, 1"):
        parse_labels("12", classes)
    with pytest.raises(ConfigError, match="no labels"):
        parse_labels("1", None)


def test_the_classes_data_option_keeps_a_subset_of_labels():
    host = make_host()
    full = load_dataset(host, "digits")
    sub = load_dataset(host, "digits", ["classes=0-8"])
    assert set(np.unique(sub.y)) == set(range(9)) and len(sub) == int((full.y != 9).sum())
    assert sub.spec.count == len(sub) and sub.spec.classes == full.spec.classes
    np.testing.assert_array_equal(sub.x, full.x[full.y != 9])
    with pytest.raises(ConfigError, match="no label 'x'"):
        load_dataset(host, "digits", ["classes=x"])
    with pytest.raises(DataError, match="tiny-vectors: classes=: this data has no labels"):
        load_dataset(host, "tiny-vectors", ["classes=0"])
