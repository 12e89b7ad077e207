# Quick start: `make demo` and `make test` on a fresh machine with Python 3.11 and make.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# System tools the tests use: qpdf and 7z check protected attachments, chromium runs the
# browser tests, gettext compiles translations, DejaVu renders Polish letters in PDFs,
# Postfix is the real MTA of the DSN tests (tests/postfix.py starts a private instance),
# PostgreSQL runs under the background-sending worker tests (tests/pg.py).
TEST_APT := qpdf p7zip-full chromium fonts-dejavu-core gettext postfix postgresql
# Postfix asks how to configure itself when installed: "Local only", no prompt (FACTS.md).
POSTFIX_DEBCONF := postfix postfix/main_mailer_type select Local only
DEMO_APT := fonts-dejavu-core

.PHONY: demo test lint check wheel-check bench clean

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

demo: $(STAMP)
	$(call apt_install,$(DEMO_APT))
	cd example_project && ../$(PY) manage.py demo

lint: $(STAMP)
	$(VENV)/bin/ruff check .

.PHONY: typecheck
typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: $(STAMP)
	cd example_project && ../$(PY) manage.py check --fail-level WARNING
	cd example_project && ../$(PY) manage.py makemigrations --check --dry-run

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
	$(MAKE) lint check typecheck
	$(PY) -m pytest
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

clean:
	rm -rf $(VENV) dist example_project/db.sqlite3 example_project/var
