"""Background work: the only module that starts threads.

- :func:`run_in_background` runs a function in Qt's thread pool and delivers its result or
  error on the GUI thread (:func:`start_thread`: in a thread of its own, for start-up);
  :func:`stream_in_background` does the same for an iteration, delivering each item as it
  comes (pip's output, line by line).
- :class:`TrainingSession` drives a :class:`~genstudio.runs.trainer.Trainer`'s event
  generator in a thread of its own and re-emits its events as signals on the GUI thread. The loop already bounds
  its events in time (about 20 progress events a second); pictures of sample grids are
  made in the worker, so the GUI thread only shows them.
"""

from __future__ import annotations

import concurrent.futures
import os
import sys
import threading
import traceback
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import shiboken6
from PySide6.QtCore import QObject, QThreadPool, Signal, Slot

from genstudio.data.grid import picture
from genstudio.gui.startup import warm_up_torch

# A worker that holds the interpreter lock in pure Python for the default 5 ms at a time can
# make the GUI thread wait; 1 ms slices keep the event loop responsive during training.
if sys.getswitchinterval() > 0.001:
    sys.setswitchinterval(0.001)


class _Relay(QObject):
    """Lives in the GUI thread; signals emitted on it from other threads are queued there."""

    delivered = Signal(object, object)  # callback, value

    def __init__(self) -> None:
        super().__init__()
        self.delivered.connect(self._call)

    @Slot(object, object)
    def _call(self, callback: Callable[[Any], None], value: Any) -> None:
        owner = getattr(callback, "__self__", None)
        if isinstance(owner, QObject) and not shiboken6.isValid(owner):
            return  # the widget that asked went away while the work ran (its window closed)
        callback(value)


_relay: _Relay | None = None


def _deliver(callback: Callable[[Any], None] | None, value: Any) -> None:
    if callback is None or _relay is None:
        return
    try:
        _relay.delivered.emit(callback, value)
    except RuntimeError:
        # the application is gone (its window closed while this work ran): nobody is left to
        # tell, and an exception here only printed a traceback on the terminal
        if shiboken6.isValid(_relay):
            raise


def install() -> None:
    """Create the relay on the GUI thread (the application calls this once)."""
    global _relay
    if _relay is None:
        _relay = _Relay()


def on_gui_thread(fn: Callable[..., None]) -> Callable[..., None]:
    """A function any thread may call; ``fn`` then runs on the GUI thread with the same arguments."""
    install()

    def call(*args: Any) -> None:
        _deliver(lambda packed: fn(*packed), args)

    return call


#: How much lower than the window's the training thread's OS scheduling priority is (nice).
TRAINING_NICENESS = 5


def lower_this_threads_priority(by: int = TRAINING_NICENESS) -> None:
    """Make the calling thread yield the CPU to the GUI thread when both want it (Linux, where
    a thread has its own nice value; elsewhere nothing). On a busy machine the training thread
    otherwise took the core the event loop was waiting for. It costs training nothing while a
    core is free. Qt's QThread priorities do not change the nice value of ordinary threads."""
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, os.getpriority(os.PRIO_PROCESS, tid) + by)
    except OSError:  # not permitted here: train at the same priority
        pass


class BackgroundError(Exception):
    """An error from background work, with its traceback text."""

    def __init__(self, exc: BaseException):
        super().__init__(str(exc))
        self.exc = exc
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BackgroundError], None] | None = None,
    **kwargs: Any,
) -> None:
    """Run ``fn(*args, **kwargs)`` in Qt's global thread pool; ``on_result`` or ``on_error`` is
    called on the GUI thread."""
    install()
    QThreadPool.globalInstance().start(_job(fn, args, kwargs, on_result, on_error))


def start_thread(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BackgroundError], None] | None = None,
) -> threading.Thread:
    """Like :func:`run_in_background`, in a thread of its own that starts at once: for the
    plugins at start-up, so that a slow plugin never holds one of the pool's few threads."""
    install()
    thread = threading.Thread(target=_job(fn, args, {}, on_result, on_error), name="genstudio-start", daemon=True)
    thread.start()
    return thread


def _job(fn: Callable[..., Any], args: tuple, kwargs: dict, on_result: Any, on_error: Any) -> Callable[[], None]:
    def job() -> None:
        try:
            result = fn(*args, **kwargs)
        except Exception as exc:
            _deliver(on_error, BackgroundError(exc))
            return
        _deliver(on_result, result)

    return job


def stream_in_background(
    items: Callable[[], Iterable[Any]],
    *,
    on_item: Callable[[Any], None],
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[BackgroundError], None] | None = None,
) -> None:
    """Iterate ``items()`` in the thread pool (a subprocess's output lines, say): each item
    goes to ``on_item`` on the GUI thread as it comes, then ``on_result(None)`` or
    ``on_error`` once the iteration ends."""

    def drain() -> None:
        for item in items():
            _deliver(on_item, item)

    run_in_background(drain, on_result=on_result, on_error=on_error)


class ModelCalls:
    """Calls on a model that lives outside the GUI thread, one at a time, results on the GUI
    thread. For a run being trained, calls go to the trainer (between two steps); for a run
    loaded from a checkpoint, to a single background thread that owns the model."""

    def __init__(self) -> None:
        install()
        self._executor = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="genstudio-model")

    def submit(
        self,
        target: Any,
        fn: Callable[[Any], Any],
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[BackgroundError], None] | None = None,
    ) -> concurrent.futures.Future:
        """``target`` is a live Trainer (has ``submit``) or a model object. A call the trainer
        could not serve because its run ended goes to the finished model instead."""
        trainer = target if hasattr(target, "submit") and hasattr(target, "events") else None
        if trainer is not None:
            future = trainer.submit(fn)
        else:
            future = self._executor.submit(_eval_call, target, fn)

        def done(f: concurrent.futures.Future) -> None:
            if f.cancelled():
                if trainer is not None and trainer.model is not None:
                    self.submit(trainer.model, fn, on_result, on_error)
                return
            exc = f.exception()
            if exc is not None:
                _deliver(on_error, BackgroundError(exc))
            else:
                _deliver(on_result, f.result())

        future.add_done_callback(done)
        return future

    def shutdown(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)


def _eval_call(target: Any, fn: Callable[[Any], Any]) -> Any:
    import torch

    model = target.get() if hasattr(target, "get") and callable(target.get) else target
    if isinstance(model, torch.nn.Module) and model.training:
        model.eval()
    with torch.no_grad():
        return fn(model)


def new_trainer(
    host: Any, workspace: Any, family: str, dataset: Any, options: dict, config: dict, settings: Any
) -> Any:
    """Prepare a new run (off the GUI thread: it opens the store and imports torch's pieces)."""
    from genstudio.runs.trainer import Trainer

    warm_up_torch()  # before the loop starts, not during its first steps

    return Trainer.new(host, workspace, family, dataset, data_options=options, config=config, settings=settings)


def resumed_trainer(host: Any, workspace: Any, run_id: int, steps: int | None) -> Any:
    """Prepare to continue a run from its last checkpoint (off the GUI thread)."""
    from genstudio.runs.trainer import Trainer

    warm_up_torch()

    return Trainer.resume(host, workspace, run_id, steps=steps)


class _Session(QObject):
    """A generator of events (a trainer's or a sweep's) run in a worker thread at a lower OS
    priority than the window, with cooperative pause, resume and stop. Subclasses give the
    items (:meth:`_items`) and handle them on the GUI thread (:meth:`_on_event`, :meth:`_on_error`)."""

    event_arrived = Signal(object)
    ended = Signal(object)

    def __init__(self, control: Any, parent: QObject | None = None):
        super().__init__(parent)
        self._control = control  # pause(), unpause() and stop(), callable from any thread
        self._worker: Any = None
        self._done = threading.Event()
        self._ended = False

    @property
    def running(self) -> bool:
        """Started, and its last event not yet handled on the GUI thread."""
        return self._worker is not None and not self._ended and not self._done.is_set()

    def start(self) -> None:
        # a plain thread and the relay: superqt's generator workers did the same, but importing
        # superqt (qtpy, its widgets) held the interpreter lock for 150-250 ms in one go, and
        # when that happened during the first run the window froze for as long
        install()
        self._worker = threading.Thread(target=self._run, name="genstudio-session", daemon=True)
        self._worker.start()

    def _run(self) -> None:
        try:
            for item in self._events():
                _deliver(self._on_event, item)
        except Exception as exc:
            _deliver(self._on_error, exc)

    def _events(self) -> Iterator[Any]:
        lower_this_threads_priority()  # the window keeps its priority while this computes
        try:
            yield from self._items()
        finally:
            self._done.set()

    def _items(self) -> Iterator[Any]:
        raise NotImplementedError

    def _on_event(self, item: Any) -> None:
        raise NotImplementedError

    def _on_error(self, exc: BaseException) -> None:
        raise NotImplementedError

    def pause(self) -> None:
        self._control.pause()

    def resume(self) -> None:
        self._control.unpause()

    def stop(self) -> None:
        self._control.stop()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the worker's generator has ended (used when the window closes)."""
        return self._done.wait(timeout)


#: The share of the time a run of short steps leaves to the window (``Control.leave``): the
#: Bayesian network's steps take about 0.1 ms, and at full speed (9,000-13,000 a second on
#: asia) they held the interpreter so much that the window's event-loop gaps reached a p99
#: of 17.5-21.1 ms in four runs; paced, 12.9-16.9 ms in six (docs/benchmarks.md, session 8).
#: Steps of 1 ms or more (every image family's) are not paced.
WINDOW_LEAVE = 0.75


class TrainingSession(_Session):
    """A trainer run in a worker thread; its events re-emitted as signals on the GUI thread.

    ``event_arrived`` carries every event; ``samples_arrived`` carries ``(event, pixels)``
    with the picture already made (uint8, as :func:`genstudio.data.grid.picture` makes it).
    ``ended`` fires once, with the last event (``Finished`` or ``Failed``).
    """

    samples_arrived = Signal(object, object)

    def __init__(self, trainer: Any, reference: np.ndarray | None = None, parent: QObject | None = None):
        super().__init__(trainer, parent)
        self.trainer = trainer
        self.reference = reference
        trainer.control.leave = WINDOW_LEAVE  # the window's runs share the interpreter with it
        self.last_event: Any = None

    def _items(self) -> Iterator[Any]:
        for event in self.trainer.events():
            if event.type == "samples" and event.samples is not None:
                # the picture is made here, in the worker, not on the GUI thread
                yield ("samples", event, picture(event.samples, self.reference))
            else:
                yield ("event", event, None)

    def _on_event(self, item: tuple) -> None:
        kind, event, pixels = item
        self.last_event = event
        if kind == "samples":
            self.samples_arrived.emit(event, pixels)
        self.event_arrived.emit(event)
        if event.type in ("finished", "failed"):
            self._ended = True
            self.ended.emit(event)

    def _on_error(self, exc: BaseException) -> None:  # the loop reports failures as events; this is a bug
        from genstudio.training.events import Failed

        event = Failed(
            self.trainer.run.id,
            self.trainer.step,
            message=f"internal error: {exc}",
            traceback="".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        )
        self._ended = True
        self.event_arrived.emit(event)
        self.ended.emit(event)


class SweepSession(_Session):
    """A :class:`~genstudio.sweeps.Sweep` run in a worker thread, as :class:`TrainingSession`
    runs a trainer: ``event_arrived`` carries every sweep event on the GUI thread, ``ended``
    the last one (``SweepEnded``), ``failed`` a :class:`BackgroundError` (bad input found while
    running, such as an objective no run logs)."""

    failed = Signal(object)

    def __init__(self, sweep: Any, parent: QObject | None = None):
        super().__init__(sweep, parent)
        self.sweep = sweep
        sweep.leave = WINDOW_LEAVE  # its trials share the interpreter with the window

    def _items(self) -> Iterator[Any]:
        return self.sweep.events()

    def _on_event(self, event: Any) -> None:
        self.event_arrived.emit(event)
        if event.type == "sweep_ended":
            self._ended = True
            self.ended.emit(event)

    def _on_error(self, exc: BaseException) -> None:
        self._ended = True
        self.failed.emit(BackgroundError(exc))
