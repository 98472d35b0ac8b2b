"""Pacing a loop of short steps (``Control.leave``): the window's runs leave it a share of the
interpreter; the command line's do not. A clock and a sleep of the test's own: no timing."""

from __future__ import annotations

import pytest

from genstudio.runs.store import RunStore
from genstudio.runs.trainer import Trainer
from genstudio.training.control import MAX_PAUSE_S, SHORT_STEP_S, Control
from genstudio.training.settings import TrainSettings


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def paced(leave: float, iterations: list[float]) -> tuple[list[float], Clock]:
    """The pauses a ``Control(leave)`` asks for after iterations of these lengths (seconds),
    on a clock of the test's own that its sleep moves on; and that clock."""
    clock, pauses = Clock(), []

    def sleep(seconds: float) -> None:
        pauses.append(seconds)
        clock.now += seconds

    control = Control(leave=leave, clock=clock, sleep=sleep)
    for busy in iterations:
        clock.now += busy
        before = len(pauses)
        control.pace()
        if len(pauses) == before:
            pauses.append(0.0)
    return pauses, clock


def test_short_steps_leave_the_share_asked_for():
    pauses, clock = paced(0.75, [1e-4] * 100)
    assert pauses == pytest.approx([3e-4] * 100)  # 3 times each step: a quarter of the time busy
    assert clock.now == pytest.approx(100 * 4e-4)


def test_no_share_no_pause():
    assert paced(0.0, [1e-4] * 50 + [0.02] + [1e-4] * 50)[0] == [0.0] * 101


def test_long_steps_are_not_paced():
    assert paced(0.75, [5 * SHORT_STEP_S] * 50)[0] == [0.0] * 50


def test_a_long_step_among_short_ones_is_paced_at_most_the_longest_pause():
    pauses, _ = paced(0.75, [1e-4] * 50 + [0.015] + [1e-4] * 50 + [0.035, 1e-4])
    assert pauses[50] == pytest.approx(0.045)  # a refit of 15 ms among steps of 0.1 ms
    assert pauses[101] == MAX_PAUSE_S  # not 0.105
    assert pauses[102] == pytest.approx(3e-4)


@pytest.mark.parametrize("leave", [-0.1, 1.0, 2.0])
def test_a_share_out_of_range_is_refused(leave):
    with pytest.raises(ValueError, match="leave"):
        Control(leave=leave)
    control = Control()
    with pytest.raises(ValueError, match="leave"):
        control.leave = leave
    assert control.leave == 0.0


def test_the_loop_paces_every_step_and_learns_the_same(gs_host, gs_workspace):
    def run(leave: float) -> tuple[list[float], dict]:
        trainer = Trainer.new(gs_host, gs_workspace, "tiny", "tiny", settings=TrainSettings(steps=40, seed=5))
        pauses: list[float] = []
        trainer.control = Control(leave=leave, clock=Clock(), sleep=pauses.append)
        events = list(trainer.events())
        assert events[-1].type == "finished"
        steps, values, _ = RunStore(gs_workspace).scalars(trainer.run.id, ["nll"])["nll"]
        return pauses, dict(zip(steps.tolist(), values.tolist()))

    paced_pauses, paced_losses = run(0.75)
    free_pauses, free_losses = run(0.0)
    # the clock never moves, so every step looks short: one pause of 0 s after each of the 40
    assert len(paced_pauses) == 40 and free_pauses == []
    assert paced_losses == free_losses and len(paced_losses) == 40
