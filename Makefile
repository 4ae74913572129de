# The two commands of the README quick start. Each sets up what it needs in .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Two stamps: the demo needs the tool alone; the tests also need the test extra. `make test`
# after `make demo` adds the extra to the same venv.
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
BENCH_STAMP := $(VENV)/.installed-bench
# setuptools' editable build always prints an "Editable installation" notice block through pip,
# even with --quiet; it tells a demo user nothing, so that one notice (matched by its start) is
# silenced and every other build warning still shows.
PIP := PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet --disable-pip-version-check

.PHONY: demo test soak bench fuzz venv clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(PIP) -e '.[test]'
	touch $(TEST_STAMP)

$(BENCH_STAMP): $(TEST_STAMP)
	$(PIP) -e '.[test,bench]'
	touch $(BENCH_STAMP)

venv: $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/mail2dataverse demo

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -m "not slow" -q

soak: $(TEST_STAMP)
	$(BIN)/python -m pytest -m slow -q

bench: $(BENCH_STAMP)
	$(BIN)/python benchmarks/run_all.py

clean:
	rm -rf $(VENV) build dist *.egg-info

# Property tests randomised and 20x longer (tests/fuzz_profiles.py; M2D_FUZZ_FACTOR=N to change).
# A failure found here becomes an @example in its test, so `make test` keeps checking it.
fuzz: $(TEST_STAMP)
	M2D_HYPOTHESIS_PROFILE=fuzz $(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" \
		$(shell grep -rl --include='test_*.py' '@given' tests)
