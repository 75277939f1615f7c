# Two commands on a fresh machine: `make demo` and `make test`. Each bootstraps .venv.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

# The pipeline so far on the built-in sample image, with embedded defaults only: an OCI layout,
# a local SQLite vulnerability database from the sample's advisory, and a freshly generated key.
DEMO_IMAGE := oci:demo-out/sample:demo
DEMO_ENV := GATE_PASSWORD=demo-only-password SOURCE_DATE_EPOCH=0 GATE_DB=demo-out/vulns.db

demo: $(STAMP)
	rm -rf demo-out
	$(BIN)/python -m gate.sample demo-out/sample
	$(BIN)/gate inspect $(DEMO_IMAGE)
	$(DEMO_ENV) $(BIN)/gate sbom $(DEMO_IMAGE)
	$(DEMO_ENV) $(BIN)/gate sbom $(DEMO_IMAGE) --format cyclonedx-json --output demo-out/sbom.cdx.json
	$(DEMO_ENV) $(BIN)/gate sbom $(DEMO_IMAGE) --format spdx-json --output demo-out/sbom.spdx.json
	$(DEMO_ENV) $(BIN)/gate db import "$$($(BIN)/python -m gate.sample --advisories)"
	$(DEMO_ENV) $(BIN)/gate scan $(DEMO_IMAGE)
	$(DEMO_ENV) $(BIN)/gate secrets $(DEMO_IMAGE)
	$(DEMO_ENV) $(BIN)/gate config-check $(DEMO_IMAGE)
	$(DEMO_ENV) $(BIN)/gate keygen --output-prefix demo-out/demo
	$(DEMO_ENV) $(BIN)/gate attest $(DEMO_IMAGE) --identity gate/sample --key demo-out/demo.key \
		--type cyclonedx --predicate demo-out/sbom.cdx.json
	$(DEMO_ENV) $(BIN)/gate sign $(DEMO_IMAGE) --identity gate/sample --key demo-out/demo.key
	$(BIN)/gate verify $(DEMO_IMAGE) --key demo-out/demo.pub --require sbom
	$(BIN)/gate tree $(DEMO_IMAGE)

test: $(STAMP)
	$(BIN)/ruff check gate tests benchmarks
	$(BIN)/mypy
	$(BIN)/pytest $(if $(TESTS),-k '$(TESTS)',)

lint: $(STAMP)
	$(BIN)/ruff check gate tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python benchmarks/layered_fs.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
