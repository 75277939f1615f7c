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

demo: $(STAMP)
	rm -rf demo-out
	$(BIN)/python -m gate.sample demo-out/sample
	$(BIN)/gate inspect oci:demo-out/sample:demo
	$(BIN)/gate tree oci:demo-out/sample:demo
	$(BIN)/gate sbom oci:demo-out/sample:demo
	SOURCE_DATE_EPOCH=0 $(BIN)/gate sbom oci:demo-out/sample:demo --format cyclonedx-json --output demo-out/sbom.cdx.json
	SOURCE_DATE_EPOCH=0 $(BIN)/gate sbom oci:demo-out/sample:demo --format spdx-json --output demo-out/sbom.spdx.json
	@echo "SBOMs written to demo-out/sbom.cdx.json and demo-out/sbom.spdx.json"

test: $(STAMP)
	$(BIN)/ruff check gate tests benchmarks
	$(BIN)/pytest $(if $(TESTS),-k '$(TESTS)',)

lint: $(STAMP)
	$(BIN)/ruff check gate tests benchmarks

bench: $(STAMP)
	$(BIN)/python benchmarks/layered_fs.py

clean:
	rm -rf $(VENV) demo-out .pytest_cache
