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

# The demo mines the installed libraries' doc examples and the seed snippets,
# shows the most used APIs, checks one call from torch's own documentation on
# which torch.compile disagrees with eager mode (exit status 1 is the finding,
# hence the leading '-'), and runs the mined calls of a few APIs in every mode.
DEMO_APIS := torch.cumsum torch.nn.MultiLabelMarginLoss torch.softmax torch.sort \
	tf.math.reduce_max tf.math.cumsum tf.nn.softmax tf.linalg.matmul

demo: venv
	$(VENV)/bin/seamfuzz mine snippets/seeds --docs torch tensorflow
	$(VENV)/bin/seamfuzz apis --top 15
	-$(VENV)/bin/seamfuzz check 'torch.nn.MultiLabelMarginLoss()(torch.tensor([[0.1, 0.2, 0.4, 0.8]]), torch.tensor([[3, 0, -1, 1]]))'
	$(VENV)/bin/seamfuzz run --api $(DEMO_APIS) --modes torch.compile,tf.function,tf.xla --out results/demo

clean:
	rm -rf $(VENV) build *.egg-info
