"""Optuna studies: storages, samplers, pruners, and what a study holds, as plain values.

Every search algorithm here is Optuna's: TPE (Bergstra et al. 2011), random search, grid
search; the median and Hyperband (Li et al. 2018) pruners; fANOVA importances (Hutter et al.
2014). Several processes (or machines) that open the same study in the same storage share it.
"""

from __future__ import annotations

import logging
import os
import socket
import warnings
from pathlib import Path
from typing import Any

from genstudio.api import ConfigError

SAMPLERS = ("tpe", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
DIRECTIONS = ("minimize", "maximize")
#: A running trial records a heartbeat this often (seconds) ...
HEARTBEAT_S = 10
#: ... and one silent for this long is failed by whichever process looks next (its process
#: died, or its machine). On the same machine a dead process is recognised at once.
GRACE_S = 120
STORE_FILE = "sweeps.db"


def optuna() -> Any:
    """Optuna, imported on first use and told to keep quiet: the sweep reports what happens."""
    import optuna as _optuna

    _optuna.logging.set_verbosity(logging.WARNING)
    warnings.filterwarnings("ignore", category=_optuna.exceptions.ExperimentalWarning)
    # our trials record their heartbeats themselves (ask and tell, not optimize)
    warnings.filterwarnings("ignore", message="Heartbeat of storage is supposed to be used with Study.optimize")
    return _optuna


def default_storage(workspace: Any) -> str:
    """The workspace's own SQLite file of studies."""
    return f"sqlite:///{Path(workspace.root).resolve() / STORE_FILE}"


def open_storage(url: str) -> Any:
    """An RDB storage with heartbeats, or :class:`ConfigError` saying why it cannot be opened."""
    op = optuna()
    engine_kwargs: dict[str, Any] = {}
    if url.startswith("sqlite:"):
        path = url.split("///", 1)[-1]
        if path and path != ":memory:" and not Path(path).parent.is_dir():
            raise ConfigError(f"--storage {url}: the folder {Path(path).parent} does not exist")
        # processes sharing one file wait for each other's writes rather than fail
        engine_kwargs["connect_args"] = {"timeout": 60}
    try:
        return op.storages.RDBStorage(
            url, engine_kwargs=engine_kwargs, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )
    except Exception as exc:  # SQLAlchemy's many errors: a bad URL, a missing driver, a refused login
        raise ConfigError(f"--storage {url}: cannot open it: {type(exc).__name__}: {exc}") from None


def make_sampler(name: str, space: list[Any], trials: int, seed: int | None) -> Any:
    op = optuna()
    if name == "tpe":
        # Optuna's default of 10 random trials first would leave a short sweep all random
        return op.samplers.TPESampler(n_startup_trials=max(2, min(10, trials // 3)), seed=seed)
    if name == "random":
        return op.samplers.RandomSampler(seed=seed)
    if name == "grid":
        return op.samplers.GridSampler({d.name: d.grid() for d in space}, seed=seed)
    raise ConfigError(f"--sampler {name}: unknown; one of {', '.join(SAMPLERS)}")


def make_pruner(name: str, trials: int, steps: int | None) -> Any:
    op = optuna()
    if name == "median":
        # a quarter of the trials (2 to 5) finish before any is compared with them
        warmup = steps // 10 if steps else 0
        return op.pruners.MedianPruner(n_startup_trials=max(2, min(5, trials // 4)), n_warmup_steps=warmup)
    if name == "hyperband":
        return op.pruners.HyperbandPruner(min_resource=max(1, (steps or 0) // 20), max_resource=steps or "auto")
    if name == "none":
        return op.pruners.NopPruner()
    raise ConfigError(f"--pruner {name}: unknown; one of {', '.join(PRUNERS)}")


def load_study(storage_url: str, name: str) -> Any:
    """An existing study, or :class:`ConfigError` listing the studies there are."""
    op = optuna()
    storage = open_storage(storage_url)
    try:
        return op.load_study(study_name=name, storage=storage)
    except KeyError:
        names = [s.study_name for s in op.get_all_study_summaries(storage)]
        raise ConfigError(f"no study {name!r} in {storage_url}; there are: {', '.join(names) or 'none'}") from None


def state_name(state: Any) -> str:
    return {"COMPLETE": "complete", "PRUNED": "pruned", "FAIL": "failed", "RUNNING": "running"}.get(
        state.name, state.name.lower()
    )


def trial_rows(study: Any) -> list[dict[str, Any]]:
    """Every trial as plain values: number, state, params, value, steps, run, intermediate values."""
    rows = []
    for t in study.get_trials(deepcopy=False):
        inter = t.intermediate_values
        rows.append(
            {
                "trial": t.number,
                "state": state_name(t.state),
                "params": dict(t.params),
                "value": t.value,
                "step": int(t.user_attrs.get("step", max(inter) if inter else 0)),
                "run": t.user_attrs.get("run"),
                "intermediate": [[int(s), float(v)] for s, v in sorted(inter.items())],
                "message": t.user_attrs.get("message", ""),
            }
        )
    return rows


def best_of(study: Any) -> dict[str, Any]:
    """The best complete trial: ``{"trial", "value", "params", "run"}`` (values None when none)."""
    op = optuna()
    complete = study.get_trials(deepcopy=False, states=(op.trial.TrialState.COMPLETE,))
    if not complete:
        return {"trial": None, "value": None, "params": {}, "run": None}
    best = study.best_trial
    return {"trial": best.number, "value": best.value, "params": dict(best.params), "run": best.user_attrs.get("run")}


def importances(study: Any) -> tuple[dict[str, float], str]:
    """fANOVA importances of the parameters (summing to 1), or ``({}, why not)``."""
    op = optuna()
    complete = study.get_trials(deepcopy=False, states=(op.trial.TrialState.COMPLETE,))
    if len(complete) < 2:
        return {}, "importances need two complete trials"
    try:
        return dict(op.importance.get_param_importances(study)), ""
    except (RuntimeError, ValueError) as exc:  # one value of each parameter, a changed space...
        return {}, f"no importances yet: {exc}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def fail_dead_trials(study: Any) -> list[int]:
    """Mark failed the running trials whose process is gone: on this machine by its process
    id, elsewhere by a heartbeat older than :data:`GRACE_S` (Optuna's ``fail_stale_trials``).
    Returns the numbers of the trials this call failed."""
    op = optuna()
    state = op.trial.TrialState
    failed = []
    here = socket.gethostname()
    for t in study.get_trials(deepcopy=False, states=(state.RUNNING,)):
        pid = t.user_attrs.get("pid")
        if t.user_attrs.get("host") == here and pid and pid != os.getpid() and not _alive(int(pid)):
            try:
                study._storage.set_trial_user_attr(t._trial_id, "message", "its process was killed")
                if study._storage.set_trial_state_values(t._trial_id, state=state.FAIL):
                    failed.append(t.number)
            except op.exceptions.UpdateFinishedTrialError:
                pass  # another process failed it first
    op.storages.fail_stale_trials(study)
    return failed
