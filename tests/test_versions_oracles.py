"""Differential property tests against the real tools: rpm, RubyGems, PHP and Go.

Each test runs the reference implementation itself (``rpm.vercmp`` inside ``rpm --eval``,
Ruby's ``Gem::Version#<=>``, PHP's ``version_compare``, ``golang.org/x/mod/semver`` built
with the Go toolchain) once per batch of pairs and requires gate's verdict to be the same
for every pair. A missing tool fails the test (``apt-get install rpm ruby php-cli golang-go
golang-golang-x-mod-dev``; .ci/run installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gate.versions import InvalidVersion, scheme_named

BATCH = 80
SETTINGS = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def run_tool(argv: list[str], stdin: str = "") -> str:
    assert shutil.which(argv[0]), f"{argv[0]} is required for this differential test (see .ci/run)"
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=True, timeout=120)
    assert not done.stderr.strip(), done.stderr
    return done.stdout


def pair_lines(pairs: list[tuple[str, str]]) -> str:
    return "".join(f"{a} {b}\n" for a, b in pairs)


def assert_agrees(scheme_name: str, pairs: list[tuple[str, str]], verdicts: list[int]) -> None:
    assert len(verdicts) == len(pairs)
    scheme = scheme_named(scheme_name)
    disagreements = [
        (a, b, scheme.compare(a, b), (theirs > 0) - (theirs < 0))
        for (a, b), theirs in zip(pairs, verdicts, strict=True)
        if scheme.compare(a, b) != (theirs > 0) - (theirs < 0)
    ]
    assert not disagreements, f"(a, b, gate, reference): {disagreements[:5]}"


# ---- rpm ----------------------------------------------------------------------------

_RPM_PART = st.text(alphabet="0123456789aZz.~^_+", min_size=1, max_size=7).filter(
    lambda text: any(char.isalnum() for char in text)
)


@st.composite
def rpm_evrs(draw: st.DrawFn) -> str:
    epoch = draw(st.sampled_from(["", "", "0:", "1:", "2:"]))
    version = draw(_RPM_PART)
    release = draw(st.one_of(st.just(""), _RPM_PART))
    return f"{epoch}{version}-{release}" if release else f"{epoch}{version}"


@st.composite
def rpm_pairs(draw: st.DrawFn) -> tuple[str, str]:
    # Independent versions rarely share a version part; a third of the pairs do, so the
    # release rules (present vs absent, ~ and ^ in releases) get exercised.
    first = draw(rpm_evrs())
    if draw(st.integers(0, 2)):
        return first, draw(rpm_evrs())
    version = first.rsplit("-", 1)[0] if "-" in first else first
    release = draw(st.one_of(st.just(""), _RPM_PART))
    return first, f"{version}-{release}" if release else version


def rpm_vercmp(pairs: list[tuple[str, str]]) -> list[int]:
    # Lua reads the pairs from a file, so rpm's macro expansion never sees them; rpm's
    # Lua print() output carries no newlines, hence the commas.
    with tempfile.TemporaryDirectory() as workdir:
        pairs_file = Path(workdir) / "pairs.txt"
        pairs_file.write_text(pair_lines(pairs))
        script = (
            f"%{{lua: for line in io.lines('{pairs_file}') do "
            "local a, b = line:match('^(%S+) (%S+)$'); print(rpm.vercmp(a, b) .. ',') end}"
        )
        output = run_tool(["rpm", "--eval", script])
    return [int(verdict) for verdict in output.replace("\n", "").split(",") if verdict]


@SETTINGS
@given(st.lists(rpm_pairs(), min_size=BATCH, max_size=BATCH))
def test_rpm_agrees_with_rpm_vercmp(pairs: list[tuple[str, str]]) -> None:
    assert_agrees("rpm", pairs, rpm_vercmp(pairs))


# ---- RubyGems -----------------------------------------------------------------------

_GEM_VERSION = st.from_regex(
    r"\A[0-9]{1,2}(\.([0-9]{1,2}|[0-9]?(a|b|rc|pre|beta)[0-9]?|0)){0,4}(-(rc|pre|0|1|x)(\.[0-9a-b]{1,2}){0,2})?\Z"
)
_RUBY = "STDIN.each_line { |line| a, b = line.split; puts(Gem::Version.new(a) <=> Gem::Version.new(b)) }"


@settings(SETTINGS, max_examples=6)  # each example starts Ruby (about a second)
@given(st.lists(st.tuples(_GEM_VERSION, _GEM_VERSION), min_size=BATCH, max_size=BATCH))
def test_rubygems_agrees_with_gem_version(pairs: list[tuple[str, str]]) -> None:
    verdicts = [int(line) for line in run_tool(["ruby", "-e", _RUBY], pair_lines(pairs)).split()]
    assert_agrees("rubygems", pairs, verdicts)


# ---- Packagist (PHP version_compare) ------------------------------------------------

_PHP_WORD = st.sampled_from(
    ["dev", "alpha", "a", "beta", "b", "RC", "rc", "pl", "p", "patch", "foo", "stable"]
)
_PHP_PART = st.one_of(st.integers(0, 12).map(str), _PHP_WORD)
_PHP_SEPARATOR = st.sampled_from([".", ".", "-", "_", "+", "", ".."])


@st.composite
def php_versions(draw: st.DrawFn) -> str:
    text = str(draw(st.integers(0, 12)))
    for part in draw(st.lists(_PHP_PART, max_size=5)):
        text += draw(_PHP_SEPARATOR) + part
    return text


_PHP = (
    'while (($line = fgets(STDIN)) !== false) { [$a, $b] = explode(" ", trim($line)); '
    'echo version_compare($a, $b), "\\n"; }'
)


@SETTINGS
@given(st.lists(st.tuples(php_versions(), php_versions()), min_size=BATCH, max_size=BATCH))
def test_composer_agrees_with_php_version_compare(pairs: list[tuple[str, str]]) -> None:
    verdicts = [int(line) for line in run_tool(["php", "-r", _PHP], pair_lines(pairs)).split()]
    assert_agrees("composer", pairs, verdicts)


# ---- Go (golang.org/x/mod/semver) --------------------------------------------------

_GO_ORACLE = """package main

import (
	"bufio"
	"fmt"
	"os"
	"strings"

	"golang.org/x/mod/semver"
)

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	for scanner.Scan() {
		f := strings.Fields(scanner.Text())
		if !semver.IsValid(f[0]) || !semver.IsValid(f[1]) {
			fmt.Println("invalid")
		} else {
			fmt.Println(semver.Compare(f[0], f[1]))
		}
	}
}
"""
_GO_MODULES = Path("/usr/share/gocode")  # Debian's golang-golang-x-mod-dev


@pytest.fixture(scope="module")
def go_semver(tmp_path_factory: pytest.TempPathFactory) -> Path:
    assert shutil.which("go"), "go is required for the Go differential test (see .ci/run)"
    assert (_GO_MODULES / "src/golang.org/x/mod/semver").is_dir(), "apt-get install golang-golang-x-mod-dev"
    workdir = tmp_path_factory.mktemp("go-semver")
    (workdir / "main.go").write_text(_GO_ORACLE)
    env = os.environ | {"GO111MODULE": "off", "GOPATH": str(_GO_MODULES), "GOCACHE": str(workdir / "cache")}
    subprocess.run(["go", "build", "-o", "oracle", "main.go"], cwd=workdir, env=env, check=True, timeout=300)
    return workdir / "oracle"


_GO_VERSION = st.from_regex(
    r"\Av(0|[1-9]|1[0-9]|01)(\.(0|[1-9]|00)(\.(0|[1-9]|12)"
    r"(-([0-9A-Za-z-]{1,3}|0\.20(19|20)[01][0-9]{9}-[0-9a-f]{12})(\.[0-9A-Za-z-]{1,3}){0,2})?"
    r"(\+incompatible|\+build\.1)?)?)?\Z"
)


@SETTINGS
@given(pairs=st.lists(st.tuples(_GO_VERSION, _GO_VERSION), min_size=BATCH, max_size=BATCH))
def test_go_agrees_with_x_mod_semver(go_semver: Path, pairs: list[tuple[str, str]]) -> None:
    verdicts = run_tool([str(go_semver)], pair_lines(pairs)).split()
    go = scheme_named("go")
    for (a, b), verdict in zip(pairs, verdicts, strict=True):
        if verdict == "invalid":
            with pytest.raises(InvalidVersion):
                go.compare(a, b)
        else:
            assert go.compare(a, b) == int(verdict), (a, b, verdict)
