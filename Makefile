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
	$(PY) -m pip install --quiet -c constraints.txt -e '.[export]'
	touch $@

$(TEST_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -c constraints.txt -e '.[test,ray,export]'
	touch $@

# Cases run in a bubblewrap sandbox (README, "Set-up"); without it nearly
# every end-to-end test would fail, so say so once, first.
test: $(TEST_STAMP)
	@command -v bwrap >/dev/null || { echo "make test: bubblewrap (bwrap) is not installed; install it (Debian/Ubuntu: apt-get install bubblewrap) or run .ci/run, which does" >&2; exit 1; }
	$(PY) -m pytest -q

# The demo mines the installed libraries' doc examples and the seed snippets,
# resolves what mining left unknown, shows the most used APIs, runs a fuzzing
# campaign of a few minutes over a few APIs in torch.compile, tf.function and
# XLA and through one export boundary per framework (ONNX for torch, TFLite
# for tensorflow), triages what broke
# (clusters, the axis that flips each, shrunk cases, reproducers) and writes
# the report.
DEMO_APIS := torch.nn.MultiLabelMarginLoss torch.cumsum torch.softmax torch.sort \
	tf.math.reduce_max tf.math.cumsum tf.nn.softmax tf.linalg.matmul
DEMO_OUT := results/demo

demo: venv
	$(VENV)/bin/seamfuzz mine snippets/seeds --docs torch tensorflow
	$(VENV)/bin/seamfuzz resolve
	$(VENV)/bin/seamfuzz apis --top 15
	$(VENV)/bin/seamfuzz fuzz --api $(DEMO_APIS) \
		--modes torch.compile,torch.onnx,tf.function,tf.xla,tf.lite \
		--mutants 24 --seconds 300 --out $(DEMO_OUT)
	$(VENV)/bin/seamfuzz triage $(DEMO_OUT) --shrink-seconds 20
	$(VENV)/bin/seamfuzz report $(DEMO_OUT)

clean:
	rm -rf $(VENV) build *.egg-info
