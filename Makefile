# The two commands of the README quick start. Each sets up what it needs in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test soak bench fuzz venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/mail2dataverse demo

test: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

soak: $(STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# Property tests randomised and 20x longer (tests/fuzz_profiles.py; M2D_FUZZ_FACTOR=N to change).
# A failure found here becomes an @example in its test, so `make test` keeps checking it.
fuzz: $(STAMP)
	M2D_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" \
		$(shell grep -rl --include='test_*.py' '@given' tests)
