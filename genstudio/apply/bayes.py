"""Exact queries on a discrete Bayesian network: posteriors by variable elimination, imputation.

A network is its columns (names and categories) and one factor per column, ``(scope,
table)``: the scope lists column indices, the table has one axis per scope entry, and for a
Bayesian network it is the conditional p(x_child | x_parents) (the child last). A model
family exposes them through the ``factors`` capability.

Posteriors come from sum-product variable elimination (Zhang and Poole 1994; Koller and
Friedman 2009, Algorithm 9.1): evidence reduces the factors, then every other variable but
the query is summed out, the one whose elimination makes the smallest factor first. Each
intermediate factor is rescaled to a maximum of 1 (the constants cancel in the final
normalisation), so long chains of small probabilities do not underflow.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from genstudio.api import ConfigError

Factor = tuple[tuple[int, ...], np.ndarray]


@dataclass
class Network:
    names: list[str]
    categories: list[list[str]]
    factors: list[Factor]

    def index(self, name: str) -> int:
        """The column's index; :class:`ConfigError` naming the known columns when there is none."""
        if name in self.names:
            return self.names.index(name)
        lowered = [n.lower() for n in self.names]
        if name.lower() in lowered:
            return lowered.index(name.lower())
        raise ConfigError(f"no column {name!r}; the network's columns: {', '.join(self.names)}")

    def code(self, column: int, value: str) -> int:
        """The code of ``value`` in a column; :class:`ConfigError` listing its values when it never had it."""
        cats = self.categories[column]
        value = value.strip()
        if value in cats:
            return cats.index(value)
        folded = [c.lower() for c in cats]
        if value.lower() in folded:
            return folded.index(value.lower())
        try:  # "1.0" for the category "1"
            number = float(value)
            for k, c in enumerate(cats):
                if _float(c) == number:
                    return k
        except ValueError:
            pass
        raise ConfigError(f"column {self.names[column]!r} never had the value {value!r}; its values: {', '.join(cats)}")

    @property
    def cards(self) -> list[int]:
        return [len(c) for c in self.categories]


def _float(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def network_of(model: Any) -> Network:
    """The network of a model with the ``factors`` capability and tabular columns."""
    factors = getattr(model, "factors", None)
    if not callable(factors):
        raise ConfigError(f"the {getattr(model, 'name', '?')} family has no factors to query (a Bayesian network has)")
    spec = model.spec
    cols = spec.columns or [
        {"name": f"x{i}", "categories": [str(k) for k in range(int(spec.value_range[1]) + 1)]} for i in range(spec.dim)
    ]
    out = [(tuple(int(v) for v in scope), np.asarray(table, np.float64)) for scope, table in factors()]
    return Network([str(c["name"]) for c in cols], [[str(k) for k in c["categories"]] for c in cols], out)


# --------------------------------------------------------------------------------------
# Queries: "lung | smoke=yes, xray=yes"


def parse_query(text: str, net: Network) -> tuple[list[int], dict[int, int]]:
    """Query columns and evidence ``{column: code}`` from ``"a, b | c=v, d=w"``. Raises
    :class:`ConfigError` for a column that does not exist or a value a column never had."""
    head, _, tail = text.partition("|")
    query = [net.index(q.strip()) for q in head.split(",") if q.strip()]
    if not query:
        raise ConfigError(f"query {text!r} names no column before '|'; write it as \"lung | smoke=yes\"")
    evidence: dict[int, int] = {}
    for part in (p.strip() for p in re.split(r"[,;]", tail) if p.strip()):
        name, sep, value = part.partition("=")
        if not sep:
            raise ConfigError(f"evidence {part!r} is not COLUMN=VALUE")
        col = net.index(name.strip())
        evidence[col] = net.code(col, value)
    both = sorted(set(query) & set(evidence))
    if both:
        raise ConfigError(f"column {net.names[both[0]]!r} is both queried and given as evidence")
    return query, evidence


def _reduce(factors: list[Factor], evidence: dict[int, int]) -> list[Factor]:
    out = []
    for scope, table in factors:
        index = tuple(evidence.get(v, slice(None)) for v in scope)
        kept = tuple(v for v in scope if v not in evidence)
        out.append((kept, np.asarray(table[index], np.float64)))
    return out


def _product(factors: list[Factor], drop: int | None = None) -> Factor:
    """The product of ``factors``, with variable ``drop`` summed out, rescaled to max 1."""
    scope = tuple(dict.fromkeys(v for s, _ in factors for v in s))
    local = {v: i for i, v in enumerate(scope)}
    kept = tuple(v for v in scope if v != drop)
    args: list[Any] = []
    for s, t in factors:
        args += [t, [local[v] for v in s]]
    table = np.einsum(*args, [local[v] for v in kept]) if args else np.ones(())
    top = table.max() if table.size else 0.0
    return kept, table / top if top > 0 else table


def _cost(net: Network, factors: list[Factor], v: int) -> int:
    return math.prod(net.cards[u] for u in {u for s, _ in factors if v in s for u in s})


def joint(net: Network, keep: list[int], evidence: dict[int, int]) -> np.ndarray:
    """p(keep | evidence), a table with one axis per entry of ``keep`` (in that order), by
    variable elimination. Raises :class:`ConfigError` when the evidence is impossible."""
    factors = _reduce(net.factors, evidence)
    keep_set = set(keep)
    hidden = {v for s, _ in factors for v in s} - keep_set
    while hidden:
        # the variable whose elimination makes the smallest factor (a greedy min-weight order)
        v = min(sorted(hidden), key=lambda v, fs=factors: _cost(net, fs, v))
        touching = [f for f in factors if v in f[0]]
        factors = [f for f in factors if v not in f[0]]
        factors.append(_product(touching, drop=v))
        hidden.discard(v)
    scope, table = _product(factors)
    for v in keep:  # a query column no factor mentions: uniform
        if v not in scope:
            scope, table = (*scope, v), np.repeat(table[..., None], net.cards[v], axis=-1)
    table = np.transpose(table, [scope.index(v) for v in keep])
    total = table.sum()
    if not total > 0:
        given = ", ".join(f"{net.names[c]}={net.categories[c][k]}" for c, k in evidence.items())
        raise ConfigError(f"the evidence ({given}) has probability 0 under this network")
    return table / total


def posterior(net: Network, query: list[int], evidence: dict[int, int]) -> dict[str, dict[str, float]]:
    """The marginal posterior of each query column: ``{column: {value: probability}}``."""
    out = {}
    for q in query:
        p = joint(net, [q], evidence)
        out[net.names[q]] = {c: float(v) for c, v in zip(net.categories[q], p)}
    return out


def all_posteriors(net: Network, evidence: dict[int, int]) -> dict[str, dict[str, float]]:
    """Every column's posterior given ``evidence``; an evidence column is certain of its value."""
    out = {}
    for c, name in enumerate(net.names):
        if c in evidence:
            out[name] = {v: float(k == evidence[c]) for k, v in enumerate(net.categories[c])}
        else:
            out[name] = posterior(net, [c], evidence)[name]
    return out


# --------------------------------------------------------------------------------------
# Imputation: missing cells (-1) filled with the most probable values, or drawn


#: Joint posteriors over a row's missing cells up to this many configurations; beyond, the
#: cells are filled one at a time by the chain rule.
MAX_JOINT = 1 << 20


def impute(net: Network, codes: np.ndarray, sample: bool = False, seed: int = 0) -> np.ndarray:
    """``codes`` ``(N, D)`` int64 with -1 for missing cells -> filled codes. Each row's missing
    cells get their jointly most probable values given the row's other cells (the MAP
    assignment of p(missing | observed)), or, with ``sample``, a draw from that posterior.
    When a row's missing cells have more than :data:`MAX_JOINT` configurations, they are
    drawn (or chosen) one at a time from p(x_j | observed, cells already filled): exact for
    drawing, a greedy approximation of the MAP."""
    rng = np.random.default_rng(seed)
    codes = np.array(codes, np.int64, copy=True)
    cache: dict[tuple, np.ndarray] = {}
    for row in codes:
        missing = [int(j) for j in np.flatnonzero(row < 0)]
        if not missing:
            continue
        evidence = {j: int(row[j]) for j in range(len(row)) if row[j] >= 0}
        if math.prod(net.cards[j] for j in missing) <= MAX_JOINT:
            key = tuple(row.tolist())
            if key not in cache:
                cache[key] = joint(net, missing, evidence)
            p = cache[key]
            flat = rng.choice(p.size, p=p.reshape(-1)) if sample else int(np.argmax(p))
            row[missing] = np.unravel_index(flat, p.shape)
        else:
            for j in missing:
                p = joint(net, [j], evidence)
                row[j] = rng.choice(len(p), p=p) if sample else int(np.argmax(p))
                evidence[j] = int(row[j])
    return codes


def brute_force(net: Network, query: int, evidence: dict[int, int]) -> np.ndarray:
    """p(query | evidence) by enumerating the whole joint: the reference for tests (small
    networks only)."""
    total = np.zeros(net.cards[query])
    for x in np.ndindex(*net.cards):
        if any(x[c] != k for c, k in evidence.items()):
            continue
        p = 1.0
        for scope, table in net.factors:
            p *= table[tuple(x[v] for v in scope)]
        total[x[query]] += p
    return total / total.sum()
