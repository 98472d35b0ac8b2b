"""The plugin host: discovery, isolation of broken plugins, validation, and one test per hook.

Every hook in genstudio.hookspecs has a test here named ``test_hook_<hook name>``
(checked by :func:`test_every_hook_has_a_test`, as datasette does).
"""

from __future__ import annotations

import inspect
import sys
import textwrap
from dataclasses import dataclass

import pytest

from genstudio import hookspecs
from genstudio.api import (
    DataSource,
    FeatureExtractor,
    GenerativeModel,
    Metric,
    PluginError,
    hookimpl,
    param,
)
from genstudio.host import BUILTIN_PLUGINS, CONTRIBUTION_HOOKS, create_plugin_manager
from genstudio.testing import TinyModel, TinyPlugin, make_host


def hook_names() -> list[str]:
    return [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction) if name.startswith("genstudio_")]


def host_with(*plugins, **kwargs):
    extra = [(f"p{i}", p) for i, p in enumerate(plugins)]
    return create_plugin_manager(builtins=(), autoload=False, extra=extra, **kwargs)


class Gauss(TinyModel):
    name = "gauss"


# -- one test per hook --------------------------------------------------------------------


def test_hook_genstudio_register_models():
    class Plugin:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(Gauss)

    host = host_with(Plugin())
    assert host.model("gauss") is Gauss
    assert host.plugin_of_model("gauss") == "p0"
    assert host.plugins["p0"].contributes == {"models": ["gauss"]}


def test_hook_genstudio_register_datasets():
    class Blobs(DataSource):
        name = "blobs"

        def load(self, options, path, context):
            raise NotImplementedError

    class Plugin:
        @hookimpl
        def genstudio_register_datasets(self, registry):
            registry.add(Blobs)

    host = host_with(Plugin())
    assert host.datasets.get("blobs") is Blobs and host.datasets.owner("blobs") == "p0"


def test_hook_genstudio_register_metrics():
    class Mean(Metric):
        name = "mean"
        requires = frozenset({"features"})

        def compute(self, context):
            return {"mean": 0.0}

    class Plugin:
        @hookimpl
        def genstudio_register_metrics(self, registry):
            registry.add(Mean)

    host = host_with(Plugin())
    assert host.metrics.get("mean") is Mean and host.plugins["p0"].contributes == {"metrics": ["mean"]}


def test_hook_genstudio_register_feature_extractors():
    class Raw(FeatureExtractor):
        name = "raw-test"

        def features(self, x):
            return x.flatten(1)

    class Plugin:
        @hookimpl
        def genstudio_register_feature_extractors(self, registry):
            registry.add(Raw)

    host = host_with(Plugin())
    assert host.extractors.get("raw-test") is Raw


class Recorder:
    """Observes runs: the three observer hooks."""

    def __init__(self):
        self.calls = []

    @hookimpl
    def genstudio_run_started(self, run):
        self.calls.append(("started", run["id"], run["step"]))

    @hookimpl
    def genstudio_run_event(self, run, event):
        self.calls.append(("event", event.type))

    @hookimpl
    def genstudio_run_finished(self, run, status, error):
        self.calls.append(("finished", status, error))


def _observed_run(tmp_path, model="tiny"):
    from genstudio.runs.workspace import Workspace
    from genstudio.testing import train

    rec = Recorder()
    host = make_host(extra=[("recorder", rec)])
    trainer, events = train(host, Workspace(tmp_path), model, steps=5)
    return rec, trainer, events


def test_hook_genstudio_run_started(tmp_path):
    rec, trainer, _ = _observed_run(tmp_path)
    assert rec.calls[0] == ("started", trainer.run.id, 0)


def test_hook_genstudio_run_event(tmp_path):
    rec, _, events = _observed_run(tmp_path)
    seen = [c[1] for c in rec.calls if c[0] == "event"]
    assert seen == [e.type for e in events]
    assert {"started", "progress", "samples", "checkpoint", "finished"} <= set(seen)


def test_hook_genstudio_run_finished(tmp_path):
    rec, _, _ = _observed_run(tmp_path)
    assert rec.calls[-1] == ("finished", "finished", None)
    rec, _, _ = _observed_run(tmp_path / "b", model="tiny-broken")
    status, error = rec.calls[-1][1:]
    assert status == "failed" and "fails on purpose" in error


def test_every_hook_has_a_test():
    module = sys.modules[__name__]
    missing = [h for h in hook_names() if not hasattr(module, f"test_hook_{h}")]
    assert not missing, f"hooks without a test_hook_<name> here: {missing}"
    assert set(CONTRIBUTION_HOOKS) <= set(hook_names())


# -- discovery and isolation ----------------------------------------------------------------


def test_builtins_come_from_one_tuple_and_load_cleanly():
    host = create_plugin_manager(autoload=False)
    assert [p.name for p in host.plugins.values()] == [m.rsplit(".", 1)[-1] for m in BUILTIN_PLUGINS]
    assert not host.failed(), [p.error for p in host.failed()]
    assert all(p.source == "builtin" and p.version for p in host.plugins.values())
    assert "vae" in host.models and "digits" in host.datasets and "idx" in host.datasets


def test_a_builtin_that_fails_to_import_is_recorded_and_the_rest_load():
    host = create_plugin_manager(builtins=("genstudio.no_such_module", *BUILTIN_PLUGINS), autoload=False)
    info = host.plugins["no_such_module"]
    assert "ModuleNotFoundError" in info.error and "Traceback" in info.traceback
    assert "vae" in host.models


def test_a_plugin_raising_while_registering_adds_nothing_and_others_load():
    class Half:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(Gauss)
            raise RuntimeError("boom after one")

    host = host_with(Half(), TinyPlugin())
    assert "gauss" not in host.models  # rolled back
    assert "tiny" in host.models
    assert host.plugins["p0"].error == "genstudio_register_models: RuntimeError: boom after one"
    assert "boom after one" in host.plugins["p0"].traceback


def test_a_name_taken_twice_is_refused_naming_the_first_owner():
    class Again:
        @hookimpl
        def genstudio_register_models(self, registry):
            registry.add(TinyModel)

    host = host_with(TinyPlugin(), Again())
    assert "already provided by plugin 'p0'" in host.plugins["p1"].error


def test_an_unknown_hook_argument_is_refused_at_registration():
    class Wrong:
        @hookimpl
        def genstudio_register_models(self, registry, nonsense):
            pass

    host = host_with(Wrong(), TinyPlugin())
    assert "registering" in host.plugins["p0"].error and "tiny" in host.models


@dataclass
class _Cfg:
    k: int = param(1, min=0)


def _model(**attrs):
    base = {
        "name": "m",
        "accepts": {"vector"},
        "Config": _Cfg,
        "train_step": lambda s, b: {},
        "sample": lambda s, n, generator=None: None,
    }
    base.update(attrs)
    return type("M", (GenerativeModel,), base)


@pytest.mark.parametrize(
    ("cls", "message"),
    [
        (object, "is not a model family"),
        (_model(name="Bad Name"), "needs a name made of lowercase letters"),
        (_model(accepts=set()), "accepts must be a non-empty subset"),
        (_model(accepts={"audio"}), "accepts must be a non-empty subset"),
        (_model(Config=int), "not a dataclass"),
        (type("M", (GenerativeModel,), {"name": "m", "accepts": {"vector"}}), "does not implement train_step"),
    ],
)
def test_model_classes_are_validated(cls, message):
    host = host_with()
    with pytest.raises(PluginError, match=message):
        host.models.add(cls)


def test_a_valid_torch_model_is_accepted():
    host = host_with()
    assert host.models.add(Gauss) is Gauss
    assert host.models.get("gauss") is Gauss and "gauss" in host.models.names()
    # a model added outside a plugin's hook call has no plugin to blame
    assert host.models.owner("gauss") == "?"


def _write_distribution(root, name, module_source, entry="mod"):
    """A minimal installed distribution: a module and its dist-info with a genstudio entry point."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-1.2.3.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.2.3\n")
    (info / "entry_points.txt").write_text(f"[genstudio]\n{entry} = {name}\n")


GAUSS_PLUGIN = """
    from genstudio.api import hookimpl
    from genstudio.testing import TinyModel

    class Gauss(TinyModel):
        name = "ep-gauss"

    @hookimpl
    def genstudio_register_models(registry):
        registry.add(Gauss)
"""


def test_entry_point_plugins_are_found_and_can_be_switched_off(tmp_path, monkeypatch):
    _write_distribution(tmp_path, "gs_ep_demo", GAUSS_PLUGIN, entry="demo")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = create_plugin_manager(autoload=True)
    info = host.plugins["demo"]
    assert (info.source, info.version, info.location) == ("entrypoint", "1.2.3", "gs_ep_demo 1.2.3")
    assert host.plugin_of_model("ep-gauss") == "demo"
    monkeypatch.setenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD", "1")
    host = create_plugin_manager()
    assert "demo" not in host.plugins and "ep-gauss" not in host.models
    monkeypatch.delenv("GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD")
    assert "demo" in create_plugin_manager().plugins
    host = create_plugin_manager(disabled=["demo"])
    assert host.plugins["demo"].enabled is False and "ep-gauss" not in host.models


def test_an_entry_point_that_fails_to_import_is_recorded(tmp_path, monkeypatch):
    _write_distribution(tmp_path, "gs_ep_broken", "raise ImportError('needs libfoo')\n", entry="broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    host = create_plugin_manager(autoload=True)
    assert host.plugins["broken"].error == "importing: ImportError: needs libfoo"
    assert "vae" in host.models


def test_dropin_files_load_from_the_workspace(tmp_path):
    folder = tmp_path / "plugins"
    folder.mkdir()
    (folder / "gauss_dropin.py").write_text(textwrap.dedent(GAUSS_PLUGIN.replace("ep-gauss", "dropin-gauss")))
    (folder / "syntax_error.py").write_text("def broken(:\n")
    (folder / "_private.py").write_text("raise SystemExit('never imported')\n")
    host = create_plugin_manager(tmp_path, autoload=True)
    assert host.plugin_of_model("dropin-gauss") == "gauss_dropin"
    assert host.plugins["gauss_dropin"].source == "dropin"
    assert "SyntaxError" in host.plugins["syntax_error"].error
    assert "_private" not in host.plugins
    assert "dropin-gauss" not in create_plugin_manager(tmp_path, autoload=False).models


def test_an_observer_that_raises_is_reported_and_training_goes_on(tmp_path, caplog):
    from genstudio.runs.workspace import Workspace
    from genstudio.testing import train

    class Faulty:
        @hookimpl
        def genstudio_run_event(self, event):
            raise ValueError("logger broke")

    host = make_host(extra=[("faulty", Faulty())])
    _trainer, events = train(host, Workspace(tmp_path), "tiny", steps=5)
    assert events[-1].type == "finished"
    assert "logger broke" in host.plugins["faulty"].error
    assert sum("logger broke" in r.message for r in caplog.records) == 1  # reported once, not per event
