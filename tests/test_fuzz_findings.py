"""What the fuzzers found (tests/fuzz/), each input built here by hand; the exact crashing
inputs are replayed from tests/fuzz/regressions/ by tests/test_fuzz.py."""

from __future__ import annotations

import io
import zipfile

import pytest

from gate.catalog import java, npm
from gate.vulndb.importer import prepare_batch
from gate.vulndb.osv import InvalidRecord, parse_record
from gate.vulndb.sources import RawFile
from tests.fuzz.runner import REGRESSIONS


def test_jar_with_a_nameless_member_is_read() -> None:
    # zipfile cannot write an entry without a name, so this is the fuzzer's input itself
    data = (REGRESSIONS / "jar" / "empty-member-name").read_bytes()
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert "" in archive.namelist()  # zipfile's is_dir() indexes filename[-1]: IndexError
    assert java.archive_coordinates(data, "/app.jar", 0, java.Budget()) is not None


@pytest.mark.parametrize("stamp", ["2024-13-01T00:00:00Z", "2024-01-01T00:00:61Z", "2024-02-30T00:00:00Z"])
def test_osv_timestamp_shaped_but_impossible_is_an_invalid_record(stamp: str) -> None:
    record = {"id": "X-1", "modified": stamp}
    with pytest.raises(InvalidRecord, match="modified is not a valid timestamp"):
        parse_record(record)
    [rejected] = prepare_batch([RawFile("x.json", f'{{"id":"X-1","modified":"{stamp}"}}'.encode())])
    assert isinstance(rejected, tuple)  # (origin, reason): skipped with a reason, not a crash
    assert rejected[0] == "x.json" and "not a valid timestamp" in rejected[1]


@pytest.mark.parametrize("name", ["pnpm-lock.yaml", "yarn.lock"])
def test_lockfile_that_is_not_yaml_is_a_damaged_file_not_a_yaml_error(name: str) -> None:
    text = "packages:\n  a: b: c\n" if name == "pnpm-lock.yaml" else '"a@npm:1": {x: [\n'
    with pytest.raises(ValueError, match="is not valid YAML") as caught:
        list(npm.pnpm_packages(text) if name == "pnpm-lock.yaml" else npm.yarn_berry_packages(text))
    assert type(caught.value) is ValueError  # not a yaml.YAMLError


def test_osv_range_whose_type_is_a_list_is_an_invalid_record() -> None:
    record = {
        "id": "X-2",
        "modified": "2024-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "x"}, "ranges": [{"type": ["ECOSYSTEM"]}]}],
    }
    with pytest.raises(InvalidRecord, match="unknown type"):
        parse_record(record)
