"""The Asia network (Lauritzen and Spiegelhalter 1988), with the CPTs bnlearn publishes."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from genstudio.apply.bayes import Network

NAMES = ["asia", "tub", "smoke", "lung", "bronc", "either", "xray", "dysp"]
YES, NO = 0, 1  # categories ["yes", "no"], in that order


def _cpt(rows: dict, parents: int) -> np.ndarray:
    """Tables p(child | parents) from {parent values (yes/no tuple): p(child=yes)}."""
    t = np.zeros((2,) * parents + (2,))
    for key, p_yes in rows.items():
        idx = tuple(YES if k == "yes" else NO for k in key)
        t[(*idx, YES)] = p_yes
        t[(*idx, NO)] = 1 - p_yes
    return t


def asia() -> Network:
    i = {n: k for k, n in enumerate(NAMES)}
    factors = [
        ((i["asia"],), _cpt({(): 0.01}, 0)),
        ((i["asia"], i["tub"]), _cpt({("yes",): 0.05, ("no",): 0.01}, 1)),
        ((i["smoke"],), _cpt({(): 0.5}, 0)),
        ((i["smoke"], i["lung"]), _cpt({("yes",): 0.1, ("no",): 0.01}, 1)),
        ((i["smoke"], i["bronc"]), _cpt({("yes",): 0.6, ("no",): 0.3}, 1)),
        (
            (i["lung"], i["tub"], i["either"]),
            _cpt({("yes", "yes"): 1.0, ("yes", "no"): 1.0, ("no", "yes"): 1.0, ("no", "no"): 0.0}, 2),
        ),
        ((i["either"], i["xray"]), _cpt({("yes",): 0.98, ("no",): 0.05}, 1)),
        (
            (i["bronc"], i["either"], i["dysp"]),
            _cpt({("yes", "yes"): 0.9, ("yes", "no"): 0.8, ("no", "yes"): 0.7, ("no", "no"): 0.1}, 2),
        ),
    ]
    return Network(list(NAMES), [["yes", "no"]] * len(NAMES), factors)


def sample_csv(path: Path, n: int, seed: int = 0) -> Path:
    """``n`` rows drawn from the Asia network by ancestral sampling, as a CSV with a header."""
    net = asia()
    rng = np.random.default_rng(seed)
    x = np.zeros((n, len(NAMES)), np.int64)
    for scope, table in net.factors:  # listed in topological order
        *parents, child = scope
        p_yes = table[(*(x[:, p] for p in parents), np.full(n, YES))] if parents else np.full(n, table[YES])
        x[:, child] = np.where(rng.random(n) < p_yes, YES, NO)
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(NAMES)
        w.writerows([["yes" if v == YES else "no" for v in row] for row in x])
    return path
