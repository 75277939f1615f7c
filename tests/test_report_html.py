"""report.html in a real browser: headless Chromium (Debian's) loads the page from a real run
over an image with hostile names. It must load without console errors or security-policy
reports, ask for nothing but itself, show the verdict, run no markup from package names, paths
or advisories, and its package search must filter the table.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.report.files import HTML_FILE
from tests.browser import load_page
from tests.report_image import (
    HOSTILE_DIR,
    HOSTILE_NPM,
    HOSTILE_SUMMARY,
    HostileRun,
    hostile_run,
)

ROWS = 'Array.from(document.querySelectorAll("#packages-0 tbody tr"))'
SEARCH = (
    '(() => { const box = document.querySelector("input.search"); box.value = %s;'
    ' box.dispatchEvent(new Event("input")); return '
    + ROWS
    + ".filter(r => !r.hidden).map(r => r.cells[0].textContent); })()"
)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> HostileRun:
    return hostile_run(tmp_path_factory.mktemp("html"))


def test_the_page_loads_clean_shows_the_verdict_and_runs_nothing_injected(hostile: HostileRun) -> None:
    page = hostile.reports / HTML_FILE
    visit = load_page(
        page,
        [
            'document.getElementById("verdict").textContent',
            "typeof window.pwned",
            'document.querySelectorAll("img, svg, iframe, object, embed, script").length',
            "document.body.innerText",
        ],
    )
    assert visit.problems == []
    assert visit.requests == [page.resolve().as_uri()]
    values = list(visit.values.values())
    assert values[0] == "FAIL"
    assert values[1] == "undefined"  # no injected script or handler ran
    assert values[2] == 1  # only the page's own search script
    text = values[3]
    for hostile_text in (HOSTILE_NPM, f"/{HOSTILE_DIR}/settings.py"):
        assert hostile_text in text  # shown as text, literally
    assert HOSTILE_SUMMARY.split("\r")[0] in text
    assert hostile.secret not in text
    for section in (
        "Findings by severity",
        "By layer",
        "Secrets (1)",
        "Configuration (4)",
        "Blocking findings",
    ):
        assert section in text


def test_layers_are_attributed_to_the_base_image_or_the_image_itself(hostile: HostileRun) -> None:
    rows = 'Array.from(document.querySelectorAll("h3")).find(h => h.textContent.startsWith("By layer"))'
    table = rows + ".nextElementSibling"
    visit = load_page(
        hostile.reports / HTML_FILE,
        [f"Array.from({table}.tBodies[0].rows).map(r => [r.cells[0].textContent, r.cells[1].textContent])"],
    )
    assert visit.values.popitem()[1] == [["0", "base image"], ["1", "own"]]


def test_the_package_search_filters_the_sbom_table(hostile: HostileRun) -> None:
    visit = load_page(
        hostile.reports / HTML_FILE,
        [
            f"{ROWS}.length",
            SEARCH % '"zlib"',
            'document.getElementById("packages-0-shown").textContent',
            SEARCH % '"<IMG"',  # case-insensitive, and markup is just text to search
            SEARCH % '""',
        ],
    )
    assert visit.problems == []
    total, zlib, shown, hostile_hit, everything = visit.values.values()
    assert total == 3
    assert zlib == ["zlib1g"] and shown == "1"
    assert hostile_hit == [HOSTILE_NPM]
    assert len(everything) == 3


def test_the_harness_sees_script_errors_and_outside_requests(tmp_path: Path) -> None:
    """The browser checks above would pass a page that failed silently if the harness were blind."""
    page = tmp_path / "broken.html"
    page.write_text(
        '<html><body><script>missingFunction();</script><img src="http://127.0.0.1:9/x.png"></body></html>'
    )
    visit = load_page(page, ["1 + 1"])
    assert any("missingFunction" in problem for problem in visit.problems)
    assert "http://127.0.0.1:9/x.png" in visit.requests
