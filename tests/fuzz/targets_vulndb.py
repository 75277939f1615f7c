"""Vulnerability data: OSV records (JSON and YAML) as ``gate db import`` prepares them."""

from __future__ import annotations

from gate.vulndb.importer import prepare_batch
from gate.vulndb.sources import RawFile
from tests.fuzz.runner import fixture_files, target


@target(
    "osv-json", fixture_files("osv/*/*.json", "osv-ghsa/*.json", "osv-ubuntu/*.json", "osv-almalinux/*.json")
)
def osv_json(data: bytes) -> object:
    return prepare_batch([RawFile("record.json", data)])


@target("osv-yaml", fixture_files("osv/*/*.yaml", "osv/*/*.yml"))
def osv_yaml(data: bytes) -> object:
    return prepare_batch([RawFile("record.yaml", data)])
