"""Model families declared before they are imported (genstudio.api.Family): the host lists
them from their facts, imports a class on first use, checks it against its declaration, and
drops (and blames) one that cannot be imported. The built-ins are declared, so building the
host imports no torch."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from genstudio.api import Family, PluginError, is_declared
from genstudio.host import BUILTIN_PLUGINS, create_plugin_manager

DECLARATION = """
from dataclasses import dataclass
from genstudio.api import Family, hookimpl, param

@dataclass
class LazyConfig:
    width: int = param(4, min=1, max=64, help="Width")

FAMILY = Family(name="lazy", location="{module}_model:Lazy", title="Lazy", description="Imported late",
                accepts={{"image"}}, Config=LazyConfig)

@hookimpl
def genstudio_register_models(registry):
    registry.add(FAMILY)
"""

MODEL = """
from genstudio.testing import TinyModel
from {module} import FAMILY

class Lazy(TinyModel, family=FAMILY):
    pass
"""


@pytest.fixture
def plugin_dir(importable):
    """Write a declared plugin ``<module>`` and its class's module ``<module>_model``; returns
    a function ``(module, model_source) -> module name``."""

    def write(module: str, model: str = MODEL, declaration: str = DECLARATION) -> str:
        importable(module, declaration.format(module=module))
        importable(f"{module}_model", model.format(module=module))
        return module

    return write


def test_a_declared_family_is_listed_from_its_facts_and_imported_on_first_use(plugin_dir):
    module = plugin_dir("decl_ok")
    host = create_plugin_manager(builtins=(module,), autoload=False)
    declared = host.models.declared("lazy")
    assert is_declared(declared) and declared.title == "Lazy" and declared.accepts == {"image"}
    assert f"{module}_model" not in sys.modules  # listed, not imported
    assert host.plugins[module].contributes == {"models": ["lazy"]}

    cls = host.model("lazy")
    assert f"{module}_model" in sys.modules
    assert isinstance(cls, type) and cls.__name__ == "Lazy"
    # the class took the declared facts (family=FAMILY), and the registry keeps the class now
    assert (cls.name, cls.title, cls.accepts, cls.Config) == ("lazy", "Lazy", frozenset({"image"}), declared.Config)
    assert host.models.declared("lazy") is cls and host.model("lazy") is cls
    assert host.load_declared() == [] and not host.failed()


def test_a_class_that_does_not_match_its_declaration_is_refused_and_its_plugin_blamed(plugin_dir):
    mismatched = """
    from genstudio.testing import TinyModel

    class Lazy(TinyModel):
        name = "lazy"
        title = "Lazy"
        description = "Imported late"
        accepts = {{"vector"}}
    """
    module = plugin_dir("decl_mismatch", mismatched)
    host = create_plugin_manager(builtins=(module,), autoload=False)
    with pytest.raises(PluginError, match=rf"plugin '{module}'.*accepts frozenset\(\{{'vector'\}}\), declared"):
        host.model("lazy")
    assert host.load_declared() == ["lazy"]
    assert "lazy" not in host.models
    info = host.plugins[module]
    assert info.error.startswith("importing lazy: PluginError:") and "declared" in info.error
    assert info.contributes.get("models") == []


def test_a_class_that_cannot_be_imported_is_dropped_with_its_error(plugin_dir):
    module = plugin_dir("decl_broken", "raise ImportError('no module named torchish')\n")
    host = create_plugin_manager(builtins=(module,), autoload=False)
    assert "lazy" in host.models  # declared: listed until it is imported
    assert host.load_declared() == ["lazy"]
    assert host.plugins[module].error == "importing lazy: ImportError: no module named torchish"
    # asked for afterwards (a run prepared as the import failed), it says why it is gone
    with pytest.raises(PluginError, match=rf"^plugin '{module}': importing model 'lazy': ImportError: no module"):
        host.model("lazy")


def test_a_declaration_names_a_module_and_a_class():
    with pytest.raises(PluginError, match="is not 'module:Class'"):
        Family(name="x", location="just_a_module").load()
    with pytest.raises(PluginError, match="has no 'Nope'"):
        Family(name="x", location="genstudio.api:Nope").load()


def test_every_builtin_family_is_declared_and_matches_its_class():
    host = create_plugin_manager(autoload=False)
    names = [n for n, item in host.models.items() if is_declared(item)]
    assert names == ["vae", "gan", "rbm", "flow", "diffusion", "bayesnet"]
    assert host.load_declared() == [] and not host.failed()
    for name in names:
        assert host.model(name).name == name and not is_declared(host.models.declared(name))


def test_building_the_host_with_the_builtins_imports_no_torch():
    """The window lists the families and loads its built-in data while torch is imported in
    the background: neither may import torch."""
    code = textwrap.dedent(
        f"""
        import sys
        from genstudio.host import create_plugin_manager
        from genstudio.data import load_dataset
        host = create_plugin_manager(autoload=False)
        assert len(host.models) == 6, host.failed()
        data = load_dataset(host, "mnist")
        print(len(host.plugins) == {len(BUILTIN_PLUGINS)}, "torch" in sys.modules, data.spec.shape)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split()[:2] == ["True", "False"], out.stdout
