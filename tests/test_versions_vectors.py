"""Every published version vector, run through gate.versions.

GPL-licensed vectors (apk-tools, rpm, dpkg) are read from ../shared/data beside the checkout and never
copied; those tests skip, saying so, when that directory is absent. The others are in
tests/fixtures/versions (see its NOTICE.md).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from gate.versions import InvalidVersion, scheme_for_ecosystem, scheme_named

# ../shared beside the checkout (CI and the development machines have it); GPL data is never copied
VECTORS = next(
    (
        candidate
        for candidate in (
            Path(__file__).resolve().parents[2] / "shared" / "data" / "version-vectors",
            Path("/work/shared/data/version-vectors"),
        )
        if candidate.is_dir()
    ),
    Path(__file__).resolve().parents[2] / "shared" / "data" / "version-vectors",
)
FIXTURES = Path(__file__).parent / "fixtures" / "versions"
OPS = {"<": -1, "=": 0, ">": 1}


def shared_vector(relative: str) -> Path:
    path = VECTORS / relative
    if not path.is_file():
        pytest.skip(f"GPL vector file {path} is not present (shared data is not copied into the repo)")
    return path


def assert_order(scheme_name: str, a: str, b: str, expected: int) -> None:
    scheme = scheme_named(scheme_name)
    assert scheme is not None
    assert scheme.compare(a, b) == expected, f"{scheme_name}: {a} vs {b}"
    assert scheme.compare(b, a) == -expected, f"{scheme_name}: {b} vs {a}"
    assert (scheme.key(a) == scheme.key(b)) == (expected == 0)


# ---- apk-tools test/unit/version.data (GPL-2.0) ---------------------------------------


def apk_rows() -> list[tuple[int, str]]:
    path = shared_vector("apk/version.data")
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), 1):
        text = line.split("#", 1)[0].strip()
        if text:
            rows.append((number, text))
    return rows


def test_apk_version_data_comparisons() -> None:
    checked = refused = fuzzy = 0
    for number, row in apk_rows():
        parts = row.split()
        if len(parts) != 3:
            continue
        a, op, b = parts
        if "~" in op:
            # "~", "<~", ">~", "!~" test apk's fuzzy *dependency* operator (prefix match),
            # which is not an ordering and has no place in OSV matching.
            fuzzy += 1
            continue
        try:
            result = scheme_named("apk").compare(a, b)
        except InvalidVersion as exc:
            # Only the two rows apk itself documents as comparing invalid versions.
            assert number in (2, 3), f"line {number}: {row}: {exc}"
            refused += 1
            continue
        assert result == OPS[op], f"line {number}: {row} gave {result}"
        checked += 1
    assert (checked, refused, fuzzy) == (736, 2, 16)


def test_apk_version_data_validity() -> None:
    apk = scheme_named("apk")
    valid = invalid = 0
    for _number, row in apk_rows():
        if " " in row:
            continue
        if row.startswith("!"):
            with pytest.raises(InvalidVersion):
                apk.key(row[1:])
            invalid += 1
        else:
            apk.key(row)
            valid += 1
    assert valid > 0
    assert invalid == 25


def test_apk_refuses_what_apk_validate_refuses() -> None:
    # version.data line 2 and 3 compare strings apk_version_validate() rejects.
    for bad in ("23_foo", "1.0bc"):
        with pytest.raises(InvalidVersion, match="apk"):
            scheme_named("apk").key(bad)


# ---- rpm tests/rpmvercmp.at (GPL-2.0) ------------------------------------------------

RPMVERCMP = re.compile(r"RPMVERCMP\((.*), (.*), (-?1|0)\)")


def test_rpm_rpmvercmp_at() -> None:
    lines = shared_vector("rpm/rpmvercmp.at").read_text().splitlines()
    # "dnl" lines are commented out upstream (documented oddities), not expectations.
    rows = [RPMVERCMP.fullmatch(line.strip()) for line in lines if line.startswith("RPMVERCMP(")]
    assert rows and all(rows)
    for row in rows:
        a, b, expected = row.groups()
        assert scheme_named("rpm").compare(a, b) == int(expected), row.group(0)
    assert len(rows) == 91


# ---- dpkg scripts/t/Dpkg_Version.t __DATA__ (GPL-2.0+) -------------------------------


def test_dpkg_version_data() -> None:
    rows = [line.split() for line in shared_vector("dpkg/Dpkg_Version.data").read_text().splitlines()]
    rows = [row for row in rows if row]
    assert len(rows) == 43
    for a, b, expected in rows:
        assert_order("deb", a, b, int(expected))


# ---- node-semver test/fixtures (ISC) -------------------------------------------------


def semver_fixture(name: str) -> list:
    return json.loads((FIXTURES / "semver" / name).read_text())


def test_node_semver_comparisons() -> None:
    rows = semver_fixture("comparisons.json")
    for a, b, *_options in rows:
        assert_order("semver", a, b, 1)
    assert len(rows) == 31


def test_node_semver_equality() -> None:
    rows = semver_fixture("equality.json")
    for a, b, *_options in rows:
        assert_order("semver", a, b, 0)
    assert len(rows) == 37


def test_node_semver_valid_versions() -> None:
    from gate.versions.semver import parse

    for raw, major, minor, patch, prerelease, build in semver_fixture("valid-versions.json"):
        parsed = parse(raw)
        assert (parsed.major, parsed.minor, parsed.patch) == (major, minor, patch), raw
        assert list(parsed.prerelease) == prerelease, raw
        assert list(parsed.build) == build, raw


# ---- osv.dev packagist test cases (Apache-2.0) ---------------------------------------


def test_packagist_version_compare_cases() -> None:
    composer = scheme_for_ecosystem("Packagist")
    checked = refused = 0
    for line in (FIXTURES / "packagist" / "packagist_test_cases.txt").read_text().splitlines():
        if not line.strip() or line.startswith("//"):
            continue
        a, op, b = line.split()
        if "#" in a + b:
            # PHP's internal "#" marker is never part of a Composer version and is not an
            # order (the file has both "1.2.3.# = 1.2.3" and "1.2.3.# = 1.2.3.1"): refused.
            with pytest.raises(InvalidVersion, match="composer"):
                composer.compare(a, b)
            refused += 1
            continue
        assert composer.compare(a, b) == OPS[op], line
        checked += 1
    assert (checked, refused) == (79, 6)


# ---- apache/maven ComparableVersionTest (Apache-2.0) ---------------------------------


def maven_cases() -> dict:
    return json.loads((FIXTURES / "maven_comparable_version.json").read_text())


def test_maven_ordered_lists() -> None:
    for versions in maven_cases()["ordered_lists"]:
        for low_index, low in enumerate(versions):
            for high in versions[low_index + 1 :]:
                assert_order("maven", low, high, -1)


def test_maven_equal_versions_have_equal_keys_and_hashes() -> None:
    maven = scheme_named("maven")
    for a, b in maven_cases()["equal"]:
        assert_order("maven", a, b, 0)
        assert hash(maven.key(a)) == hash(maven.key(b)), (a, b)


def test_maven_same_order_and_strict_order() -> None:
    cases = maven_cases()
    for a, b in cases["same_order"]:
        assert_order("maven", a, b, 0)
    for a, b in cases["less"]:
        assert_order("maven", a, b, -1)
