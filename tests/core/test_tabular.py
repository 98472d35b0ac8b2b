"""Tabular data: CSV columns as categorical variables (``--data-option kind=tabular``), rows
decoded back into the CSV's own columns, and ``genstudio sample -o FILE.csv``."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

from genstudio.api import DataError, LoadContext
from genstudio.data import load_dataset, parse_options
from genstudio.data.formats import CsvFile
from genstudio.data.tabular import decode_rows, write_csv
from genstudio.host import create_plugin_manager


@pytest.fixture
def host():
    return create_plugin_manager(builtins=("genstudio.data.formats",), autoload=False)


def load(path, **options):
    options.setdefault("kind", "tabular")
    opts = parse_options(CsvFile, [f"{k}={v}" for k, v in options.items()])
    return CsvFile().load(opts, Path(path), LoadContext())


def table(path: Path, header: str, rows: list[str]) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def test_string_and_small_integer_columns_are_categorical(host, tmp_path):
    path = table(
        tmp_path / "pets.csv", "animal,legs,label", ["dog,4,a", "cat,4,b", "bird,2,a", "cat,10,a", "dog,4.0,b"]
    )
    data = load_dataset(host, str(path), {"kind": "tabular"})
    spec = data.spec
    assert spec.kind == "tabular" and spec.shape == (3,) and spec.count == 5
    assert data.x.dtype == np.int64 and data.x.shape == (5, 3)
    assert data.y is None  # every column is a variable, one named "label" too
    animal, legs, label = spec.columns
    assert animal == {"name": "animal", "type": "categorical", "categories": ["bird", "cat", "dog"]}
    assert legs["categories"] == ["2", "4", "10"]  # numbers sort numerically; 4.0 is 4
    assert label["categories"] == ["a", "b"]
    assert data.x.tolist() == [[2, 1, 0], [1, 1, 1], [0, 0, 0], [1, 2, 0], [2, 1, 1]]
    assert spec.value_range == (0.0, 2.0)
    labelled = load(path, label="label")
    assert (
        labelled.spec.shape == (2,) and labelled.spec.classes == ("a", "b") and labelled.y.tolist() == [0, 1, 0, 0, 1]
    )


def test_continuous_columns_are_binned_at_quantiles(tmp_path):
    rows = [f"{v},{v * 0.5}" for v in range(1, 101)]
    data = load(table(tmp_path / "c.csv", "count,half", rows), bins=5)
    count, half = data.spec.columns
    assert count["type"] == "continuous" and count["integer"] is True  # 100 values > max_categories
    assert count["bin_edges"] == [1.0, 21.0, 41.0, 61.0, 81.0, 100.0]
    assert count["categories"] == ["[1, 21)", "[21, 41)", "[41, 61)", "[61, 81)", "[81, 100]"]
    assert np.bincount(data.x[:, 0]).tolist() == [20] * 5
    assert half["integer"] is False and half["bin_edges"] == [0.5, 10.5, 20.5, 30.5, 40.5, 50.0]
    assert data.warnings == []
    few = load(table(tmp_path / "few.csv", "n,m", ["1,1", "2,1", "3,2"]), max_categories=2)
    assert few.spec.columns[0]["type"] == "continuous" and few.spec.columns[1]["type"] == "categorical"


def test_ties_merge_bins_and_a_constant_column_is_one_bin(tmp_path):
    zeros = ["0.0,1.5,7.25"] * 60 + [f"{v / 10},2.5,7.25" for v in range(1, 41)]
    data = load(table(tmp_path / "t.csv", "rain,two,const", zeros), bins=5)
    rain, two, const = data.spec.columns
    assert rain["bin_edges"] == [0.0, 0.1, 2.1, 4.0]  # 60 % zeros, three bins' worth, make one bin
    assert np.bincount(data.x[:, 0]).tolist() == [60, 20, 20]
    assert two["bin_edges"] == [1.5, 2.5, 2.5] and two["categories"] == ["[1.5, 2.5)", "[2.5, 2.5]"]
    assert np.bincount(data.x[:, 1]).tolist() == [60, 40]  # two values stay apart
    assert const["bin_edges"] == [7.25, 7.25] and set(data.x[:, 2].tolist()) == {0}
    assert len(data.warnings) == 3 and "'rain': ties among its values left 3 bins instead of 5" in data.warnings[0]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (["a,1", ",2"], r"column 'x', line 3: missing value \(an empty cell\)"),
        (["a,1", "b,NA"], r"column 'n', line 3: missing value \('NA'\); kind=tabular needs every cell filled"),
        (["a,1", "b,inf"], r"column 'n', line 3: 'inf' is infinite"),
        (["a,1"], r"holds a single row of values \(line 2\)"),
    ],
)
def test_bad_cells_and_single_rows_are_refused(tmp_path, rows, message):
    path = table(tmp_path / "bad.csv", "x,n", rows)
    with pytest.raises(DataError, match=message) as err:
        load(path)
    assert "bad.csv" in str(err.value)


def test_a_header_is_required(tmp_path):
    path = table(tmp_path / "h.csv", "1,2", ["3,4", "5,6"])
    with pytest.raises(DataError, match=r"needs a header row naming the columns; its first row \(line 1\)"):
        load(path)
    with pytest.raises(DataError, match="header=no was given"):
        load(table(tmp_path / "w.csv", "a,b", ["x,y", "z,w"]), header="no")
    with pytest.raises(DataError, match="two columns are named 'a'"):
        load(table(tmp_path / "d.csv", "a,a", ["x,y", "z,w"]))


def test_vector_kind_hints_at_tabular(host, tmp_path):
    path = table(tmp_path / "words.csv", "a,b", ["1,red", "2,blue"])
    with pytest.raises(DataError, match=r"'red' is not a number.*use --data-option kind=tabular for categorical data"):
        load_dataset(host, str(path), {"kind": "vector"})


def test_a_csv_with_text_is_tabular_unless_told_and_numbers_stay_vectors(host, tmp_path):
    words = table(tmp_path / "asia.csv", "asia,smoke,tub", ["yes,no,no", "no,yes,no", "no,no,yes", "yes,yes,no"])
    data = load_dataset(host, str(words))
    assert data.spec.kind == "tabular" and data.spec.shape == (3,)
    assert data.spec.columns[0]["categories"] == ["no", "yes"]
    assert any("read as tabular" in w and "'asia'" in w for w in data.warnings)
    numbers = table(tmp_path / "n.csv", "a,b,label", ["1,2,x", "3,4,y"])  # a text label column is labels
    data = load_dataset(host, str(numbers))
    assert data.spec.kind == "vector" and data.spec.classes == ("x", "y")
    assert load_dataset(host, str(numbers), {"kind": "tabular"}).spec.kind == "tabular"  # kind= forces either
    with pytest.raises(DataError, match="is not a number"):
        load_dataset(host, str(words), {"kind": "vector"})


def test_decode_rows_and_write_csv_round_trip(tmp_path):
    rows = [f"{['red', 'green', 'blue'][v % 3]},{v},{v * 0.37:.2f}" for v in range(60)]
    data = load(table(tmp_path / "d.csv", "colour,count,size", rows), bins=4)
    spec = data.spec
    mid = decode_rows(spec, data.x)
    assert [r[0] for r in mid] == [r.split(",")[0] for r in rows]  # categorical: exact
    drawn = decode_rows(spec, data.x, np.random.default_rng(0))
    for j in (1, 2):
        edges = spec.columns[j]["bin_edges"]
        for k, row_mid, row_drawn in zip(data.x[:, j], mid, drawn):
            for value in (float(row_mid[j]), float(row_drawn[j])):
                assert edges[k] <= value <= edges[k + 1]
                assert value < edges[k + 1] or k == len(edges) - 2
    assert all(float(r[1]).is_integer() for r in drawn)  # integer columns decode to integers
    out = write_csv(tmp_path / "out" / "rows.csv", spec, data.x, np.random.default_rng(1))
    with open(out, newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == ["colour", "count", "size"] and len(written) == 61
    again = load(out, bins=4)
    assert again.spec.columns[0] == spec.columns[0]
    np.testing.assert_array_equal(again.x[:, 0], data.x[:, 0])
    with pytest.raises(DataError, match=r"column 'colour': code 3 is outside 0\.\.2"):
        decode_rows(spec, np.array([[3, 0, 0]]))


def test_cli_samples_a_tabular_run_to_csv(tmp_path, monkeypatch, capsys):
    from genstudio.cli import main

    rng = np.random.default_rng(0)
    a = rng.integers(0, 2, 300)
    b = np.where(rng.random(300) < 0.9, a, 1 - a)
    rows = [f"{['no', 'yes'][i]},{['low', 'high'][j]},{v:.3f}" for i, j, v in zip(a, b, rng.normal(size=300))]
    data = table(tmp_path / "t.csv", "smoker,risk,score", rows)
    ws = tmp_path / "ws"
    base = ["--workspace", str(ws)]
    assert (
        main([*base, "train", "bayesnet", "--data", str(data), "--data-option", "kind=tabular", "--epochs", "1"]) == 0
    )
    out = tmp_path / "s.csv"
    assert main([*base, "sample", "1", "-n", "50", "--seed", "2", "-o", str(out)]) == 0
    with open(out, newline="") as f:
        written = list(csv.reader(f))
    assert written[0] == ["smoker", "risk", "score"] and len(written) == 51
    assert {r[0] for r in written[1:]} <= {"no", "yes"} and {r[1] for r in written[1:]} <= {"low", "high"}
    assert all(-5 < float(r[2]) < 5 for r in written[1:])
    again = tmp_path / "again.csv"
    assert main([*base, "sample", "1", "-n", "50", "--seed", "2", "-o", str(again)]) == 0
    assert again.read_text() == out.read_text()  # the seed fixes the rows, continuous values too
    capsys.readouterr()
    assert main([*base, "sample", "1", "-o", str(tmp_path / "s.png")]) == 2
    assert "models tabular data; write a .csv" in capsys.readouterr().err
    numbers = table(tmp_path / "v.csv", "a,b", [f"{i},{i * 2}" for i in range(40)])
    assert main([*base, "train", "vae", "--data", str(numbers), "--steps", "1", "--hidden", "8"]) == 0
    assert main([*base, "sample", "2", "-o", str(tmp_path / "vectors.csv")]) == 2
    assert "only runs on tabular data sample to .csv" in capsys.readouterr().err


def test_score_uses_the_runs_own_data_options_unless_told(tmp_path, monkeypatch, capsys):
    """A Bayesian network trained on a CSV read as tabular scores it again without --data-option."""
    from genstudio.cli import main

    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(tmp_path / "ws"))
    rows = [f"{['yes', 'no'][i % 2]},{['a', 'b', 'c'][i % 3]},{i % 4}" for i in range(60)]
    data = table(tmp_path / "t.csv", "x,y,z", rows)
    # z (4 integers) is continuous in 2 bins only with these options: the model fits them alone
    options = ["--data-option", "max_categories=2", "--data-option", "bins=2"]
    assert main(["train", "bayesnet", "--data", str(data), *options, "--epochs", "1"]) == 0
    capsys.readouterr()
    assert main(["score", "1", "-o", str(tmp_path / "s.csv")]) == 0
    assert len((tmp_path / "s.csv").read_text().splitlines()) == 61
    assert main(["score", "1", "--data", str(data), "-o", str(tmp_path / "s2.csv")]) == 0
    assert (tmp_path / "s2.csv").read_text() == (tmp_path / "s.csv").read_text()
    told = main(["score", "1", "--data", str(data), "--data-option", "bins=5", "-o", str(tmp_path / "s3.csv")])
    assert told == 2 or (tmp_path / "s3.csv").read_text() != (tmp_path / "s.csv").read_text()


def test_the_built_in_asia_table_follows_the_network():
    """Frequencies of the built-in ``asia`` rows match the network's tables (bnlearn's)."""
    from genstudio.data import load_dataset
    from genstudio.data.asia import NAMES
    from genstudio.host import create_plugin_manager

    data = load_dataset(create_plugin_manager(autoload=False), "asia", {"n": 40_000, "seed": 1})
    assert data.spec.kind == "tabular" and [c["name"] for c in data.spec.columns] == list(NAMES)
    assert all(c["categories"] == ["no", "yes"] for c in data.spec.columns)
    x = data.x.astype(bool)
    col = {n: k for k, n in enumerate(NAMES)}
    smoker = x[:, col["smoke"]]
    assert x[:, col["smoke"]].mean() == pytest.approx(0.5, abs=0.01)
    assert x[smoker, col["lung"]].mean() == pytest.approx(0.1, abs=0.01)
    assert x[~smoker, col["lung"]].mean() == pytest.approx(0.01, abs=0.005)
    either = x[:, col["either"]]
    assert (either == (x[:, col["lung"]] | x[:, col["tub"]])).all()
    assert x[either, col["xray"]].mean() == pytest.approx(0.98, abs=0.02)
    assert x[~either, col["xray"]].mean() == pytest.approx(0.05, abs=0.005)
