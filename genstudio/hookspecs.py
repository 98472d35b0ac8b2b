"""Every hook a GenStudio plugin can implement.

Plugins implement these with ``@genstudio.api.hookimpl`` and a function of the same name.
A hook implementation may take any subset of the arguments, by name.

Contribution hooks (``genstudio_register_*``) receive a registry and call its ``add``; the
registry validates what it receives and records which plugin contributed it. Observer hooks
(``genstudio_run_*``) are told about runs; what they return is ignored.

The host calls each plugin's implementation on its own: an implementation that raises is
reported with the plugin's name and traceback, and every other plugin's still runs. None of
these hooks is ``firstresult``.
"""

from __future__ import annotations

from typing import Any

import pluggy

from genstudio.api import Event, Registry

hookspec = pluggy.HookspecMarker("genstudio")


@hookspec
def genstudio_register_models(registry: Registry) -> None:
    """Contribute model families.

    :param registry: call ``registry.add(ModelClass)`` once per family. The class must
        subclass :class:`genstudio.api.GenerativeModel`, have a unique ``name`` made of
        lowercase letters, digits, ``-`` and ``_``, a non-empty ``accepts``, a ``Config``
        dataclass whose fields are declared with :func:`genstudio.api.param`, and implement
        ``train_step`` and ``sample``. A class that breaks these rules is refused with a
        :class:`genstudio.api.PluginError` naming the rule.
    :return: nothing.
    """


@hookspec
def genstudio_register_datasets(registry: Registry) -> None:
    """Contribute data sources: built-in datasets chosen by name, or file formats.

    :param registry: call ``registry.add(SourceClass)`` once per source. The class must
        subclass :class:`genstudio.api.DataSource`, have a unique ``name``, an ``Options``
        dataclass, and implement ``load``; a file format sets ``path_based = True`` and
        implements ``sniff(path)``.
    :return: nothing.
    """


@hookspec
def genstudio_register_metrics(registry: Registry) -> None:
    """Contribute evaluation metrics.

    :param registry: call ``registry.add(MetricClass)`` once per metric. The class must
        subclass :class:`genstudio.api.Metric` and have a unique ``name``.
    :return: nothing.
    """


@hookspec
def genstudio_register_feature_extractors(registry: Registry) -> None:
    """Contribute feature extractors for the metrics (Inception-v3, a data-specific net, ...).

    :param registry: call ``registry.add(ExtractorClass)`` once per extractor. The class must
        subclass :class:`genstudio.api.FeatureExtractor` and have a unique ``name``.
    :return: nothing.
    """


@hookspec
def genstudio_run_started(run: dict[str, Any]) -> None:
    """A run started or resumed.

    :param run: the run's record: ``id``, ``name``, ``model``, ``data``, ``config`` (dict),
        ``folder`` (its folder in the workspace, a string), ``command`` (the
        ``genstudio train ...`` command that repeats it) and ``step`` (0 for a new run).
    :return: ignored.
    """


@hookspec
def genstudio_run_event(run: dict[str, Any], event: Event) -> None:
    """A training event: progress with losses, samples, a checkpoint, a warning.

    Called from the training thread at most about 20 times a second; keep it quick.

    :param run: the run's record, as in :func:`genstudio_run_started`.
    :param event: one of the event classes of :mod:`genstudio.api.events` (all
        re-exported by :mod:`genstudio.api`); its
        ``type`` attribute names it (``"progress"``, ``"samples"``, ``"checkpoint"``, ...).
    :return: ignored.
    """


@hookspec
def genstudio_run_finished(run: dict[str, Any], status: str, error: str | None) -> None:
    """A run ended.

    :param run: the run's record, as in :func:`genstudio_run_started`.
    :param status: ``"finished"``, ``"stopped"`` or ``"failed"``.
    :param error: the failure's message when ``status`` is ``"failed"``, else ``None``.
    :return: ignored.
    """
