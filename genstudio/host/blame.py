"""Attributing an exception to the plugin whose code raised it: the one way the host does it.

Every call into plugin code (a model's ``train_step``, ``sample``, ``log_prob`` ...; a hook)
runs inside :func:`blame`. Whatever it raises, ``SystemExit`` included (a plugin that calls
``sys.exit`` must not take the host down), becomes a :class:`PluginFailure` naming the plugin
and what it was doing, with the traceback kept for a Details view. ``KeyboardInterrupt`` is the
person at the keyboard, not the plugin: it goes through, so Ctrl-C still stops a run.
"""

from __future__ import annotations

import contextlib
import traceback
from collections.abc import Iterator

from genstudio.api import PluginError


class PluginFailure(PluginError):  # noqa: N818 - it is an error: PluginError's family
    """Plugin code raised ``exc`` while ``doing`` (``"sampling (sample)"``).

    The message reads ``plugin 'vae' failed while sampling (sample): ValueError: ...``, or
    ``the model failed while ...`` where the plugin is not known."""

    def __init__(self, doing: str, exc: BaseException, plugin: str | None = None):
        who = f"plugin {plugin!r} failed while {doing}" if plugin else f"the model failed while {doing}"
        super().__init__(f"{who}: {type(exc).__name__}: {exc}")
        self.doing, self.exc, self.plugin = doing, exc, plugin
        self.traceback = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))


#: Exceptions that are never the plugin's fault: Ctrl-C, and a generator being closed.
NOT_BLAMED: tuple[type[BaseException], ...] = (KeyboardInterrupt, GeneratorExit)


@contextlib.contextmanager
def blame(
    doing: str, plugin: str | None = None, *, passthrough: tuple[type[BaseException], ...] = ()
) -> Iterator[None]:
    """Mark a call into plugin code: what it raises becomes a :class:`PluginFailure`.

    :param doing: what the plugin was asked to do, as the message shows it.
    :param plugin: the plugin's name, when known.
    :param passthrough: exception types to let through unchanged (the host's own signals).
    """
    try:
        yield
    except PluginFailure:
        raise
    except NOT_BLAMED:
        raise
    except passthrough:
        raise
    except BaseException as exc:  # SystemExit too: a plugin never ends the host
        raise PluginFailure(doing, exc, plugin) from exc
