"""The plugin contract: the only GenStudio package a plugin imports.

A plugin contributes model families, data sources, metrics and feature extractors through
the ``genstudio_register_*`` hooks (see :mod:`genstudio.hookspecs`), and observes runs
through the ``genstudio_run_*`` hooks. Everything a plugin needs to write one, and to type
everything it receives, is re-exported here:

- :data:`hookimpl` marks a hook implementation; :class:`Registry` is what a contribution
  hook receives;
- :class:`GenerativeModel` and :class:`TorchModel` are the base classes of a model family;
  :class:`Family` declares one without importing it (and torch), for a fast start;
- :func:`param` declares one hyperparameter of a family's ``Config`` dataclass;
- :class:`DataSpec`, :class:`Batch` and :class:`Dataset` describe data;
- :class:`DataSource` is the base class of a data source;
- :class:`Metric`, :class:`FeatureExtractor` and :class:`EvalContext` (what a metric's
  ``compute`` receives) are for evaluation;
- the run events (:class:`Event`, :class:`Progress`, :class:`Finished` ...) are what the
  ``genstudio_run_event`` hook receives;
- :class:`GenStudioError` and its subclasses carry messages meant for the user;
- :func:`inference_mode`, :func:`capabilities`, :func:`prior_sample`, :func:`adam` are helpers.

The package imports nothing else from GenStudio, so a plugin depends on it alone. It imports
torch only when something needs it (``TorchModel`` on first use), so the window and the
command line start without paying for torch. Modules: ``errors``, ``params``, ``data``,
``family``, ``model``, ``evaluation``, ``registry``, ``events``.
"""

from __future__ import annotations

from typing import Any

import pluggy

from genstudio.api.data import KINDS, Batch, Dataset, DataSource, DataSpec, LoadContext
from genstudio.api.errors import CheckpointError, ConfigError, DataError, GenStudioError, PluginError
from genstudio.api.evaluation import EvalContext, FeatureExtractor, Metric
from genstudio.api.events import (
    CheckpointSaved,
    Event,
    Failed,
    Finished,
    Paused,
    Progress,
    Resumed,
    Samples,
    Started,
    Warning,  # noqa: A004 - the event's name, as the events module spells it
)
from genstudio.api.family import Family, is_declared
from genstudio.api.model import (
    CAPABILITIES,
    GenerativeModel,
    adam,
    capabilities,
    inference_mode,
    make_torch_model,
    prior_sample,
)
from genstudio.api.params import EmptyConfig, Param, config_from_dict, config_to_dict, param, params
from genstudio.api.registry import Registry

__all__ = [
    "CAPABILITIES",
    "KINDS",
    "Batch",
    "CheckpointError",
    "CheckpointSaved",
    "ConfigError",
    "DataError",
    "DataSource",
    "DataSpec",
    "Dataset",
    "EmptyConfig",
    "EvalContext",
    "Event",
    "Failed",
    "Family",
    "FeatureExtractor",
    "Finished",
    "GenStudioError",
    "GenerativeModel",
    "LoadContext",
    "Metric",
    "Param",
    "Paused",
    "PluginError",
    "Progress",
    "Registry",
    "Resumed",
    "Samples",
    "Started",
    "TorchModel",
    "Warning",
    "adam",
    "capabilities",
    "config_from_dict",
    "config_to_dict",
    "hookimpl",
    "inference_mode",
    "is_declared",
    "param",
    "params",
    "prior_sample",
]

PROJECT = "genstudio"
hookimpl = pluggy.HookimplMarker(PROJECT)


def __getattr__(name: str) -> Any:
    # TorchModel subclasses torch.nn.Module: it is built, and torch imported, on first use
    if name == "TorchModel":
        cls = make_torch_model()
        globals()["TorchModel"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
