# The two commands: `make run` (set up everything and start the platform) and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint typecheck pytest install vendor migrate bench-face clean

run: install vendor
	$(BIN)/xjdk run

test: install vendor lint typecheck pytest

install: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "需要 Python 3.11（$(PYTHON)）"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps 'face_recognition==1.3.0'
	touch $(STAMP)

# Front-end packages from npm (package.json), copied where the pages load them; not committed.
VENDOR := static/vendor/htmx.min.js static/vendor/jodit/jodit.min.js static/vendor/jodit/jodit.min.css

vendor: $(VENDOR)

$(VENDOR) &: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p static/vendor/jodit
	cp node_modules/htmx.org/dist/htmx.min.js static/vendor/htmx.min.js
	cp node_modules/jodit/es2018/jodit.min.js node_modules/jodit/es2018/jodit.min.css static/vendor/jodit/

lint:
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck:
	$(BIN)/mypy

# Every core at once, each test module on one worker (its app is built once); the order is new
# each run (pytest-randomly prints the seed, `pytest --randomly-seed=N` repeats it).
pytest:
	$(BIN)/pytest -n auto --dist loadfile

migrate: install
	$(BIN)/xjdk migrate

bench-face: install
	$(BIN)/xjdk bench-face --checks 60 --processes 2

clean:
	rm -rf $(VENV) node_modules static/vendor
