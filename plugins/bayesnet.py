"""Bayesian network over the categorical columns of tabular data.

The model factorises over a directed acyclic graph, one conditional table per column:

    p(x) = prod_i p(x_i | x_pa(i))

**Structure.** Hill climbing on the BIC score (Schwarz 1978) with the operators add, delete
and reverse an edge, an acyclicity check on every move, and random restarts that perturb the
best graph (Koller and Friedman 2009, sec. 18.4.3). It climbs from the empty graph and from
the Chow-Liu tree, which escapes the commonest trap: a v-structure entered the wrong way
round. The score is a sum of one term per column and its parents (a family), each cached:

    BIC(G) = sum_i [ sum_jk N_ijk log(N_ijk / N_ij) - (log N / 2) q_i (r_i - 1) ]

with r_i the categories of column i, q_i the configurations of its parents and N_ijk the
rows with column i = k and its parents in configuration j. The option
``structure=chow-liu`` learns a maximum-weight spanning tree on the mutual information
(Chow and Liu 1968), each edge weighted by its BIC gain N I(u; v) - (log N / 2)(r_u - 1)(r_v - 1),
so edges that do not pay for themselves are left out (a forest), oriented away from the
first column of each tree.

**Tables.** The posterior mean under a Dirichlet prior of ``alpha`` pseudo-counts per cell
(Heckerman, Geiger and Chickering 1995): theta_ijk = (N_ijk + alpha) / (N_ij + r_i alpha).
``log_prob`` is exact, ``sum_i log theta_i[x_pa(i), x_i]`` in nats per row (a probability
mass: ``discrete_likelihood``); ``sample`` is ancestral (forward) sampling in topological
order (Koller and Friedman 2009, sec. 12.1.1).

**Training in the step loop.** The sufficient statistics are counts. Each step adds its batch
of rows to a table of the distinct rows seen, with how often each was drawn (so memory is
bounded by the distinct rows of the training split, at most the product of the columns'
categories); nothing else is kept. Counts are scaled to an effective size
N = min(rows drawn, spec.count): during the first pass they are the plain counts of the rows
seen; later passes draw every training row once per epoch, so the proportions converge to
the training split's while N stays the size of the data (BIC and the prior are not fooled
by repeats). The model is a deterministic function of these counts (the restarts use a seed
fixed for the run), refitted

- in ``train_step`` when the rows drawn have grown by ``relearn_growth`` since its last
  refit, and once when the first pass completes (rows drawn reach ``spec.count``): training
  losses come from these refits, so they repeat exactly with the seed;
- during the first pass, also before ``sample``, ``log_prob``, ``evaluate`` and
  ``checkpoint_state`` whenever rows arrived since the last fit: ``--epochs 1`` ends with a
  model fitted on every row seen. After the first pass, later steps only add counts, and
  refits become geometrically rarer.

``structure()`` returns the last fit's graph without refitting (cheap for the window).
"""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import torch

from genstudio.api import Batch, CheckpointError, DataSpec, GenerativeModel
from genstudio_plugins.families.bayesnet import FAMILY, BayesNetConfig

#: Largest conditional table (parent configurations x categories) a move may create.
MAX_CELLS = 1 << 18
#: Pending rows merged into the table of distinct rows once there are this many.
MERGE_EVERY = 1 << 16
STATE_VERSION = 1


# --------------------------------------------------------------------------------------
# Scores


class _Scorer:
    """BIC family scores from weighted distinct rows, cached per (child, parents)."""

    def __init__(self, rows: np.ndarray, weights: np.ndarray, cards: list[int], n: float):
        self.cols = [np.ascontiguousarray(rows[:, i]) for i in range(rows.shape[1])]
        self.weights = weights
        self.cards = cards
        self.half_log_n = 0.5 * math.log(max(n, 1.0))
        self.cache: dict[tuple[int, tuple[int, ...]], float] = {}

    def cells(self, child: int, parents: tuple[int, ...]) -> int:
        return math.prod(self.cards[p] for p in parents) * self.cards[child]

    def counts(self, child: int, parents: tuple[int, ...]) -> np.ndarray:
        """Weighted counts ``(q, r)``: parent configuration (first parent most significant) x value."""
        idx = np.zeros(len(self.weights), np.int64)
        for p in (*parents, child):
            idx = idx * self.cards[p] + self.cols[p]
        r = self.cards[child]
        cells = self.cells(child, parents)
        return np.bincount(idx, weights=self.weights, minlength=cells).reshape(cells // r, r)

    def score(self, child: int, parents: tuple[int, ...]) -> float:
        key = (child, parents)
        found = self.cache.get(key)
        if found is None:
            n = self.counts(child, parents)
            nj = n.sum(1)
            ll = _xlogx(n).sum() - _xlogx(nj).sum()
            found = float(ll - self.half_log_n * n.shape[0] * (n.shape[1] - 1))
            self.cache[key] = found
        return found


def _xlogx(a: np.ndarray) -> np.ndarray:
    return a * np.log(np.where(a > 0, a, 1.0))


# --------------------------------------------------------------------------------------
# Structure search. A graph is a boolean adjacency matrix: adj[u, v] for the edge u -> v.


def _reach(adj: np.ndarray) -> np.ndarray:
    """``reach[a, b]``: a directed path leads from a to b (transitive closure by squaring)."""
    r = adj.copy()
    while True:
        nxt = r | ((r.astype(np.int32) @ r.astype(np.int32)) > 0)
        if (nxt == r).all():
            return r
        r = nxt


def _parents(adj: np.ndarray, v: int) -> tuple[int, ...]:
    return tuple(np.flatnonzero(adj[:, v]).tolist())


def _total(adj: np.ndarray, scorer: _Scorer) -> float:
    return sum(scorer.score(v, _parents(adj, v)) for v in range(len(adj)))


class _Climber:
    """Greedy best-improvement hill climbing with the moves add, delete and reverse an edge
    (Koller and Friedman 2009, sec. 18.4.3). Score changes are kept per child column in two
    matrices, ``add[u, v]`` and ``delete[u, v]``, refreshed only for the columns a move
    changed; legality (acyclicity, ``max_parents``, table size) is recomputed each move."""

    def __init__(self, scorer: _Scorer, max_parents: int):
        self.scorer = scorer
        self.max_parents = max_parents
        self.cards = np.asarray(scorer.cards, np.float64)

    def refresh(self, adj: np.ndarray, v: int) -> None:
        ps = _parents(adj, v)
        base = self.scorer.score(v, ps)
        cells = math.prod(self.scorer.cards[p] for p in ps) * self.cards[v] * self.cards
        self.add[:, v] = -np.inf
        self.delete[:, v] = -np.inf
        for u in range(len(adj)):
            if u in ps:
                self.delete[u, v] = self.scorer.score(v, tuple(p for p in ps if p != u)) - base
            elif u != v and cells[u] <= MAX_CELLS:
                self.add[u, v] = self.scorer.score(v, tuple(sorted((*ps, u)))) - base

    def legal(self, adj: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Masks of the legal adds, deletes and reversals of u -> v, indexed [u, v]."""
        reach = _reach(adj)
        room = adj.sum(0) < self.max_parents
        can_add = ~adj & ~adj.T & ~reach.T & room[None, :] & np.isfinite(self.add)
        # reversing u -> v closes a cycle when another path leads from u to v
        other_path = (adj.astype(np.int32) @ reach.astype(np.int32)) > 0
        can_reverse = adj & ~other_path & room[:, None] & np.isfinite(self.add.T)
        return can_add, adj.copy(), can_reverse

    def apply(self, adj: np.ndarray, op: int, u: int, v: int) -> None:
        adj[u, v] = op == 0  # 0 add, 1 delete, 2 reverse
        if op == 2:
            adj[v, u] = True
        for c in (v, u) if op == 2 else (v,):
            self.refresh(adj, c)

    def climb(self, adj: np.ndarray, max_iters: int) -> np.ndarray:
        adj = adj.copy()
        d = len(adj)
        self.add = np.full((d, d), -np.inf)
        self.delete = np.full((d, d), -np.inf)
        for v in range(d):
            self.refresh(adj, v)
        for _ in range(max_iters):
            masks = self.legal(adj)
            gains = [self.add, self.delete, self.delete + self.add.T]
            best = (1e-9, -1, 0, 0)
            for op, (mask, gain) in enumerate(zip(masks, gains)):
                if mask.any():
                    g = np.where(mask, gain, -np.inf)
                    k = int(np.argmax(g))
                    if g.flat[k] > best[0]:
                        best = (float(g.flat[k]), op, *divmod(k, d))
            if best[1] < 0:
                break
            self.apply(adj, *best[1:])
        return adj

    def perturb(self, adj: np.ndarray, moves: int, rng: np.random.Generator) -> np.ndarray:
        """``adj`` after ``moves`` random legal moves."""
        adj = adj.copy()
        d = len(adj)
        self.add = np.full((d, d), -np.inf)
        self.delete = np.full((d, d), -np.inf)
        for v in range(d):
            self.refresh(adj, v)
        for _ in range(moves):
            options = np.argwhere(np.stack(self.legal(adj)))
            if len(options):
                self.apply(adj, *(int(a) for a in options[rng.integers(len(options))]))
        return adj


def hill_climb(scorer: _Scorer, d: int, config: BayesNetConfig, seed: int) -> np.ndarray:
    """Climb from the empty graph and from the Chow-Liu tree, keep the better, then restart
    ``restarts`` times from the best graph after ``max(2, d // 2)`` random moves."""
    climber = _Climber(scorer, config.max_parents)
    starts = [np.zeros((d, d), bool)]
    if config.max_parents >= 1:
        starts.append(chow_liu(scorer, d, 1))
    climbed = [climber.climb(g, config.max_iters) for g in starts]
    scores = [_total(g, scorer) for g in climbed]
    best_score = max(scores)
    best = climbed[scores.index(best_score)]
    rng = np.random.default_rng(seed)
    for _ in range(config.restarts):
        graph = climber.climb(climber.perturb(best, max(2, d // 2), rng), config.max_iters)
        score = _total(graph, scorer)
        if score > best_score + 1e-9:
            best, best_score = graph, score
    return best


def chow_liu(scorer: _Scorer, d: int, max_parents: int) -> np.ndarray:
    """Maximum-weight spanning forest on BIC-penalised mutual information, edges pointing
    away from the lowest-numbered column of each tree (Kruskal, then breadth first)."""
    adj = np.zeros((d, d), bool)
    if max_parents < 1:
        return adj
    gains = [(scorer.score(v, (u,)) - scorer.score(v, ()), u, v) for u, v in itertools.combinations(range(d), 2)]
    root = list(range(d))

    def find(a: int) -> int:
        while root[a] != a:
            root[a] = root[root[a]]
            a = root[a]
        return a

    tree = np.zeros((d, d), bool)
    for gain, u, v in sorted(gains, key=lambda g: (-g[0], g[1], g[2])):
        if gain <= 1e-9:
            break
        ru, rv = find(u), find(v)
        if ru != rv:
            root[ru] = rv
            tree[u, v] = tree[v, u] = True
    seen: set[int] = set()
    for start in range(d):
        if start in seen:
            continue
        seen.add(start)
        queue = [start]
        while queue:
            a = queue.pop(0)
            for b in np.flatnonzero(tree[a]).tolist():
                if b not in seen:
                    seen.add(b)
                    adj[a, b] = True
                    queue.append(b)
    return adj


def topological_order(parents: list[list[int]]) -> list[int]:
    order: list[int] = []
    placed: set[int] = set()
    while len(order) < len(parents):
        ready = [i for i in range(len(parents)) if i not in placed and all(p in placed for p in parents[i])]
        if not ready:
            raise CheckpointError("the graph has a cycle")
        order.extend(ready)
        placed.update(ready)
    return order


# --------------------------------------------------------------------------------------
# The model


class BayesNet(GenerativeModel, family=FAMILY):
    """Discrete Bayesian network: a DAG over the columns and one conditional table per column."""

    discrete_likelihood = True

    @classmethod
    def check_data(cls, spec: DataSpec) -> str | None:
        reason = super().check_data(spec)
        if reason and spec.kind == "vector":
            reason += "; to read a CSV's columns as categories, add --data-option kind=tabular"
        return reason

    def __init__(self, spec: DataSpec, config: BayesNetConfig, device: Any = "cpu"):
        super().__init__(spec, config, device)
        d = spec.dim
        if spec.columns:
            self.names = [str(c["name"]) for c in spec.columns]
            self.cards = [max(1, len(c["categories"])) for c in spec.columns]
        else:
            self.names = [f"x{i}" for i in range(d)]
            self.cards = [int(spec.value_range[1]) + 1] * d
        # restarts draw from a seed fixed per run (the host seeds torch before building)
        self.seed = int(torch.randint(0, 2**31 - 1, ()).item())
        self.rows = np.zeros((0, d), np.int64)  # distinct rows seen ...
        self.weights = np.zeros(0, np.int64)  # ... and how often each was drawn
        self.pending: list[np.ndarray] = []
        self.seen = 0  # rows drawn, repeats included
        self.sched_seen = 0
        self.sched_losses: dict[str, float] = {}
        self._set_fit(0, [[] for _ in range(d)], self._tables([[] for _ in range(d)], None), {}, [])

    # -- counts ------------------------------------------------------------------------------

    def _codes(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as int64 codes ``(N, D)``; raises for another shape or a code out of range."""
        if x.dim() != 2 or x.shape[1] != len(self.cards):
            raise ValueError(f"expected codes shaped (N, {len(self.cards)}), got {tuple(x.shape)}")
        if x.is_floating_point():
            x = x.round()
        x = x.long()
        cards = torch.tensor(self.cards, device=x.device)
        bad = (x < 0) | (x >= cards)
        if bool(bad.any()):
            i, j = (int(a) for a in bad.nonzero()[0])
            raise ValueError(f"column {self.names[j]!r}: code {int(x[i, j])} is outside 0..{self.cards[j] - 1}")
        return x

    def _merge(self) -> None:
        if not self.pending:
            return
        both = np.concatenate([self.rows, *self.pending])
        w = np.concatenate([self.weights, np.ones(len(both) - len(self.rows), np.int64)])
        if math.prod(self.cards) < 2**62:
            # each row as one integer (mixed radix): sorting 65,536 int64 keys takes a few ms,
            # where np.unique(axis=0) sorted the rows as raw bytes for over 100 ms, all of it
            # holding the interpreter lock (the window froze while a run merged its counts)
            keys = np.zeros(len(both), np.int64)
            for j, card in enumerate(self.cards):
                keys = keys * card + both[:, j]
            _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
            self.rows = both[first]
        else:
            self.rows, inverse = np.unique(both, axis=0, return_inverse=True)
        self.weights = np.bincount(inverse.reshape(-1), weights=w, minlength=len(self.rows)).astype(np.int64)
        self.pending = []

    def _n_eff(self) -> float:
        return float(min(self.seen, self.spec.count)) if self.spec.count > 0 else float(self.seen)

    # -- fitting -----------------------------------------------------------------------------

    def _tables(self, parents: list[list[int]], scorer: _Scorer | None) -> list[np.ndarray]:
        """Log conditional tables ``(q_i, r_i)`` float64: Dirichlet posterior means."""
        out = []
        a = self.config.alpha
        for i, ps in enumerate(parents):
            q = math.prod(self.cards[p] for p in ps)
            n = scorer.counts(i, tuple(ps)) if scorer is not None else np.zeros((q, self.cards[i]))
            out.append(np.log((n + a) / (n.sum(1, keepdims=True) + a * self.cards[i])))
        return out

    def _refit(self) -> None:
        self._merge()
        d = len(self.cards)
        n_eff = self._n_eff()
        scorer = _Scorer(self.rows, self.weights * (n_eff / self.seen), self.cards, n_eff)
        if self.config.structure == "chow-liu":
            graph = chow_liu(scorer, d, self.config.max_parents)
        else:
            graph = hill_climb(scorer, d, self.config, self.seed)
        parents = [list(_parents(graph, v)) for v in range(d)]
        tables = self._tables(parents, scorer)
        score = sum(scorer.score(i, tuple(ps)) for i, ps in enumerate(parents))
        strength = [
            (scorer.score(v, tuple(ps)) - scorer.score(v, tuple(p for p in ps if p != u))) / n_eff
            for v, ps in enumerate(parents)
            for u in ps
        ]
        lp = self._row_log_probs(self.rows, parents, tables)
        losses = {
            "nll": float(-(self.weights * lp).sum() / self.seen),
            "bic": -score / n_eff,
            "edges": float(sum(len(ps) for ps in parents)),
        }
        self._set_fit(self.seen, parents, tables, losses, strength)

    def _set_fit(self, seen: int, parents: list[list[int]], tables: list[np.ndarray], losses: dict, strength: list):
        self.fit_seen = seen
        self.parents = parents
        self.log_tables = tables
        self.losses = losses
        self.order = topological_order(parents)
        self.strength = [float(s) for s in strength]
        self._device_cache: dict[str, tuple[list[torch.Tensor], list[torch.Tensor]]] = {}
        self._structure = self._describe()

    def _row_log_probs(self, rows: np.ndarray, parents: list[list[int]], tables: list[np.ndarray]) -> np.ndarray:
        lp = np.zeros(len(rows))
        for i, ps in enumerate(parents):
            j = np.zeros(len(rows), np.int64)
            for p in ps:
                j = j * self.cards[p] + rows[:, p]
            lp += tables[i][j, rows[:, i]]
        return lp

    def _ensure_current(self) -> None:
        """During the first pass, fit every row seen before the model is used."""
        if self.seen != self.fit_seen and 0 < self.seen < self.spec.count:
            self._refit()

    # -- the contract ------------------------------------------------------------------------

    def train_step(self, batch: Batch) -> dict[str, float]:
        """Add the batch's rows ``(N, D)`` int64 to the counts; refit on schedule (see the
        module docstring). Losses, per row in nats: ``nll`` on the rows seen, ``bic`` (minus
        the BIC score over N), and ``edges``."""
        x = self._codes(batch.x)
        self.pending.append(x.cpu().numpy())
        self.seen += len(x)
        if sum(len(p) for p in self.pending) >= MERGE_EVERY:
            self._merge()
        first_pass_done = self.seen >= self.spec.count > self.sched_seen
        if self.sched_seen == 0 or self.seen >= self.config.relearn_growth * self.sched_seen or first_pass_done:
            if self.fit_seen != self.seen:
                self._refit()
            self.sched_seen = self.seen
            self.sched_losses = dict(self.losses)
        return dict(self.sched_losses)

    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Held-out ``nll``: mean negative log-likelihood per row, nats."""
        return {"nll": float(-self.log_prob(batch.x).mean())}

    def _device_tables(self, device: torch.device) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Per column, on ``device``: the flat log table and the cumulative table ``(q, r)``."""
        key = str(device)
        if key not in self._device_cache:
            dtype = torch.float32 if device.type == "mps" else torch.float64
            logs = [torch.as_tensor(t, dtype=dtype, device=device) for t in self.log_tables]
            self._device_cache[key] = ([t.reshape(-1) for t in logs], [t.exp().cumsum(1) for t in logs])
        return self._device_cache[key]

    def _config_index(self, x: torch.Tensor, i: int) -> torch.Tensor:
        j = torch.zeros(len(x), dtype=torch.long, device=x.device)
        for p in self.parents[i]:
            j = j * self.cards[p] + x[:, p]
        return j

    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """Exact log p(x) ``(N,)`` in nats per row (float64; float32 on MPS), for codes ``(N, D)``."""
        self._ensure_current()
        x = self._codes(x)
        flat, _ = self._device_tables(x.device)
        out = torch.zeros(len(x), dtype=flat[0].dtype, device=x.device)
        for i in range(len(self.cards)):
            out += flat[i][self._config_index(x, i) * self.cards[i] + x[:, i]]
        return out

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` rows of int64 codes ``(n, D)`` by ancestral sampling, in topological order."""
        self._ensure_current()
        device = generator.device if generator is not None else self.device
        _, cdfs = self._device_tables(device)
        x = torch.zeros(n, len(self.cards), dtype=torch.long, device=device)
        for i in self.order:
            cdf = cdfs[i][self._config_index(x, i)]  # (n, r)
            u = torch.rand(n, 1, generator=generator, device=device, dtype=cdf.dtype)
            x[:, i] = (cdf <= u).sum(1).clamp_max(self.cards[i] - 1)
        return x.to(self.device)

    def structure(self) -> dict[str, Any]:
        """The graph of the last fit (no refitting): ``nodes`` (column names), ``edges``
        ([parent, child] names), ``strength`` per edge (its BIC gain, nats per row), ``layers``
        (depth of each node: 0 for roots), ``cards``, ``types`` and ``rows`` (effective N)."""
        return dict(self._structure)

    def factors(self) -> list[tuple[list[int], np.ndarray]]:
        """The network as factors, one per column i in column order: its scope
        ``[*parents(i), i]`` (column indices) and the table p(x_i | x_parents) shaped
        ``(card_parent1, ..., card_parentk, card_i)``, float64, each row summing to 1. Exact
        queries (genstudio query, impute, the window's evidence) run on these."""
        self._ensure_current()
        return [
            ([*ps, i], np.exp(t).reshape(*(self.cards[p] for p in ps), self.cards[i]))
            for i, (ps, t) in enumerate(zip(self.parents, self.log_tables))
        ]

    def _describe(self) -> dict[str, Any]:
        layers = [0] * len(self.cards)
        for i in self.order:
            layers[i] = 1 + max((layers[p] for p in self.parents[i]), default=-1)
        types = [str(c.get("type", "categorical")) for c in self.spec.columns or ()] or ["categorical"] * len(layers)
        return {
            "nodes": list(self.names),
            "edges": [[self.names[u], self.names[v]] for v, ps in enumerate(self.parents) for u in ps],
            "strength": list(self.strength),
            "layers": layers,
            "cards": list(self.cards),
            "types": types,
            "method": self.config.structure,
            "rows": int(min(self.fit_seen, self.spec.count)) if self.spec.count > 0 else self.fit_seen,
        }

    def checkpoint_state(self) -> dict[str, Any]:
        """Counts (distinct rows and how often each was drawn), the graph and the log tables."""
        self._ensure_current()
        self._merge()
        return {
            "version": STATE_VERSION,
            "seed": self.seed,
            "seen": self.seen,
            "rows": torch.from_numpy(self.rows.copy()),
            "weights": torch.from_numpy(self.weights.copy()),
            "sched_seen": self.sched_seen,
            "sched_losses": dict(self.sched_losses),
            "fit": {
                "seen": self.fit_seen,
                "parents": [list(ps) for ps in self.parents],
                "tables": [torch.from_numpy(t.copy()) for t in self.log_tables],
                "losses": dict(self.losses),
                "strength": list(self.strength),
            },
        }

    def load_checkpoint_state(self, state: dict[str, Any]) -> None:
        try:
            fit = state["fit"]
            parents = [[int(p) for p in ps] for ps in fit["parents"]]
            tables = [t.detach().cpu().double().numpy() for t in fit["tables"]]
            rows = state["rows"].detach().cpu().long().numpy().reshape(-1, len(self.cards))
            weights = state["weights"].detach().cpu().long().numpy()
        except (KeyError, TypeError, ValueError, RuntimeError) as exc:
            raise CheckpointError(f"not a bayesnet checkpoint ({type(exc).__name__}: {exc})") from None
        expected = [(math.prod(self.cards[p] for p in ps), r) for ps, r in zip(parents, self.cards)]
        if len(parents) != len(self.cards) or [t.shape for t in tables] != expected or len(weights) != len(rows):
            raise CheckpointError("the checkpoint's graph and tables do not fit these columns")
        self.seed = int(state["seed"])
        self.rows, self.weights, self.pending = rows, weights, []
        self.seen = int(state["seen"])
        self.sched_seen = int(state["sched_seen"])
        self.sched_losses = {k: float(v) for k, v in state["sched_losses"].items()}
        self._set_fit(int(fit["seen"]), parents, tables, dict(fit["losses"]), list(fit["strength"]))
