"""Ordering tables per scheme (grype style), the ecosystem/purl registry and error messages."""

from __future__ import annotations

import pytest

from gate.errors import GateError
from gate.versions import InvalidVersion, scheme_for_ecosystem, scheme_for_purl_type, scheme_named

# (scheme, a, op, b): a op b must hold, and the reverse too.
TABLE = [
    # deb: epoch, tilde, revision, letters vs punctuation
    ("deb", "1:0.1", ">", "9.9"),
    ("deb", "1.0~rc1-1", "<", "1.0-1"),
    ("deb", "1.0~~", "<", "1.0~"),
    ("deb", "1.0", "=", "0:1.0-0"),
    ("deb", "1.0+dfsg-1", ">", "1.0-1"),
    ("deb", "2.36.1-8+deb11u1", ">", "2.36.1-8"),
    ("deb", "2.36.1-8+deb11u1", "<", "2.36.1-8+deb11u2"),
    ("deb", "1.2.3-1ubuntu0.1", ">", "1.2.3-1"),
    ("deb", "1.2.3-1ubuntu0.1", "<", "1.2.3-1ubuntu1"),
    ("deb", "7.88.1-10+deb12u5", "<", "7.88.1-10+deb12u12"),
    ("deb", "1.0a", "<", "1.0+"),
    # apk: suffixes, letters, revisions, leading zeros
    ("apk", "1.0_alpha1", "<", "1.0_beta1"),
    ("apk", "1.0_rc9", "<", "1.0"),
    ("apk", "1.0", "<", "1.0-r1"),
    ("apk", "1.0-r1", "<", "1.0_p1"),
    ("apk", "1.0_p1", "<", "1.0a"),
    ("apk", "1.0a", "<", "1.0.1"),
    ("apk", "3.1.4-r5", "<", "3.1.4-r10"),
    ("apk", "1.2.3_git20230101", ">", "1.2.3"),
    ("apk", "8.2.0015", "<", "8.2.002"),
    ("apk", "1.01", "<", "1.1"),
    ("apk", "1.0_pre1_p2", "<", "1.0_pre1_p3"),
    # rpm: epoch, tilde, caret, release
    ("rpm", "1:1.0-1", ">", "2.0-1"),
    ("rpm", "0:1.0-1", "=", "1.0-1"),
    ("rpm", "1.0~rc1-1", "<", "1.0-1"),
    ("rpm", "1.0^git1-1", ">", "1.0-1"),
    ("rpm", "1.0^git1-1", "<", "1.0.1-1"),
    ("rpm", "1.0-1.el9", "<", "1.0-1.el9_1"),
    ("rpm", "1.26.0-14.el8_3", "<", "1:1.26.0-14.el8_3"),
    ("rpm", "1.0", "<", "1.0-1"),
    ("rpm", "1.0", "<", "1.0-~1"),  # any release beats none (rpm 4.18 rpmverCmp)
    ("rpm", "1.0~1", "<", "1.0"),
    ("rpm", "2.0a", "<", "2.0.1"),
    # pep440
    ("pep440", "1.0", "=", "1.0.0"),
    ("pep440", "1.0.dev1", "<", "1.0a1"),
    ("pep440", "1.0rc1", "<", "1.0"),
    ("pep440", "1.0.post1", ">", "1.0"),
    ("pep440", "1!0.1", ">", "2.0"),
    ("pep440", "1.0+local.1", ">", "1.0"),
    ("pep440", "1.0-RC1", "=", "1.0rc1"),
    # semver (npm / crates.io)
    ("semver", "1.0.0-alpha", "<", "1.0.0-alpha.1"),
    ("semver", "1.0.0-alpha.1", "<", "1.0.0-alpha.beta"),
    ("semver", "1.0.0-beta.2", "<", "1.0.0-beta.11"),
    ("semver", "1.0.0-rc.1", "<", "1.0.0"),
    ("semver", "1.0.0+build.1", "=", "1.0.0+build.2"),
    ("semver", "v1.2.3", "=", "1.2.3"),
    ("semver", "2023.03.13", "=", "2023.3.13"),
    ("semver", "0.0.0-0", "<", "0.0.0"),
    # go: v prefix, +incompatible, pseudo-versions
    ("go", "v1.2.3", "=", "1.2.3"),
    ("go", "v2.0.0+incompatible", "=", "v2.0.0"),
    ("go", "v2.0.0+incompatible", "<", "v2.0.1"),
    ("go", "v1", "=", "v1.0.0"),
    ("go", "v1.2", "=", "v1.2.0"),
    ("go", "v0.0.0-20191109021931-daa7c04131f5", "<", "v0.0.1"),
    ("go", "v0.0.0-20191109021931-daa7c04131f5", "<", "v0.0.0-20200101000000-aaaaaaaaaaaa"),
    ("go", "v1.2.4-0.20191109021931-daa7c04131f5", ">", "v1.2.3"),
    ("go", "v1.2.4-0.20191109021931-daa7c04131f5", "<", "v1.2.4"),
    ("go", "v1.2.4-0.20191109021931-daa7c04131f5", "<", "v1.2.4-rc.1"),
    ("go", "v1.2.3-pre.0.20191109021931-daa7c04131f5", ">", "v1.2.3-pre"),
    ("go", "v1.2.3-pre.0.20191109021931-daa7c04131f5", "<", "v1.2.3"),
    ("go", "1.21.0-rc.1", "<", "1.21.0"),
    # maven
    ("maven", "1.0", "=", "1.0.RELEASE"),
    ("maven", "1.0.0.Final", "=", "1.0.0"),
    ("maven", "1.0-SNAPSHOT", "<", "1.0"),
    ("maven", "1.0-RC1", "<", "1.0"),
    ("maven", "1.0.RC1", "<", "1.0-RC2"),
    ("maven", "1.0-sp1", ">", "1.0"),
    ("maven", "2.13.4.2", ">", "2.13.4"),
    ("maven", "5.3.18", ">", "5.3.9"),
    ("maven", "1.0-alpha-1", "<", "1.0-beta-1"),
    # rubygems
    ("rubygems", "1.0", "=", "1.0.0"),
    ("rubygems", "1.0.a", "<", "1.0"),
    ("rubygems", "1.0.0.rc1", "<", "1.0.0"),
    ("rubygems", "1.0.0-rc1", "=", "1.0.0.pre.rc1"),
    ("rubygems", "1.0.b1", ">", "1.0.a2"),
    ("rubygems", "1.a.0.b", "<", "1.a"),
    ("rubygems", "7.0.4.3", ">", "7.0.4"),
    ("rubygems", "2", ">", "1.9.9"),
    # composer (PHP version_compare)
    ("composer", "1.0.0-dev", "<", "1.0.0-alpha"),
    ("composer", "1.0.0-beta2", "<", "1.0.0-RC1"),
    ("composer", "1.0.0-RC1", "<", "1.0.0"),
    ("composer", "1.0.0", "<", "1.0.0-pl1"),
    ("composer", "v1.2.3", "=", "1.2.3"),
    ("composer", "1.0", "<", "1.0.0"),
    ("composer", "5.4.10", ">", "5.4.9"),
    # nuget
    ("nuget", "1.0", "=", "1.0.0.0"),
    ("nuget", "1.0.0.1", ">", "1.0.0"),
    ("nuget", "1.0.0-beta", "=", "1.0.0-BETA"),
    ("nuget", "1.0.0-beta.2", "<", "1.0.0-beta.10"),
    ("nuget", "1.0.0-2", "<", "1.0.0-alpha"),
    ("nuget", "1.0.0-rc.1", "<", "1.0.0"),
    ("nuget", "1.0.0+meta", "=", "1.0.0"),
    ("nuget", "6.0.0-preview.7.21377.19", "<", "6.0.0-rc.1.21451.13"),
]


@pytest.mark.parametrize(("scheme_name", "a", "op", "b"), TABLE)
def test_ordering_table(scheme_name: str, a: str, op: str, b: str) -> None:
    scheme = scheme_named(scheme_name)
    expected = {"<": -1, "=": 0, ">": 1}[op]
    assert scheme.compare(a, b) == expected
    assert scheme.compare(b, a) == -expected
    key_a, key_b = scheme.key(a), scheme.key(b)
    assert (key_a < key_b, key_a == key_b, key_a > key_b) == (expected < 0, expected == 0, expected > 0)
    if expected == 0:
        assert hash(key_a) == hash(key_b)


def test_sorting_with_keys() -> None:
    deb = scheme_named("deb")
    versions = ["1.0-1", "1:0.9", "1.0~rc1-1", "1.0-1+deb12u1", "0.9-3"]
    assert sorted(versions, key=deb.key) == ["0.9-3", "1.0~rc1-1", "1.0-1", "1.0-1+deb12u1", "1:0.9"]


ECOSYSTEMS = [
    ("Debian", "deb"),
    ("Debian:12", "deb"),
    ("Ubuntu:22.04:LTS", "deb"),
    ("Ubuntu:Pro:18.04:LTS", "deb"),
    ("Alpine:v3.19", "apk"),
    ("Wolfi", "apk"),
    ("Chainguard", "apk"),
    ("AlmaLinux:9", "rpm"),
    ("Rocky Linux:8", "rpm"),
    ("Red Hat:enterprise_linux:9::appstream", "rpm"),
    ("SUSE:Linux Enterprise Server 15 SP5", "rpm"),
    ("openSUSE:Leap 15.5", "rpm"),
    ("PyPI", "pep440"),
    ("npm", "semver"),
    ("crates.io", "semver"),
    ("Bitnami", "semver"),
    ("Go", "go"),
    ("Maven", "maven"),
    ("RubyGems", "rubygems"),
    ("Packagist", "composer"),
    ("NuGet", "nuget"),
]


@pytest.mark.parametrize(("ecosystem", "name"), ECOSYSTEMS)
def test_scheme_for_ecosystem(ecosystem: str, name: str) -> None:
    scheme = scheme_for_ecosystem(ecosystem)
    assert scheme is not None
    assert scheme.name == name


@pytest.mark.parametrize("ecosystem", ["", "Hackage", "GIT", "Debianish", "Linux", "OSS-Fuzz"])
def test_unknown_ecosystem_has_no_scheme(ecosystem: str) -> None:
    assert scheme_for_ecosystem(ecosystem) is None


@pytest.mark.parametrize(
    ("purl_type", "name"),
    [
        ("deb", "deb"),
        ("apk", "apk"),
        ("rpm", "rpm"),
        ("pypi", "pep440"),
        ("npm", "semver"),
        ("cargo", "semver"),
        ("golang", "go"),
        ("maven", "maven"),
        ("gem", "rubygems"),
        ("composer", "composer"),
        ("nuget", "nuget"),
    ],
)
def test_scheme_for_purl_type(purl_type: str, name: str) -> None:
    assert scheme_for_purl_type(purl_type).name == name


def test_unknown_purl_type_has_no_scheme() -> None:
    assert scheme_for_purl_type("generic") is None
    assert scheme_for_purl_type("github") is None


INVALID = [
    ("deb", ""),
    ("deb", "a1.0"),
    ("deb", "x:1.0"),
    ("deb", "1.0-"),
    ("deb", "1.0 1"),
    ("deb", "1.0-re/v"),
    ("apk", "1.0bc"),
    ("apk", "1.0_foo"),
    ("apk", "v1.0"),
    ("apk", "1.0-r1-r2"),
    ("rpm", ""),
    ("rpm", "a:1.0"),
    ("rpm", "1.0-"),
    ("rpm", "1.0\n-1"),
    ("pep440", "not-a-version"),
    ("pep440", "1.0\nfoo"),
    ("semver", "1.2"),
    ("semver", "1.2.3.4"),
    ("semver", "nightly.2026-03-10.0"),
    ("go", "01.2.3"),
    ("go", "v1.2.3-01"),
    ("go", "1.2.3.4"),
    ("maven", ""),
    ("maven", "1.0 beta"),
    ("rubygems", "1.0..0"),
    ("rubygems", "a1.0"),
    ("composer", ""),
    ("composer", "1.0.#"),
    ("nuget", "1.0.0.0.0"),
    ("nuget", "beta"),
]


@pytest.mark.parametrize(("scheme_name", "version"), INVALID)
def test_invalid_version_is_a_one_line_gate_error(scheme_name: str, version: str) -> None:
    scheme = scheme_named(scheme_name)
    with pytest.raises(InvalidVersion) as caught:
        scheme.key(version)
    error = caught.value
    assert isinstance(error, GateError)
    assert isinstance(error, ValueError)
    message = error.diagnostics()
    assert "\n" not in message
    assert scheme_name in message
    assert repr(version) in message
    assert (error.scheme, error.version) == (scheme_name, version)
    with pytest.raises(InvalidVersion):
        scheme.compare(version, "1.0.0")


@pytest.mark.parametrize(
    "scheme_name", ["deb", "apk", "rpm", "pep440", "semver", "go", "maven", "rubygems", "composer", "nuget"]
)
def test_non_string_is_invalid(scheme_name: str) -> None:
    with pytest.raises(InvalidVersion, match=scheme_name):
        scheme_named(scheme_name).key(None)  # type: ignore[arg-type]  # the wrong type on purpose
