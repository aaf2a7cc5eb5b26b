# The whole set-up is two commands: `make demo` and `make test`.
# Both build .venv/ on first use, with versions pinned by constraints.txt.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test

.PHONY: venv test demo clean bench

venv: $(STAMP)

$(STAMP): setup.cfg pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -c constraints.txt -e .
	touch $@

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,ray]'
	touch $@

test: $(TEST_STAMP)
	$(PY) -m pytest -q

demo: venv
	$(VENV)/bin/seamfuzz mine snippets/seeds --docs torch tensorflow
	$(VENV)/bin/seamfuzz apis --top 25

clean:
	rm -rf $(VENV) build *.egg-info
