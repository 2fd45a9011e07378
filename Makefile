# Every target creates .venv on first use, with a Python 3.12+ found by
# scripts/find-python.sh, and installs the project and its test tools into it.
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
SPEC_TESTS ?= ../shared/spec-tests
JOBS ?= 2

.PHONY: venv test test-slow interop spec-tests lint bench run clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@PYBIN=$$(scripts/find-python.sh) && echo "using $$PYBIN" && \
	  { [ -x $(PY) ] || $$PYBIN -m venv $(VENV); }
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

test: $(STAMP)
	$(PY) -m pytest tests

# Long node runs: restart loops (clean stop and kill -9) and a chain crossing every fork.
test-slow: $(STAMP)
	$(PY) -m pytest tests -m slow

# Live tests against Lodestar 1.5.1 on loopback; installs it first (node 18+ and npm needed).
interop: $(STAMP)
	scripts/interop-lodestar.sh

spec-tests: $(STAMP)
	$(VENV)/bin/caplin-spec-tests $(SPEC_TESTS)/*.tar.gz --jobs $(JOBS)

lint: $(STAMP)
	$(VENV)/bin/ruff check caplin forkchoice sentinel beacon_api execution spec_tests tests bench

run: $(STAMP)
	$(VENV)/bin/caplin

clean:
	rm -rf $(VENV) build *.egg-info
