"""What the window loads after it is on screen, off the GUI thread (through
:mod:`genstudio.gui.workers`): the plugins, then (the studio's doing) the declared families'
classes with torch, then torch's one-time costs.

Train is enabled once the plugins, the default data and a family are there; the families'
import and torch's warm-up come after that, so they never delay the first run being offered.
"""

from __future__ import annotations

import gc
import threading
from typing import Any

from genstudio.runs.workspace import Workspace

_warm = threading.Event()
_warming = threading.Lock()


def load_plugins(workspace: Workspace) -> Any:
    """The plugin host of ``workspace`` (its drop-in folder is the workspace's own)."""
    from genstudio.host import create_plugin_manager

    return create_plugin_manager(workspace.root)


def torch_warmed_up() -> bool:
    return _warm.is_set()


def warm_up_torch() -> None:
    """Pay torch's one-time costs once, while the window waits for the user, not in the first
    second of training. torch.optim imports torch._dynamo (hundreds of modules, long stretches
    of it holding the interpreter lock) on an optimizer's first step: in the training thread,
    that stalled the window for over 100 ms just after Start. Safe to call from any thread,
    any number of times: later calls return at once, or wait for the first to finish."""
    if _warm.is_set():
        return
    with _warming:
        if _warm.is_set():
            return
        import torch
        import torch._dynamo

        net = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.Flatten(), torch.nn.LazyLinear(1))
        opt = torch.optim.Adam(net.parameters())
        net(torch.zeros(2, 1, 6, 6)).sum().backward()
        opt.step()
        # the imports so far (Qt, pyqtgraph, torch and its compiler) leave about 340,000
        # objects that live as long as the window; every full collection of the cyclic
        # garbage collector walked them all, holding the interpreter lock for 100 to 160 ms in
        # whichever thread allocated, which froze the window about once a minute of training.
        # Frozen, they are left out of collections (Python's gc.freeze, made for this)
        gc.freeze()
        _warm.set()
