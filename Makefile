# The two commands of the README: `make demo` and `make test`. Everything else is a building block.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: venv demo test release clean

# The instructor environment: pinned requirements plus the hidden package `course` (editable).
$(STAMP): requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -r requirements.txt
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $@

venv: $(STAMP)

test: venv
	$(BIN)/python -m pytest

clean:
	rm -rf autograded feedback submitted gradebook.db grades.csv reports
