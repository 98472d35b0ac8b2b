"""``asia``: a built-in table drawn from the Asia network (Lauritzen and Spiegelhalter 1988),
the textbook Bayesian network of chest-clinic diagnosis, with the conditional probability
tables bnlearn publishes (https://www.bnlearn.com/bnrepository/#asia).

Eight yes/no columns: a visit to Asia, tuberculosis, smoking, lung cancer, bronchitis,
"either" (tuberculosis or lung cancer), a positive X-ray and dyspnoea. Rows are drawn by
ancestral sampling from a seed, so the Bayesian network family has data to learn from (and
questions such as ``lung | smoke=yes, xray=yes`` to answer) without a file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from genstudio.api import Dataset, DataSource, DataSpec, LoadContext, param

#: The columns, in topological order (parents before children).
NAMES = ("asia", "tub", "smoke", "lung", "bronc", "either", "xray", "dysp")
#: Each node's parents and p(node = yes | parents), keyed by the parents' values (True: yes).
NETWORK: dict[str, tuple[tuple[str, ...], dict[tuple[bool, ...], float]]] = {
    "asia": ((), {(): 0.01}),
    "tub": (("asia",), {(True,): 0.05, (False,): 0.01}),
    "smoke": ((), {(): 0.5}),
    "lung": (("smoke",), {(True,): 0.1, (False,): 0.01}),
    "bronc": (("smoke",), {(True,): 0.6, (False,): 0.3}),
    "either": (
        ("lung", "tub"),
        {(True, True): 1.0, (True, False): 1.0, (False, True): 1.0, (False, False): 0.0},
    ),
    "xray": (("either",), {(True,): 0.98, (False,): 0.05}),
    "dysp": (
        ("bronc", "either"),
        {(True, True): 0.9, (True, False): 0.8, (False, True): 0.7, (False, False): 0.1},
    ),
}
#: Category codes as a CSV of these values reads them (sorted): 0 = "no", 1 = "yes".
CATEGORIES = ("no", "yes")


def draw(n: int, rng: np.random.Generator) -> np.ndarray:
    """``(n, 8)`` int64 codes (1: yes) drawn by ancestral sampling."""
    yes = np.zeros((n, len(NAMES)), bool)
    col = {name: k for k, name in enumerate(NAMES)}
    for name in NAMES:
        parents, table = NETWORK[name]
        p = np.empty(n)
        for key, p_yes in table.items():
            match = np.ones(n, bool)
            for parent, value in zip(parents, key):
                match &= yes[:, col[parent]] == value
            p[match] = p_yes
        yes[:, col[name]] = rng.random(n) < p
    return yes.astype(np.int64)


@dataclass
class AsiaOptions:
    n: int = param(5000, min=100, max=5_000_000, help="Rows drawn from the network")
    seed: int = param(0, min=0, help="Seed of the draws")


class Asia(DataSource):
    """Rows drawn from the Asia network: eight yes/no columns, tabular."""

    name = "asia"
    title = "Asia network (tabular)"
    description = "Chest-clinic diagnosis: 8 yes/no columns drawn from the Asia Bayesian network (Lauritzen 1988)"
    Options = AsiaOptions

    def load(self, options: Any, path: Any, context: LoadContext) -> Dataset:
        codes = draw(options.n, np.random.default_rng(options.seed))
        columns = tuple({"name": name, "type": "categorical", "categories": list(CATEGORIES)} for name in NAMES)
        spec = DataSpec("tabular", (len(NAMES),), len(codes), (0.0, 1.0), None, self.name, columns=columns)
        return Dataset(codes, None, spec)
