.PHONY: demo test
# Quick start: `make demo` runs the app on SQLite with demo data; `make test` runs the tests.
demo:
	scripts/demo.sh
test:
	scripts/test.sh
