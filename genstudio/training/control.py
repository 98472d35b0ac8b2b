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


class Control:
    def __init__(self) -> None:
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

    # -- from the training thread ------------------------------------------------------------

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
