"""Restricted Boltzmann machines (Smolensky 1986; Hinton 2002).

An RBM is an energy-based model over visible units v and binary hidden units h, with no
connections inside a layer, so both conditionals factorise. Two kinds of visible units:

- Bernoulli (binary data: images binarised by threshold or stochastically):
      E(v, h) = -b.v - c.h - v.W.h
      F(v)    = -b.v - sum_j softplus(c_j + v.W_j)                    (free energy, nats)
- Gaussian with learned variances, for continuous vectors (Krizhevsky 2009, "Learning multiple
  layers of features from tiny images", the RBM with Gaussian visible units):
      E(v, h) = sum_i (v_i - b_i)^2 / 2 s_i^2 - c.h - sum_ij (v_i / s_i) W_ij h_j
      F(v)    = sum_i (v_i - b_i)^2 / 2 s_i^2 - sum_j softplus(c_j + sum_i W_ij v_i / s_i)
  so p(v | h) = N(b + s * W h, diag(s^2)). The data are standardised per dimension with the
  mean and standard deviation of the first training batch, then frozen (so the model's units
  never move; ``log_prob`` adds the map's log-Jacobian). The variances are learned: unit
  variances would blur every mixture component to the width of the whole data, and W acting
  on v / s keeps the gradients' scale independent of s. CD and PCD train these slowly on
  sharply multimodal data: on the 2-D toys they stay near the best single Gaussian for
  thousands of steps (exact maximum likelihood gets out), a known weakness of Gaussian RBMs.

Training follows the likelihood gradient -dF(v_data)/dtheta + dF(v_model)/dtheta, with the model
expectation from k Gibbs steps started at the data, contrastive divergence CD-k (Hinton 2002),
or from persistent chains carried across updates, PCD (Tieleman 2008). The update is
plain SGD with momentum and L2 weight decay on W (Hinton 2010, "A practical guide to training
RBMs", sections 9 and 10).

``log_prob`` is log p(v) = -F(v) - log Z, nats per example. Z is exact when there are at most
20 hidden units, summing over the 2^H hidden states:

    log Z = logsumexp_h [c.h + sum_i softplus(b_i + W_i.h)]                               (Bernoulli)
    log Z = logsumexp_h [c.h + sum_i (b_i a_i / s_i + a_i^2 / 2)] + sum_i log(2 pi s_i^2) / 2,  a = W h

and otherwise estimated by annealed importance sampling (Neal 2001) from a base-rate model
(Salakhutdinov and Murray 2008), whose visible marginals are running averages of the training
data (Gaussian: their running means and variances).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genstudio.api import Batch, DataSpec, TorchModel
from genstudio_plugins.families.rbm import FAMILY, RBMConfig

EXACT_MAX_HIDDEN = 20
MIN_VAR = 1e-3  # in standardised units: a standard deviation 3% of the data's


def _frame_steps(total: int) -> list[int]:
    """Chain steps at which ``sample_chain`` yields: 1..10, then 1.5 times further each, and the last."""
    steps, t = list(range(1, min(total, 10) + 1)), 10.0
    while True:
        t *= 1.5
        if round(t) >= total:
            break
        steps.append(round(t))
    if steps[-1] != total:
        steps.append(total)
    return steps


def ais_betas(n: int) -> torch.Tensor:
    """n + 1 inverse temperatures from 0 to 1, float64, in the proportions of Salakhutdinov and
    Murray 2008's 14,500: 500 in [0, 0.5], 4,000 in [0.5, 0.9], 10,000 in [0.9, 1]."""
    a, b = max(1, round(n * 500 / 14500)), max(1, round(n * 4000 / 14500))
    c = max(1, n - a - b)
    return torch.cat(
        [
            torch.linspace(0.0, 0.5, a + 1, dtype=torch.float64)[:-1],
            torch.linspace(0.5, 0.9, b + 1, dtype=torch.float64)[:-1],
            torch.linspace(0.9, 1.0, c + 1, dtype=torch.float64),
        ]
    )


class RBM(TorchModel, family=FAMILY):
    """Restricted Boltzmann machine trained by CD-k or PCD; Gibbs sampling; exact or AIS likelihood.

    Training scalars: ``cd_loss``, F(data) - F(fantasy) averaged over examples (nats; the
    surrogate whose gradient is the CD update, not a likelihood), ``free_energy``, the mean F of
    the batch (nats), and ``recon_mse``, the mean squared error per value of a mean-field
    reconstruction (Bernoulli: in [0, 1] pixel units; Gaussian: in standardised units).
    """

    def __init__(self, spec: DataSpec, config: RBMConfig, device="cpu"):
        super().__init__(spec, config, device)
        lo, hi = spec.value_range
        kind = config.visible
        if kind == "auto":
            kind = "bernoulli" if spec.unit_interval else "gaussian"
        if kind == "bernoulli" and (lo < 0.0 or hi > 1.0):
            raise ValueError(f"visible=bernoulli needs data in [0, 1]; this data spans [{lo:g}, {hi:g}]")
        self.gaussian = kind == "gaussian"
        if self.gaussian and config.method == "pt":
            raise ValueError("method=pt needs Bernoulli visible units (images or data in [0, 1])")
        self.discrete_likelihood = not self.gaussian
        # tempered copies per chain: sampling ladders, and with method=pt the persistent ones
        self.ladder = 1 if self.gaussian else config.temperatures
        v, h = spec.dim, config.hidden
        # Hinton's guide, section 8: small random weights, zero hidden biases; the visible
        # biases are set from the first batch (log-odds of the pixel means, or the data means)
        self.W = nn.Parameter(torch.randn(v, h) * 0.01)
        self.b = nn.Parameter(torch.zeros(v))
        self.c = nn.Parameter(torch.zeros(h))
        self.log_var = nn.Parameter(torch.zeros(v)) if self.gaussian else None
        # Gaussian: data = shift + scale * v; set from the first batch (until then, the value range)
        centre, half = ((lo + hi) / 2.0, max((hi - lo) / 2.0, 1e-6)) if self.gaussian else (0.0, 1.0)
        self.register_buffer("shift", torch.full((v,), centre))
        self.register_buffer("scale", torch.full((v,), half))
        # running mean and mean square of the training data in model units: the AIS base model
        self.register_buffer("data_mean", torch.zeros(v))
        self.register_buffer("data_sq", torch.ones(v))
        self.register_buffer("data_count", torch.zeros(()))
        persistent = {"pcd": config.n_chains, "pt": config.n_chains * self.ladder}.get(config.method, 0)
        self.register_buffer("chains", torch.zeros(persistent, v))
        groups = [
            {"params": [self.W], "weight_decay": config.weight_decay},
            {"params": [p for p in (self.b, self.c, self.log_var) if p is not None], "weight_decay": 0.0},
        ]
        self.opt = torch.optim.SGD(groups, lr=config.lr, momentum=config.momentum)
        self._log_z: float | None = None
        self._ais: dict | None = None
        self._hidden_offset: torch.Tensor | None = None  # centering's lambda

    # -- conditionals and energies, in model units: (N, V) binary, or standardised -----------

    def _var(self) -> torch.Tensor:
        return self.log_var.clamp(math.log(MIN_VAR), math.log(100.0)).exp()

    def _visible(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """Data-space x -> model units (N, V): binarised pixels, or scaled values."""
        x = x.reshape(len(x), -1)
        if self.gaussian:
            return (x - self.shift) / self.scale
        if self.config.binarize == "threshold":
            return (x > 0.5).to(x.dtype)
        return _bernoulli(x.clamp(0.0, 1.0), generator)

    def _to_data(self, v: torch.Tensor) -> torch.Tensor:
        x = v * self.scale + self.shift
        if self.spec.kind == "image":
            x = x.clamp(0.0, 1.0)
        return x.reshape(len(v), *self.spec.shape)

    def _hidden_input(self, v: torch.Tensor) -> torch.Tensor:
        """c + W^T v (Gaussian: W^T (v / s)), (N, H)."""
        return self.c + (v / self._var().sqrt() if self.gaussian else v) @ self.W

    def _visible_term(self, v: torch.Tensor) -> torch.Tensor:
        """The visible part of -F(v), (N,): b.v, or -sum (v - b)^2 / 2 s^2."""
        if self.gaussian:
            return -((v - self.b).pow(2) / (2 * self._var())).sum(1)
        return v @ self.b

    def _free_energy(self, v: torch.Tensor) -> torch.Tensor:
        return -self._visible_term(v) - F.softplus(self._hidden_input(v)).sum(1)

    def _visible_mean(self, h: torch.Tensor) -> torch.Tensor:
        """E[v | h], (N, V): probabilities, or b + s * W h."""
        if self.gaussian:
            return self.b + self._var().sqrt() * (h @ self.W.T)
        return torch.sigmoid(self.b + h @ self.W.T)

    def _sample_h(self, v: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        return _bernoulli(torch.sigmoid(self._hidden_input(v)), generator)

    def _sample_v(self, mean: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        if self.gaussian:
            noise = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
            return mean + self._var().sqrt() * noise
        return _bernoulli(mean, generator)

    def _gibbs(self, v: torch.Tensor, steps: int, generator: torch.Generator | None = None) -> torch.Tensor:
        for _ in range(steps):
            v = self._sample_v(self._visible_mean(self._sample_h(v, generator)), generator)
        return v

    def ladder_betas(self, k: int | None = None) -> torch.Tensor:
        """Inverse temperatures of a tempering ladder, (k,) descending from 1 to 0: the model
        at 1, the base-rate model (the data's marginals, exact draws) at 0."""
        k = k or self.ladder
        if k == 1:
            return torch.ones(1, device=self.W.device)
        return torch.linspace(1.0, 0.0, k, device=self.W.device)

    @torch.no_grad()
    def _tempered_sweep(
        self, v: torch.Tensor, betas: torch.Tensor, parity: int, generator: torch.Generator | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """One parallel-tempering step (Desjardins et al. 2010) of ladders v (K, n, V), binary:
        swap proposals between neighbouring temperatures (pairs (k, k + 1) with k of the given
        parity), then one Gibbs transition at each temperature. The tempered models are those
        of AIS, log f_beta(v) = (1 - beta) v.b_A + beta v.b + sum_j softplus(beta (c_j + W_j.v)),
        so a swap of v_k and v_k+1 is accepted with probability min(1, f_k(v_k+1) f_k+1(v_k) /
        (f_k(v_k) f_k+1(v_k+1))). Returns the new states, the visible probabilities that drew
        them (K, n, V), and the share of swaps accepted (0-d)."""
        p = self._base()[0].clamp(1e-3, 1 - 1e-3)
        b_a = torch.log(p / (1 - p))
        x = self.c + v @ self.W  # (K, n, H)
        rate = torch.zeros((), device=v.device)
        pairs = torch.arange(parity, len(betas) - 1, 2, device=v.device)
        if len(pairs):
            la, lb = v @ b_a, v @ self.b  # (K, n)

            def log_f(beta, k):
                beta = beta[:, None]
                return (1 - beta) * la[k] + beta * lb[k] + F.softplus(beta[..., None] * x[k]).sum(-1)

            i, j = pairs, pairs + 1
            log_r = log_f(betas[i], j) + log_f(betas[j], i) - log_f(betas[i], i) - log_f(betas[j], j)
            u = torch.rand(log_r.shape, generator=generator, device=v.device, dtype=log_r.dtype)
            accept = (u.log() < log_r)[..., None]  # (P, n, 1)
            v, x = v.clone(), x.clone()
            v[i], v[j] = torch.where(accept, v[j], v[i]), torch.where(accept, v[i], v[j])
            x[i], x[j] = torch.where(accept, x[j], x[i]), torch.where(accept, x[i], x[j])
            rate = accept.float().mean()
        beta = betas[:, None, None]
        h = _bernoulli(torch.sigmoid(beta * x), generator)
        mean = torch.sigmoid((1 - beta) * b_a + beta * (self.b + h @ self.W.T))
        return _bernoulli(mean, generator), mean, rate

    def _base(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The data's marginals seen so far: mean and variance per visible unit, (V,) each."""
        if float(self.data_count) == 0:  # never trained: a uniform (or the model's own) base
            if self.gaussian:
                return self.b.detach().clone(), self._var().detach()
            return torch.full_like(self.b, 0.5), torch.full_like(self.b, 0.25)
        var = (self.data_sq - self.data_mean.pow(2)).clamp_min(MIN_VAR)
        return self.data_mean.clone(), var

    # -- training ----------------------------------------------------------------------------

    @torch.no_grad()
    def _standardise(self, x: torch.Tensor) -> None:
        """Gaussian, first batch: per-dimension mean and standard deviation become the data map."""
        x = x.reshape(len(x), -1)
        floor = 0.05 * float(self.scale.max())  # 2.5% of the value range: constant dimensions stay tame
        self.shift.copy_(x.mean(0))
        self.scale.copy_(x.std(0, correction=0).clamp_min(floor) if len(x) > 1 else torch.ones_like(self.scale))

    @torch.no_grad()
    def _observe(self, v: torch.Tensor) -> None:
        """Fold a batch into the running data statistics; on the first, set the visible biases."""
        self.data_count.add_(len(v))
        weight = len(v) / self.data_count  # a tensor: no sync; 1 on the first batch
        self.data_mean.lerp_(v.mean(0), weight)
        self.data_sq.lerp_(v.pow(2).mean(0), weight)
        if self.step:
            return
        mean, _ = self._base()
        if self.gaussian:
            self.b.copy_(mean)  # the variances start at 1, the data's after standardising
        else:
            p = mean.clamp(1e-3, 1 - 1e-3)
            self.b.copy_(torch.log(p / (1 - p)))  # Hinton's guide, section 8
        if len(self.chains):
            self.chains.copy_(v[torch.arange(len(self.chains), device=v.device) % len(v)])

    def train_step(self, batch: Batch) -> dict[str, torch.Tensor]:
        if self.gaussian and self.step == 0:
            self._standardise(batch.x)
        v0 = self._visible(batch.x)
        self._observe(v0)
        out = {}
        with torch.no_grad():
            if self.config.method == "pt":
                # persistent ladders: the model's chains are the ones at temperature 1
                ladders = self.chains.view(self.ladder, -1, self.chains.shape[1])
                betas, rates = self.ladder_betas(), []
                for i in range(self.config.k):
                    ladders, _, rate = self._tempered_sweep(ladders, betas, (self.step + i) % 2)
                    rates.append(rate)
                self.chains.copy_(ladders.reshape_as(self.chains))
                vk = ladders[0]
                out["swap_rate"] = torch.stack(rates).mean()
            else:
                start = self.chains if len(self.chains) else v0
                vk = self._gibbs(start, self.config.k)
                if len(self.chains):
                    self.chains.copy_(vk)
        if self.config.lr_decay == "linear":
            for group in self.opt.param_groups:
                group["lr"] = self.config.lr * max(0.0, 1.0 - self.progress)
        f_data = self._free_energy(v0)
        # the gradient of F(data) - F(fantasy) is minus the CD-k / PCD estimate of d log p / d theta
        loss = f_data.mean() - self._free_energy(vk).mean()
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.centering and not self.gaussian:
            self._centre_gradient(v0)
        self.opt.step()
        self.step += 1  # the host sets it before each step; this keeps a bare loop on schedule
        self._log_z = None
        with torch.no_grad():
            recon = self._visible_mean(torch.sigmoid(self._hidden_input(v0)))
            mse = (recon - v0).pow(2).mean()
        return {"cd_loss": loss.detach(), "free_energy": f_data.mean().detach(), "recon_mse": mse, **out}

    @torch.no_grad()
    def _centre_gradient(self, v0: torch.Tensor) -> None:
        """Turn the plain gradient (gW, gb, gc) into the centred one (Melchior et al. 2016, eq.
        in Algorithm 1): gW' = gW - mu gc^T - gb lambda^T, gb' = gb - gW' lambda, gc' = gc -
        gW'^T mu. The hidden offset lambda follows the data's hidden means at rate 0.01 (their
        recommendation); it is not saved (a resumed run starts it from its first batch)."""
        h_data = torch.sigmoid(self._hidden_input(v0)).mean(0)
        if self._hidden_offset is None:
            self._hidden_offset = h_data.clone()
        else:
            self._hidden_offset.lerp_(h_data, 0.01)
        mu, lam = self.data_mean, self._hidden_offset
        gw = self.W.grad - torch.outer(mu, self.c.grad) - torch.outer(self.b.grad, lam)
        self.b.grad.sub_(gw @ lam)
        self.c.grad.sub_(gw.T @ mu)
        self.W.grad.copy_(gw)

    def evaluate(self, batch: Batch) -> dict[str, float]:
        """Cheap validation figures: mean free energy (nats per example) and the reconstruction
        error of one Gibbs up-down pass (mean squared error per value, model units)."""
        g = torch.Generator(device=batch.x.device).manual_seed(0)
        v = self._visible(batch.x, g)
        recon = self._visible_mean(self._sample_h(v, g))
        return {"free_energy": float(self._free_energy(v).mean()), "recon_mse": float((recon - v).pow(2).mean())}

    # -- sampling ----------------------------------------------------------------------------

    @torch.no_grad()
    def sample_chain(self, n: int, generator: torch.Generator | None = None) -> Iterator[torch.Tensor]:
        """Advance n Gibbs chains for ``gibbs_steps`` steps, yielding frames shaped like
        :meth:`sample`'s output after steps 1..10, then at steps growing 1.5 times (15, 22,
        34, ...), and after the last step. Chains start from the data's marginals. With
        ``temperatures`` > 1 each chain is the temperature-1 end of a tempering ladder."""
        mean, var = self._base()
        shape = (n, len(mean))
        marks = set(_frame_steps(self.config.gibbs_steps))
        if self.ladder > 1:
            betas = self.ladder_betas()
            v = _bernoulli(mean.expand(len(betas), *shape), generator)
            for t in range(1, self.config.gibbs_steps + 1):
                v, vis, _ = self._tempered_sweep(v, betas, t % 2, generator)
                if t in marks:
                    yield self._to_data(vis[0])
            return
        if self.gaussian:
            v = mean + var.sqrt() * torch.randn(shape, generator=generator, device=mean.device)
        else:
            v = _bernoulli(mean.expand(shape), generator)
        for t in range(1, self.config.gibbs_steps + 1):
            vis = self._visible_mean(self._sample_h(v, generator))
            v = self._sample_v(vis, generator)
            if t in marks:
                yield self._to_data(v if self.gaussian else vis)

    def sample(self, n: int, generator: torch.Generator | None = None) -> torch.Tensor:
        """``n`` samples (n, *spec.shape) after ``gibbs_steps`` Gibbs steps, all randomness from
        ``generator``. Bernoulli: the visible probabilities p(v = 1 | h) in [0, 1]; Gaussian: draws
        of v in data space (their means alone would collapse the density onto 2^H points)."""
        *_, last = self.sample_chain(n, generator)
        return last

    @torch.no_grad()
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """One Gibbs up-down pass, h ~ p(h | v), returning E[v | h] in data space, shaped like x."""
        return self._to_data(self._visible_mean(self._sample_h(self._visible(x))))

    @torch.no_grad()
    def gibbs_step(self, x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One block Gibbs sweep v -> h ~ p(h | v) -> E[v | h], in data space, shaped like x;
        fed back, the mean is drawn again as v (restoration clamps observed pixels between sweeps)."""
        return self._to_data(self._visible_mean(self._sample_h(self._visible(x, generator), generator)))

    # -- likelihood --------------------------------------------------------------------------

    def free_energy(self, x: torch.Tensor) -> torch.Tensor:
        """F(v) (N,) in nats of data-space x, binarised as in :meth:`log_prob`; log p = -F - log Z
        (Gaussian: minus the scaling's log-Jacobian too)."""
        return self._free_energy(self._binarized(x))

    def _binarized(self, x: torch.Tensor) -> torch.Tensor:
        g = torch.Generator(device=x.device).manual_seed(0)  # the same draw every call
        return self._visible(x, g)

    @torch.no_grad()
    def log_prob(self, x: torch.Tensor) -> torch.Tensor:
        """log p(x), nats per example (N,). Bernoulli: a probability mass over binary vectors;
        x is binarised as in training (stochastic draws from a fixed seed; binary x is kept as
        is). Gaussian: a density over data space. Z is exact up to 20 hidden units, else AIS."""
        lp = -self.free_energy(x) - self.log_partition()
        if self.gaussian:
            lp = lp - torch.log(self.scale).sum()
        return lp

    def log_partition(self, method: str = "auto") -> float:
        """log Z in nats: ``exact`` (2^H terms), ``ais``, or ``auto`` (exact up to 20 hidden
        units); cached until the weights change."""
        exact = method == "exact" or (method == "auto" and self.config.hidden <= EXACT_MAX_HIDDEN)
        if method != "auto":
            return self.exact_log_partition() if exact else self.ais_log_partition()[0]
        if self._log_z is None:
            if exact:
                self._log_z, self._ais = self.exact_log_partition(), None
            else:
                self._log_z, log_w = self.ais_log_partition()
                self._ais = ais_summary(self._log_z, log_w)
        return self._log_z

    def likelihood_protocol(self) -> dict:
        """How ``log_prob`` is computed, for the likelihood ledger: the pixels it scores (the
        binarisation it learned), the estimator of log Z, and for AIS its effective sample size,
        the +-3 standard error bracket on log Z and a warning when the estimate is unreliable."""
        out = {"pixels": "continuous" if self.gaussian else "binary", "binarize": self.config.binarize}
        if self.config.hidden <= EXACT_MAX_HIDDEN:
            return out | {"estimator": f"exact partition function (sum over 2^{self.config.hidden} hidden states)"}
        betas, runs = self.config.ais_betas, self.config.ais_runs
        out["estimator"] = f"AIS (Salakhutdinov and Murray 2008), {betas} temperatures, {runs} runs"
        if self._log_z is not None and self._ais is not None:
            out |= self._ais
        return out

    @torch.no_grad()
    def exact_log_partition(self) -> float:
        """log Z by summing over every hidden state (see the module docstring)."""
        h_units = self.config.hidden
        if h_units > 24:
            raise ValueError(f"the exact partition function sums 2^{h_units} terms; use AIS")
        dt = _precise(self.W.device)
        w, b, c = self.W.to(dt), self.b.to(dt), self.c.to(dt)
        bits = torch.arange(h_units, device=w.device)
        parts = []
        for start in range(0, 2**h_units, 4096):
            idx = torch.arange(start, min(start + 4096, 2**h_units), device=w.device)
            h = ((idx[:, None] >> bits) & 1).to(dt)
            act = h @ w.T
            if self.gaussian:
                std = self._var().to(dt).sqrt()
                parts.append(h @ c + (b * act / std + act.pow(2) / 2).sum(1))
            else:
                parts.append(h @ c + F.softplus(b + act).sum(1))
        log_z = torch.logsumexp(torch.cat(parts), 0)
        if self.gaussian:
            log_z = log_z + 0.5 * torch.log(2 * math.pi * self._var().to(dt)).sum()
        return float(log_z)

    @torch.no_grad()
    def ais_log_partition(
        self, betas: int | None = None, runs: int | None = None, seed: int = 0
    ) -> tuple[float, torch.Tensor]:
        """Estimate log Z by annealed importance sampling (Neal 2001; Salakhutdinov and Murray
        2008), returning the estimate and the runs' log importance weights (runs,).

        The intermediate models anneal the base-rate model A (the data's marginals, no hidden
        influence) into this RBM B: log f_beta(v) = (1 - beta) log f_A(v) + beta (visible part
        of -F_B(v)) + sum_j softplus(beta (c_j + W_j.v)); beta = 0 gives f_A(v) 2^H, beta = 1
        gives exp(-F_B(v)). Each run starts from an exact draw of A and takes one Gibbs
        transition per temperature; log Z_B ~= log Z_A + H log 2 + log mean_runs exp(log w)."""
        betas_t = ais_betas(betas or self.config.ais_betas).to(self.W.device)
        runs = runs or self.config.ais_runs
        dt = _precise(self.W.device)
        g = torch.Generator(device=self.W.device).manual_seed(seed)
        w, b, c = self.W.to(dt), self.b.to(dt), self.c.to(dt)
        mean_a, var_a = (t.to(dt) for t in self._base())
        if self.gaussian:
            var = self._var().to(dt)
            prec_a = 1.0 / var_a

            def base_term(v):
                return -((v - mean_a).pow(2) * prec_a / 2).sum(1)

            def model_term(v):
                return -((v - b).pow(2) / (2 * var)).sum(1)

            def hidden_input(v):
                return c + (v / var.sqrt()) @ w

            log_z_a = 0.5 * torch.log(2 * math.pi * var_a).sum()
            v = mean_a + var_a.sqrt() * torch.randn(runs, len(b), generator=g, device=w.device, dtype=dt)
        else:
            p = mean_a.clamp(1e-3, 1 - 1e-3)
            b_a = torch.log(p / (1 - p))

            def base_term(v):
                return v @ b_a

            def model_term(v):
                return v @ b

            def hidden_input(v):
                return c + v @ w

            log_z_a = F.softplus(b_a).sum()
            v = _bernoulli(torch.sigmoid(b_a).expand(runs, len(b)), g)
        log_w = torch.zeros(runs, dtype=dt, device=w.device)
        prev = 0.0
        for beta in betas_t[1:].tolist():
            x = hidden_input(v)
            # log f_beta(v) - log f_prev(v), written as differences so large terms cancel exactly
            log_w += (beta - prev) * (model_term(v) - base_term(v))
            log_w += (F.softplus(beta * x) - F.softplus(prev * x)).sum(1)
            # one Gibbs transition that leaves f_beta invariant
            h = _bernoulli(torch.sigmoid(beta * x), g)
            if self.gaussian:
                prec = (1 - beta) * prec_a + beta / var
                mean = ((1 - beta) * mean_a * prec_a + beta * (b / var + (h @ w.T) / var.sqrt())) / prec
                v = mean + prec.rsqrt() * torch.randn(v.shape, generator=g, device=v.device, dtype=dt)
            else:
                v = _bernoulli(torch.sigmoid((1 - beta) * b_a + beta * (b + h @ w.T)), g)
            prev = beta
        log_z = log_z_a + self.config.hidden * math.log(2) + torch.logsumexp(log_w, 0) - math.log(runs)
        return float(log_z), log_w

    def load_extra_state(self, state: dict) -> None:
        if "steps_done" in state:  # checkpoints before the host kept the step count
            self.step = int(state["steps_done"])
        self._log_z = None


def ais_summary(log_z: float, log_w: torch.Tensor) -> dict:
    """An AIS estimate's reliability from its runs' log weights (runs,): the effective sample
    size (sum w)^2 / sum w^2, the log Z bracket of +-3 standard errors of the mean weight
    (Salakhutdinov and Murray 2008; the lower end None when 3 standard errors exceed the mean),
    and a warning when fewer than a tenth of the runs count or the bracket is wider than 1 nat."""
    w = (log_w - log_w.max()).exp().double()
    mean, se = float(w.mean()), float(w.std() / math.sqrt(len(w))) if len(w) > 1 else 0.0
    base = log_z - math.log(mean)
    low = base + math.log(mean - 3 * se) if mean > 3 * se else None
    high = base + math.log(mean + 3 * se)
    ess = float(w.sum() ** 2 / w.pow(2).sum())
    out = {"log_z": log_z, "log_z_bracket": [low, high], "ess": ess, "runs": len(w)}
    if ess < 0.1 * len(w) or low is None or high - low > 1.0:
        width = "unbounded below" if low is None else f"{high - low:.2f} nats wide"
        out["warning"] = (
            f"AIS estimate unreliable: effective sample size {ess:.1f} of {len(w)} runs, log Z bracket {width}; "
            "raise ais_betas or ais_runs"
        )
    return out


def _bernoulli(p: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Binary draws with probabilities p (same shape and dtype): several times faster than torch.bernoulli."""
    return (torch.rand(p.shape, generator=generator, device=p.device, dtype=p.dtype) < p).to(p.dtype)


def _precise(device: torch.device) -> torch.dtype:
    """float64 for partition functions (sums of thousands of terms), where the device has it."""
    return torch.float32 if device.type == "mps" else torch.float64
