"""Differential property tests: gate.versions against the reference implementations.

``dpkg --compare-versions`` (the real dpkg binary; missing dpkg fails the test) judges
Debian versions; ``packaging.version.Version`` judges PEP 440 ones. Hypothesis builds
versions from the characters that make the rules interesting (``~``, ``+``, ``.``,
letters, digit runs with leading zeros, epochs, revisions).
"""

from __future__ import annotations

import shutil
import subprocess
from functools import cmp_to_key

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from packaging.version import InvalidVersion as PackagingInvalidVersion
from packaging.version import Version

from gate.versions import InvalidVersion, scheme_named

# ---- Debian against dpkg ------------------------------------------------------------

_DEB_UPSTREAM_TAIL = st.text(alphabet="0123456789aAzZ.+~", max_size=8)
_DEB_REVISION = st.text(alphabet="0123456789abZ.+~", min_size=1, max_size=6)


@st.composite
def debian_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "0:", "1:", "2:", "10:"]))
    upstream = draw(st.sampled_from("0123456789")) + draw(_DEB_UPSTREAM_TAIL)
    revision = draw(st.one_of(st.just(""), _DEB_REVISION))
    if revision and draw(st.booleans()):
        upstream += "-" + draw(st.sampled_from("0123456789")) + draw(_DEB_UPSTREAM_TAIL)
    return f"{epoch}{upstream}-{revision}" if revision else f"{epoch}{upstream}"


# One shell runs many comparisons: a process per example would make the test crawl.
_DPKG_LOOP = r"""
while read -r a b; do
    if dpkg --compare-versions "$a" lt "$b"; then echo -1
    elif dpkg --compare-versions "$a" eq "$b"; then echo 0
    else echo 1; fi
done
"""


def dpkg_compare_all(pairs: list[tuple[str, str]]) -> list[int]:
    assert shutil.which("dpkg"), "dpkg is required for the Debian differential test (apt-get install dpkg)"
    lines = "".join(f"{a} {b}\n" for a, b in pairs)
    done = subprocess.run(
        ["sh", "-c", _DPKG_LOOP], input=lines, capture_output=True, text=True, check=True, timeout=120
    )
    assert not done.stderr, done.stderr
    return [int(line) for line in done.stdout.split()]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(debian_versions(), debian_versions()), min_size=40, max_size=40))
def test_deb_agrees_with_dpkg(pairs: list[tuple[str, str]]) -> None:
    deb = scheme_named("deb")
    ours = [deb.compare(a, b) for a, b in pairs]
    assert ours == dpkg_compare_all(pairs)


@settings(max_examples=5, deadline=None)
@given(st.lists(debian_versions(), min_size=8, max_size=8, unique=True))
def test_deb_sort_order_agrees_with_dpkg(versions: list[str]) -> None:
    # Sorting by key and sorting by dpkg's pairwise verdicts give the same order.
    deb = scheme_named("deb")
    pairs = [(a, b) for a in versions for b in versions]
    verdict = dict(zip(pairs, dpkg_compare_all(pairs), strict=True))
    by_dpkg = sorted(versions, key=cmp_to_key(lambda a, b: verdict[(a, b)]))
    by_key = sorted(versions, key=deb.key)
    assert [deb.key(v) for v in by_key] == [deb.key(v) for v in by_dpkg]


# ---- PEP 440 against packaging ------------------------------------------------------


@st.composite
def pep440_versions(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "1!", "0!"]))
    release = ".".join(str(n) for n in draw(st.lists(st.integers(0, 12), min_size=1, max_size=4)))
    pre = draw(st.sampled_from(["", "a", "b", "rc", "c", "alpha", "beta", "pre", "preview", "-RC", ".a"]))
    if pre:
        pre += draw(st.sampled_from(["", "0", "1", "2", "10"]))
    post = draw(st.sampled_from(["", ".post1", "-1", ".post0", "post2", "-r3", ".rev4"]))
    dev = draw(st.sampled_from(["", ".dev0", ".dev1", "dev", "-dev2"]))
    local = draw(st.sampled_from(["", "+local", "+1", "+ubuntu.1", "+abc.2"]))
    prefix = draw(st.sampled_from(["", "v", "V", " "]))
    return f"{prefix}{epoch}{release}{pre}{post}{dev}{local}"


def packaging_verdict(a: str, b: str) -> int:
    left, right = Version(a), Version(b)
    return (left > right) - (left < right)


@settings(max_examples=250, deadline=None)
@given(pep440_versions(), pep440_versions())
def test_pep440_agrees_with_packaging(a: str, b: str) -> None:
    pep440 = scheme_named("pep440")
    assert pep440.compare(a, b) == packaging_verdict(a, b)
    assert (pep440.key(a) == pep440.key(b)) == (Version(a) == Version(b))


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789.abcdeprstv!+-_ ", max_size=12))
def test_pep440_refuses_exactly_what_packaging_refuses(text: str) -> None:
    try:
        Version(text)
        packaging_accepts = True
    except PackagingInvalidVersion:
        packaging_accepts = False
    try:
        scheme_named("pep440").key(text)
        accepted = True
    except InvalidVersion as error:
        assert "\n" not in error.diagnostics()
        accepted = False
    assert accepted == packaging_accepts


# ---- properties every scheme must have -----------------------------------------------

_SAMPLES = {
    "deb": debian_versions(),
    "pep440": pep440_versions(),
    "semver": st.from_regex(
        r"\A(0|[1-9][0-9]?)\.(0|[1-9])\.(0|[1-9])(-(alpha|beta|rc|[0-9]{1,2})(\.(0|[1-9]|x))?)?\Z"
    ),
    "go": st.from_regex(
        r"\Av(0|[1-9])\.(0|[1-9])\.(0|[1-9])(-(0\.2019[01][0-9]{9}-[0-9a-f]{12}|rc\.[0-9]))?\Z"
    ),
    "rpm": st.from_regex(r"\A([0-3]:)?[0-9][0-9a-z.~^]{0,6}(-[0-9a-z.~^_]{1,5})?\Z"),
    "apk": st.from_regex(
        r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,2}[a-c]?(_(alpha|beta|pre|rc|p|git)[0-9]?)?(-r[0-9]{1,2})?\Z"
    ),
    # Not "ga1"/"final1": Maven itself orders those inconsistently (see gate/versions/maven.py).
    "maven": st.from_regex(
        r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,2}([.-](alpha|beta|rc|sp|snapshot|x)[0-9]?|[.-](final|ga))?\Z"
    ),
    "rubygems": st.from_regex(r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,3}(\.(a|b|rc|pre)[0-9]?)?(\.[0-9])?\Z"),
    "composer": st.from_regex(r"\Av?[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-(dev|alpha|beta|RC|pl|p|patch)[0-9]?)?\Z"),
    "nuget": st.from_regex(r"\A[0-9]{1,2}(\.[0-9]{1,2}){0,3}(-(alpha|Beta|rc|[0-9])(\.[0-9a-z]{1,2})?)?\Z"),
}


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_every_scheme_orders_totally_and_consistently(data: st.DataObject) -> None:
    for name, strategy in _SAMPLES.items():
        scheme = scheme_named(name)
        a, b, c = (data.draw(strategy, label=f"{name} {label}") for label in "abc")
        ab, ba = scheme.compare(a, b), scheme.compare(b, a)
        assert ab == -ba, (name, a, b)
        assert scheme.compare(a, a) == 0
        if ab <= 0 and scheme.compare(b, c) <= 0:
            assert scheme.compare(a, c) <= 0, (name, a, b, c)
        if ab == 0:
            assert hash(scheme.key(a)) == hash(scheme.key(b)), (name, a, b)
