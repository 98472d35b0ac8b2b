"""``genstudio sweep``: output, bad input (exit 2), a killed sweep resumed, two processes on one study."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from genstudio.runs.store import RunStore
from genstudio.runs.workspace import Workspace
from tests.cli.test_cli import TINY_DROPIN, run

SWEEP = ["sweep", "tiny", "--data", "tiny-vectors", "--cpu-threads", "1"]


@pytest.fixture
def ws(tmp_path, monkeypatch):
    """A workspace whose drop-in folder provides the tiny test models, as in test_cli."""
    root = tmp_path / "ws"
    (root / "plugins").mkdir(parents=True)
    (root / "plugins" / "tiny_models.py").write_text(TINY_DROPIN)
    monkeypatch.setenv("GENSTUDIO_WORKSPACE", str(root))
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    return root


def lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def test_json_prints_trial_events_and_last_the_best_trial_and_runs_list_shows_the_tag(ws, capsys):
    code, out, err = run(capsys, *SWEEP, "--trials", "3", "--steps", "60", "--json", "--sampler", "random")
    assert code == 0, err
    events = lines(out)
    assert events[0]["event"] == "study" and events[0]["trials"] == 3
    kinds = {e["event"] for e in events[1:-1]}
    assert kinds == {"trial_started", "trial_reported", "trial_ended"}
    last = events[-1]
    assert last["event"] == "sweep_ended" and last["status"] == "finished"
    assert set(last) >= {"best_trial", "best_value", "best_params", "best_run"}
    ended = [e for e in events if e["event"] == "trial_ended"]
    best = min((e for e in ended if e["state"] == "complete"), key=lambda e: e["value"])
    assert (last["best_trial"], last["best_value"], last["best_params"], last["best_run"]) == (
        best["trial"], best["value"], best["params"], best["run"],
    )  # fmt: skip
    code, out, _ = run(capsys, "runs", "list")
    assert code == 0 and "tiny-tiny-vectors-trial0" in out and "tiny-tiny-vectors-trial2" in out
    code, out, _ = run(capsys, "sweep", "show", "tiny-tiny-vectors", "--json")
    shown = json.loads(out)
    assert shown["best"]["trial"] == last["best_trial"] and len(shown["trials"]) == 3
    assert shown["objective"] == "val/nll" and shown["direction"] == "minimize"
    code, out, _ = run(capsys, "sweep", "show", "tiny-tiny-vectors")
    assert code == 0 and "TRIAL  STATE" in out and f"best: trial {last['best_trial']}" in out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--param", "nope=1:2"], "--param nope: unknown parameter; known: lr, init_scale, fail_at"),
        (["--param", "lr=1e-3:5"], "--param lr=1e-3:5: lr: 5.0 is out of range; allowed: [1e-05, 1]"),
        (["--storage", "sqlite:////no/such/folder/s.db"], "the folder /no/such/folder does not exist"),
        (["--storage", "nosuchdb://x"], "--storage nosuchdb://x: cannot open it"),
        (["--objective", "fid"], "--objective fid: the metric fid is logged only with --eval-every N"),
        (
            ["--objective", "nope", "--steps", "20"],
            "--objective nope: the runs log no such value; they log: nll, scale, val/nll",
        ),
        (["--trials", "0"], "--trials must be at least 1"),
    ],
)
def test_bad_input_exits_2_with_a_clear_message(ws, capsys, args, message):
    code, _, err = run(capsys, *SWEEP, "--trials", "2", *args) if "--trials" not in args else run(capsys, *SWEEP, *args)
    assert code == 2, err
    assert message in err and "Traceback" not in err


def test_show_names_a_study_that_is_not_there(ws, capsys):
    code, _, err = run(capsys, "sweep", "show", "nope")
    assert code == 2 and "no sweeps in the workspace" in err
    run(capsys, *SWEEP, "--trials", "1", "--steps", "20", "--study", "s1")
    code, _, err = run(capsys, "sweep", "show", "nope")
    assert code == 2 and "no study 'nope'" in err and "there are: s1" in err


# -- several processes ----------------------------------------------------------------------------


def start(root: Path, out: Path, *args: str) -> subprocess.Popen:
    env = {**os.environ, "GENSTUDIO_WORKSPACE": str(root), "OMP_NUM_THREADS": "1"}
    env.pop("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", None)
    cmd = [sys.executable, "-m", "genstudio", *SWEEP, "--json", *args]
    return subprocess.Popen(cmd, stdout=out.open("w"), stderr=subprocess.PIPE, env=env, text=True)


def wait_for(path: Path, proc: subprocess.Popen, test, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and any(test(e) for e in lines(path.read_text().rsplit("\n", 1)[0])):
            return
        assert proc.poll() is None, proc.stderr.read()
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting in {path}")


def trials(root: Path) -> list[dict]:
    from genstudio.sweeps import study as st

    return st.trial_rows(st.load_study(st.default_storage(Workspace(root)), "tiny-tiny-vectors"))


def test_a_killed_sweep_marks_its_trial_failed_and_a_restart_ends_with_exactly_the_trials(ws, tmp_path):
    args = ("--trials", "3", "--steps", "1500", "--sampler", "random")
    first = start(ws, tmp_path / "a.jsonl", *args)
    wait_for(tmp_path / "a.jsonl", first, lambda e: e["event"] == "trial_started" and e["trial"] == 1)
    first.send_signal(signal.SIGKILL)
    first.wait()
    second = start(ws, tmp_path / "b.jsonl", *args)
    assert second.wait(timeout=300) == 0, second.stderr.read()
    events = lines((tmp_path / "b.jsonl").read_text())
    assert events[0]["done"] == 1
    killed = next(e for e in events if e["event"] == "trial_ended" and e["trial"] == 1)
    assert killed["state"] == "failed" and killed["message"] == "its process was killed"
    rows = trials(ws)
    assert [r["state"] for r in rows].count("failed") == 1 and rows[1]["state"] == "failed"
    assert sum(r["state"] in ("complete", "pruned") for r in rows) == 3
    # the killed trial's run is there, interrupted, and can be resumed like any run
    run_of_killed = RunStore(Workspace(ws)).get_run(rows[1]["run"])
    assert run_of_killed.live_status == "interrupted"


def test_two_processes_share_one_sqlite_study(ws, tmp_path):
    args = ("--trials", "6", "--steps", "1500", "--sampler", "random", "--pruner", "none")
    a = start(ws, tmp_path / "a.jsonl", *args)
    # the second process starts once the first has created the study and begun a trial
    wait_for(tmp_path / "a.jsonl", a, lambda e: e["event"] == "trial_started")
    b = start(ws, tmp_path / "b.jsonl", *args)
    assert a.wait(timeout=300) == 0, a.stderr.read()
    assert b.wait(timeout=300) == 0, b.stderr.read()
    started = {}
    for name in ("a", "b"):
        ev = lines((tmp_path / f"{name}.jsonl").read_text())
        started[name] = {e["trial"]: e["run"] for e in ev if e["event"] == "trial_started"}
        assert ev[-1]["event"] == "sweep_ended" and ev[-1]["complete"] == 6
    assert started["a"] and started["b"], started  # both did some of the work
    assert not set(started["a"]) & set(started["b"])  # distinct trial numbers ...
    assert not set(started["a"].values()) & set(started["b"].values())  # ... and distinct runs
    rows = trials(ws)
    assert sum(r["state"] == "complete" for r in rows) == 6
    assert sorted(started["a"] | started["b"]) == [r["trial"] for r in rows if r["state"] == "complete"]
    runs = RunStore(Workspace(ws)).list_runs()
    assert sorted(r.id for r in runs) == sorted([*started["a"].values(), *started["b"].values()])
    assert all(r.settings["sweep"]["study"] == "tiny-tiny-vectors" for r in runs)
