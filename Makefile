# Quick start: `make demo` (Python 3.11) and `make test` (Python 3.11, 3.12 and 3.13: the
# Django 5.2 / 6.0 / 6.1 matrix in noxfile.py) on a fresh machine with make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# System tools the tests use: qpdf and 7z check protected attachments, chromium runs the
# browser tests, gettext compiles translations, DejaVu renders Polish letters in PDFs,
# Postfix is the real MTA of the DSN tests (tests/postfix.py starts a private instance),
# PostgreSQL runs under the background-sending worker tests (tests/pg.py), faketime moves
# the clock for the date-sensitive rerun (noxfile.py, session "clock").
TEST_APT := qpdf p7zip-full chromium fonts-dejavu-core gettext postfix postgresql faketime dovecot-imapd
# Postfix asks how to configure itself when installed: "Local only", no prompt (FACTS.md).
POSTFIX_DEBCONF := postfix postfix/main_mailer_type select Local only
DEMO_APT := fonts-dejavu-core
# `make demo DJANGO=6.1` (or 6.0) runs the demo on that Django in .venv-django6.1, with
# the Python the matrix uses for it (on PATH or in pyenv).
DJANGO ?=
PYTHON_FOR_6.0 := 3.12
PYTHON_FOR_6.1 := 3.13
# pyenv's own folder first: its shims on PATH refuse a version that is not "global".
PYENV_DIR := $(or $(PYENV_ROOT),$(HOME)/.pyenv)
find_python = $(or $(lastword $(sort $(wildcard $(PYENV_DIR)/versions/$(1).*/bin/python$(1)))),$(shell command -v python$(1)))
# `make demo BACKGROUND=1` sends in the background (the outbox and the Tasks framework's
# immediate backend: no worker to start).
BACKGROUND ?=
# The demo installs the package with its `demo` extra only (no test tools).
ifeq ($(DJANGO),)
DEMO_PY := $(PY)
DEMO_STAMP := $(VENV)/.installed-demo
else
DEMO_VENV := .venv-django$(DJANGO)
DEMO_PY := $(DEMO_VENV)/bin/python
DEMO_STAMP := $(DEMO_VENV)/.installed-demo
endif

.PHONY: demo test lint check wheel-check bench clean docs docs-check

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	touch $(STAMP)

define apt_install
	@missing=""; for p in $(1); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		echo "Installing system packages:$$missing"; \
		if [ "$$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi; \
		$$SUDO apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
endef

$(VENV)/.installed-demo: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "$(PYTHON) not found"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[demo]"
	touch $@

demo: $(DEMO_STAMP)
	$(call apt_install,$(DEMO_APT))
	cd example_project && DEMO_BACKGROUND=$(BACKGROUND) ../$(DEMO_PY) manage.py demo

.venv-django%/.installed-demo: pyproject.toml
	@[ -n "$(PYTHON_FOR_$*)" ] || { echo "DJANGO=$* is not supported: use 6.0 or 6.1"; exit 1; }
	@[ -n "$(call find_python,$(PYTHON_FOR_$*))" ] || { echo "Django $* needs Python $(PYTHON_FOR_$*): not on PATH nor in pyenv (pyenv install $(PYTHON_FOR_$*))"; exit 1; }
	$(call find_python,$(PYTHON_FOR_$*)) -m venv .venv-django$*
	.venv-django$*/bin/python -m pip install --quiet --upgrade pip
	.venv-django$*/bin/python -m pip install --quiet -e ".[demo]" "django~=$*.0"
	touch $@

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	# No block of 6 or more lines repeated inside the package (pylint's similarity checker).
	$(VENV)/bin/pylint --disable=all --enable=duplicate-code --min-similarity-lines=6 \
		--score=n symfonia_mail
	# The layers of docs/architecture.md (contracts in pyproject.toml): no import upwards.
	$(VENV)/bin/lint-imports --no-cache

.PHONY: typecheck
typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: $(STAMP)
	cd example_project && ../$(PY) manage.py check --fail-level WARNING
	cd example_project && ../$(PY) manage.py makemigrations --check --dry-run

# The documentation site (docs/, Sphinx + furo + MyST) into docs/_build/html. Warnings are
# errors: a link to a missing page or heading, or a setting without its comment in conf.py.
docs: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -b html docs docs/_build/html

docs-check: $(STAMP)
	$(VENV)/bin/sphinx-build -W --keep-going -q -b html docs docs/_build/html

wheel-check: $(STAMP)
	rm -rf dist /tmp/symfonia-mail-wheel-venv
	$(PY) -m build --wheel --no-isolation --outdir dist . >/dev/null
	$(PYTHON) -m venv /tmp/symfonia-mail-wheel-venv
	/tmp/symfonia-mail-wheel-venv/bin/pip install --quiet dist/*.whl
	cd /tmp && /tmp/symfonia-mail-wheel-venv/bin/python $(CURDIR)/tests/packaging_check.py

test: $(STAMP)
	@dpkg -s postfix >/dev/null 2>&1 || echo "$(POSTFIX_DEBCONF)" | \
		$$([ "$$(id -u)" = 0 ] || echo sudo) debconf-set-selections
	$(call apt_install,$(TEST_APT))
	$(MAKE) lint check typecheck docs-check
	$(PY) -m nox
	$(MAKE) wheel-check

bench: $(STAMP)
	$(PY) bench/bench_single.py
	$(PY) bench/bench_single.py --wal
	$(PY) bench/bench_backend.py
	$(PY) bench/bench_scale.py
	$(PY) bench/bench_admin.py
	$(PY) bench/bench_mime.py
	$(PY) bench/bench_protection.py
	$(PY) bench/bench_reminders.py
	$(PY) bench/bench_rtt.py
	$(PY) bench/bench_rtt.py --single
	$(PY) bench/bench_single.py --postgres
	$(PY) bench/bench_reports.py --reports 10000
	$(PY) bench/bench_mailbox.py --reports 10000 --others 100 --sends 50
	$(PY) bench/bench_mailapi.py

clean:
	rm -rf $(VENV) .venv-django6.0 .venv-django6.1 .nox dist docs/_build example_project/db.sqlite3 example_project/var
