# The two commands a new user needs: `make run` and `make test`.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed
PORT    ?= 7860

.PHONY: run test test-fast install sysdeps ingest bench soak lint clean readme

# llama-cpp-python builds from source, by default for the building CPU (-march=native). On a
# CPU with AMX (Xeon Sapphire Rapids) that build segfaults in its first decode (0.3.36, gdb:
# ggml_backend_amx_mul_mat), so we build for AVX2 + FMA: any x86-64 from ~2015 on, same wheel
# on every machine. The wheel is kept in LLAMA_WHEELS (not pip's cache, which may hold a
# native build of the same version). A GPU build: LLAMA_CMAKE="-DGGML_CUDA=on" make install.
LLAMA_CMAKE  ?= -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON
LLAMA_WHEELS ?= $(HOME)/.cache/tutor/wheels/$(shell echo "$(LLAMA_CMAKE)" | cksum | cut -d' ' -f1)
LLAMA_REQ    := llama-cpp-python>=0.3.8,<0.4

$(STAMP): pyproject.toml Makefile
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	# CPU build of torch first (an unpinned torch would pull a multi-GB CUDA build)
	$(BIN)/pip install -q torch==2.13.0
	# llama-cpp-python from source once (~4 min on 2 cores), then from LLAMA_WHEELS
	mkdir -p $(LLAMA_WHEELS)
	CMAKE_ARGS="$(LLAMA_CMAKE)" $(BIN)/pip wheel -q --no-cache-dir --no-deps --find-links $(LLAMA_WHEELS) -w $(LLAMA_WHEELS) "$(LLAMA_REQ)"
	$(BIN)/pip install -q --force-reinstall --no-deps --no-index --find-links $(LLAMA_WHEELS) "$(LLAMA_REQ)"
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
	$(BIN)/python -m pytest -q -p no:cacheprovider -n auto --dist loadfile --no-loadscope-reorder $(PYTEST_ARGS)

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
