# The two commands a new user needs: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PORT    ?= 7860

.PHONY: run test test-fast install sysdeps ingest bench soak lint clean readme

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first (an unpinned torch would pull a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python builds from source (~4 min); pip caches the wheel afterwards
	$(BIN)/pip install -q -e ".[dev]"
	touch $(STAMP)

install: $(STAMP)

ingest: $(STAMP)
	$(BIN)/tutor ingest

run: $(STAMP)
	$(BIN)/tutor ingest
	@echo "serving http://127.0.0.1:$(PORT)"
	$(BIN)/tutor ui --port $(PORT)

test: $(STAMP) sysdeps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile $(PYTEST_ARGS)

# the inner loop: unit tests only (fakes: hash embedder, scripted LLM; no browser, no real models)
test-fast: $(STAMP) sysdeps lint
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/unit $(PYTEST_ARGS)

# Debian packages the browser tests need: chromium (Playwright drives it; no browser download)
# and a CJK font, or Chinese renders as empty boxes in screenshots and charts; and the one the
# progress-store tests need: postgresql (tests/pg.py starts a throwaway server from its binaries)
sysdeps:
	@if ! command -v chromium >/dev/null 2>&1 || ! fc-list 2>/dev/null | grep -qi "noto sans cjk" \
	    || ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "installing chromium, fonts-noto-cjk and postgresql (apt-get)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-cjk postgresql >/dev/null \
	    || { echo "could not install chromium fonts-noto-cjk postgresql: run 'sudo apt-get install -y chromium fonts-noto-cjk postgresql'" >&2; exit 2; }; \
	fi

# pyflakes-level checks only (unused imports and variables, undefined names)
lint: $(STAMP)
	$(BIN)/ruff check --select F -q tutor ui tests evals benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# 16 gradio_client learners on the real app for 2 minutes (127.0.0.1); exits 1 when a bound breaks
soak: $(STAMP)
	$(BIN)/tutor ingest
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .pytest_cache

# regenerate the README's configuration table from tutor/config.py
readme: $(STAMP)
	$(BIN)/python -c "import re,pathlib; from tutor.config import settings_table as t; p=pathlib.Path('README.md'); s=p.read_text(); p.write_text(re.sub(r'(<!-- settings-table:start -->\n).*?(<!-- settings-table:end -->)', lambda m: m.group(1)+t()+'\n'+m.group(2), s, flags=re.S))"
