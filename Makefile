# The two commands in the README: `make run` (main job) and `make test` (test suite).
.PHONY: run test bench lint lab setup setup-test

setup:
	@bash scripts/bootstrap.sh

setup-test:
	@bash scripts/bootstrap.sh --test

run: setup
	.venv/bin/f1live run $(ARGS)

test: setup-test
	.venv/bin/python -m pytest --durations=25 $(PYTEST_ARGS)

lab: setup
	.venv/bin/jupyter lab --notebook-dir=notebooks $$([ "$$(id -u)" = 0 ] && echo --allow-root) $(ARGS)

bench: setup-test
	.venv/bin/python bench/run_all.py

lint: setup-test
	.venv/bin/ruff check f1live tests bench scripts
	.venv/bin/ruff format --check f1live tests bench scripts
	.venv/bin/mypy
