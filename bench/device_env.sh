# Sourced by bench/device_checks.sh and bench/device_cli.sh: GenStudio from this checkout on a
# machine where the package is not installed (the device tool's). Sets ROOT (and cd's there)
# and PY; genstudio_plugins is plugins/ and genstudio.resources is resources/, as pyproject.toml
# maps them; wheels carried in .gpu/whl (pure-Python ones that machine lacks) go on the path.
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit
PY=${PYTHON:-python3}
mkdir -p /tmp/gs-path && ln -sfn "$ROOT/plugins" /tmp/gs-path/genstudio_plugins
if ! $PY -c "import genstudio.resources" 2>/dev/null; then
  ln -sfn "$ROOT/resources" "$ROOT/genstudio/resources"  # in that machine's copy of the tree only
fi
if compgen -G "$ROOT/.gpu/whl/*.whl" >/dev/null; then
  $PY -m pip install -q --no-index --no-deps --no-compile --target /tmp/gs-site "$ROOT"/.gpu/whl/*.whl || exit
fi
export PYTHONPATH="$ROOT:/tmp/gs-path:/tmp/gs-site${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
export GENSTUDIO_DISABLE_PLUGIN_AUTOLOAD=1 GENSTUDIO_CONFIG_DIR=/tmp/gs-config
