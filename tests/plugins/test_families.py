"""Every model family the built-in plugins provide passes a few-step dry run (as pytorch/examples'
CI runs each example with --dry-run), on every kind of data it accepts."""

from __future__ import annotations

import pytest

from genstudio.host import create_plugin_manager
from genstudio.testing import dry_run

DATA_FOR_KIND = {"image": "tiny", "vector": "tiny-vectors"}


def builtin_host():
    """The built-in plugins alone: no entry points, no drop-ins, and none of the user's own
    settings (``disabled=()``: a family the user switched off is still tested)."""
    return create_plugin_manager(autoload=False, disabled=())


def cases():
    for name, cls in builtin_host().models.items():
        for kind in sorted(cls.accepts):
            if kind in DATA_FOR_KIND:
                yield pytest.param(name, DATA_FOR_KIND[kind], id=f"{name}-{kind}")


def test_every_builtin_plugin_loads():
    host = builtin_host()
    assert not host.failed(), {p.name: p.error for p in host.failed()}
    assert {"vae", "gan", "rbm", "flow", "diffusion", "bayesnet"} <= set(host.models.names())


@pytest.mark.parametrize(("model", "data"), list(cases()))
def test_dry_run(gs_host, gs_workspace, model, data):
    dry_run(gs_host, gs_workspace, model, data, steps=4)
