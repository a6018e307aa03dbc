# Switchboard. On a fresh machine only Python 3.11+ is needed: `make run`, `make test`.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TRANSLATIONS := app/translations

# Compiled catalogs (.mo) are not committed; build them whenever .po files exist.
COMPILE_TRANSLATIONS = if ls $(TRANSLATIONS)/*/LC_MESSAGES/*.po >/dev/null 2>&1; then \
	$(BIN)/pybabel -q compile -f -d $(TRANSLATIONS); fi

.PHONY: venv run test bench translations clean migration

venv: $(STAMP)

# Re-install only when a requirements file is newer than the last install.
# A .venv that cannot run (e.g. made by a Python since removed) is rebuilt.
$(STAMP): requirements.txt requirements-dev.txt
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { \
		echo "Switchboard needs Python 3.11 or newer; $(PYTHON) is $$($(PYTHON) -V 2>&1)." >&2; \
		echo "Point make at another one, e.g.: make PYTHON=python3.12 run" >&2; exit 1; }
	@$(BIN)/python -c '' 2>/dev/null || $(PYTHON) -m venv --clear $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --progress-bar off -r requirements-dev.txt
	@touch $@

run: venv
	$(BIN)/python scripts/run.py

test: venv
	@$(COMPILE_TRANSLATIONS)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

bench: venv
	$(BIN)/python bench/run.py

# Refresh the catalogs after changing user-facing strings. A new language:
#   .venv/bin/pybabel init -i app/translations/messages.pot -d app/translations -l LANG
translations: venv
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS)

# Removes what the build and the tests generate. instance/ is kept: it holds the
# database, the uploads and the secret key.
clean:
	rm -rf $(VENV) .pytest_cache test-artifacts
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -prune -exec rm -rf {} +
	find $(TRANSLATIONS) -name '*.mo' -delete 2>/dev/null || true

# A new migration after changing the models: make migration m="add chat priority"
migration: venv
	$(BIN)/flask --app app:create_cli_app db migrate -m "$(m)"
