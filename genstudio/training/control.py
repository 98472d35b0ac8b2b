"""Steering a running loop from other threads: stop, pause, and requests served between steps.

The window's thread and the training thread share only this object. The loop asks
:meth:`Control.should_stop` and :meth:`Control.paused` between steps and calls
:meth:`Control.serve` to run what other threads :meth:`Control.submit`-ted.
"""

from __future__ import annotations

import collections
import concurrent.futures
import threading
import time
from collections.abc import Callable
from typing import Any

from genstudio.api import GenerativeModel, inference_mode
from genstudio.host.blame import NOT_BLAMED

#: A loop whose iterations take less than this on average is paced by :meth:`Control.pace`.
#: Steps that long are mostly torch's kernels, which let go of the interpreter's lock.
SHORT_STEP_S = 0.001
#: The weight of each iteration in that average (about the last 50 count).
AVERAGE_WEIGHT = 0.02
#: The longest pause after one iteration.
MAX_PAUSE_S = 0.1


class Control:
    """:param leave: the share of the time that a loop of short steps (under
        :data:`SHORT_STEP_S` on average) leaves to the process's other threads; 0, the
        default, leaves none.
        The window trains with 0.75 (:data:`genstudio.gui.workers.WINDOW_LEAVE`).
    :param clock: seconds, monotonic; ``sleep``: how to wait (tests pass their own).
    """

    def __init__(
        self,
        leave: float = 0.0,
        *,
        clock: Callable[[], float] = time.perf_counter,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.leave = leave
        self._clock, self._sleep = clock, sleep
        self._awake = clock()
        self._mean_busy: float | None = None
        self._stop = threading.Event()
        self._pause = threading.Event()
        self._requests: collections.deque[tuple[Callable[[GenerativeModel], Any], concurrent.futures.Future]] = (
            collections.deque()
        )

    # -- from any thread ---------------------------------------------------------------------

    def stop(self) -> None:
        """Stop at the next step boundary, with a checkpoint."""
        self._stop.set()
        self._pause.clear()

    def pause(self) -> None:
        self._pause.set()

    def unpause(self) -> None:
        self._pause.clear()

    @property
    def paused(self) -> bool:
        return self._pause.is_set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def submit(self, fn: Callable[[GenerativeModel], Any]) -> concurrent.futures.Future:
        """Run ``fn(model)`` in the training thread between two steps (in eval mode, without
        gradients, without touching the run's random state). Returns a future."""
        future: concurrent.futures.Future = concurrent.futures.Future()
        self._requests.append((fn, future))
        return future

    @property
    def leave(self) -> float:
        return self._leave

    @leave.setter
    def leave(self, share: float) -> None:
        if not 0.0 <= share < 1.0:
            raise ValueError(f"leave must be in [0, 1), not {share}")
        self._leave = share

    # -- from the training thread ------------------------------------------------------------

    def pace(self) -> None:
        """After each iteration of the loop: when its iterations are short on average, sleep
        so that the other threads have ``leave`` of the time. A loop of short steps runs in
        the interpreter nearly all the time (the Bayesian network's steps take about 0.1 ms,
        with the loop's own work around them, and now and then a refit of 10-20 ms in pure
        Python), and every call into Python from the window's thread (a paint, an item's
        bounds) then waits for the interpreter's lock: the window stuttered. Asleep, the
        training thread leaves the lock free. The average decides, not the iteration, so that
        a long iteration among short ones (a refit) is paced too."""
        busy = max(0.0, self._clock() - self._awake)
        mean = self._mean_busy = (
            busy if self._mean_busy is None else self._mean_busy + AVERAGE_WEIGHT * (busy - self._mean_busy)
        )
        if self.leave > 0.0 and mean < SHORT_STEP_S:
            self._sleep(min(busy * self.leave / (1.0 - self.leave), MAX_PAUSE_S))
        self._awake = self._clock()

    @property
    def has_requests(self) -> bool:
        return bool(self._requests)

    def serve(self, model: GenerativeModel, device: Any, timeout: float = 0.0) -> None:
        """Run the waiting requests; with none, wait ``timeout`` seconds (while paused)."""
        if not self._requests:
            if timeout:
                time.sleep(timeout)
            return
        while self._requests:
            fn, future = self._requests.popleft()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                with inference_mode(model, device):
                    result = fn(model)
                future.set_result(result)
            except BaseException as exc:  # SystemExit from plugin code too: the caller hears of it
                if isinstance(exc, NOT_BLAMED):
                    raise
                future.set_exception(exc)

    def cancel_requests(self) -> None:
        """The run ended: nobody will serve what is still waiting."""
        while self._requests:
            _, future = self._requests.popleft()
            future.cancel()
