# Two commands on a fresh machine: `make demo` and `make test`; both set up first.
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp
RUNS   := runs

.PHONY: setup demo test test-fast lint bench bench-serve compare-classics benchmarks clean

setup: $(STAMP)
	@$(PY) -c 'from mnistlab.serve import browser_runtime; browser_runtime.main()'

# Fonts for the made-up non-digits the reject rule learns from (src/mnistlab/data/outliers.py)
# and, apart from them, for bench/nondigits.py's held-out ones and the tests' unseen letters.
FONTS := fonts-liberation fonts-comic-neue fonts-humor-sans fonts-bwht fonts-breip \
	fonts-femkeklaver fonts-sjfonts fonts-rufscript fonts-dancingscript fonts-symbola \
	fonts-dkg-handwriting fonts-kristi fonts-klee fonts-ecolier-court fonts-tomsontalks \
	fonts-urw-base35 fonts-opensymbol fonts-cabinsketch fonts-yusei-magic

# torch first, pinned to the CPU wheel, so the package's own `torch>=2.2` is already met.
# Then, on every `make setup` (nothing to do once cached): onnxruntime-web (pinned,
# hash-checked) into ~/.cache/mnistlab, not the repository: the page runs the model in the
# browser with it, `mnistlab export --format web` copies it, and the browser tests use it.
# As root with apt: Debian's Fashion-MNIST package and Chromium (for the browser tests).
$(STAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check torch==2.13.0
	$(PY) -m pip install -q --disable-pip-version-check -e '.[dev]'
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  dpkg -s dataset-fashion-mnist chromium wrk $(FONTS) >/dev/null 2>&1 || \
	  { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	      dataset-fashion-mnist chromium fonts-dejavu-core wrk $(FONTS); }; \
	fi
	touch $(STAMP)

demo: setup
	PY=$(PY) RUNS=$(RUNS) bash scripts/demo.sh

# One pytest worker per core (pytest-xdist), each test file on one worker so that its
# module fixtures are built once; conftest.py splits the cores' threads between the workers.
test: setup
	$(PY) -m pytest -q -n auto --dist loadfile

# The quick loop while editing: every test not marked slow (no training on real data).
test-fast: setup
	$(PY) -m pytest -q -n auto --dist loadfile -m "not slow"

lint: setup
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

# Serving under load (wrk from Debian): RUN=runs/... make bench-serve
bench-serve: setup
	@command -v wrk >/dev/null || { echo "bench-serve needs wrk: apt-get install wrk"; exit 1; }
	$(PY) bench/serve_load.py --run $(RUN)

# The classic trio on Fashion-MNIST beside the tutorial's figures (NumPy 74.53%, MLP 88.49%, CNN 90.31%).
compare-classics: setup
	$(PY) bench/compare_classics.py --runs $(RUNS)

# The quick benchmarks: time to 99% for `fast` against the reference in one run (minutes),
# and inference speed (batch, Python API, HTTP) of a `fast` run trained on the spot. Each
# appends a record to bench/results/; both run, and `make bench` fails if either missed a target.
bench: setup
	status=0; $(PY) bench/time_to_accuracy.py || status=1; $(PY) bench/inference.py || status=1; \
	exit $$status

# docs/benchmarks.md (and the README's results table) from bench/results/*.jsonl: rendering
# only, it runs no benchmark; standard library only, so it needs no set-up.
benchmarks:
	python3 bench/summary.py

clean:
	rm -rf $(RUNS) .pytest_cache test-artifacts
