# The two commands of the README: `make demo` and `make test`. Everything else is a building block.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: venv system demo test release clean

# The instructor environment: pinned requirements plus the hidden package `course` (editable).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP)

# Debian packages the tools and tests drive (system-packages.txt), installed when missing.
system:
	scripts/install-system-packages

test: venv system
	$(BIN)/python -m pytest

release: venv
	$(BIN)/course release

clean:
	rm -rf autograded feedback submitted downloaded gradebook.db grades.csv reports

demo: venv system
	$(BIN)/course demo
