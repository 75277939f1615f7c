"""The cataloger runner: routing, and that one broken parser never loses the whole catalog."""

from __future__ import annotations

from pathlib import Path

import pytest

from gate.catalog import Cataloger, catalog_filesystem
from gate.catalog.licenses import normalize_license
from gate.image.rootfs import DirFileSystem
from gate.model import Package


def _broken(fs: object, context: object, entry: object) -> list[Package]:
    raise AttributeError("'ExpressionError' object has no attribute 'token_string'")


def test_a_crashing_parser_becomes_an_unknown_and_others_still_run(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "os-release").write_text('ID=debian\nVERSION_ID="12"\n')
    (tmp_path / "var" / "lib" / "dpkg").mkdir(parents=True)
    (tmp_path / "var" / "lib" / "dpkg" / "status").write_text(
        "Package: bash\nStatus: install ok installed\nArchitecture: amd64\nVersion: 5.2.15-2+b2\n"
    )
    from gate.catalog import dpkg

    broken = Cataloger("broken-cataloger", ("etc/os-release",), _broken)
    result = catalog_filesystem(DirFileSystem(tmp_path), catalogers=[broken, *dpkg.CATALOGERS])
    assert [p.name for p in result.packages] == ["bash"]
    assert [(u.path, u.found_by) for u in result.unknowns] == [("/etc/os-release", "broken-cataloger")]
    assert "token_string" in result.unknowns[0].reason


def test_dep5_and_or_becomes_spdx_or() -> None:
    # findutils' copyright file in Debian 12 says exactly this
    assert normalize_license("BSD-3-clause and/or GPL-3+") == "BSD-3-Clause OR GPL-3.0-or-later"
    assert normalize_license("ISC and/or LGPL-2.1+") == "ISC OR LGPL-2.1-or-later"


def test_an_oversized_database_is_an_unknown_not_a_silent_truncation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from gate.catalog import dpkg

    status = tmp_path / "var" / "lib" / "dpkg" / "status"
    status.parent.mkdir(parents=True)
    stanza = "Package: p{}\nStatus: install ok installed\nArchitecture: all\nVersion: 1\n\n"
    status.write_text("".join(stanza.format(i) for i in range(100)))
    monkeypatch.setattr(dpkg, "MAX_STATUS_FILE", 1000)
    result = catalog_filesystem(DirFileSystem(tmp_path), catalogers=dpkg.CATALOGERS)
    assert result.packages == ()
    assert len(result.unknowns) == 1
    assert "over the 1000 byte limit; not read" in result.unknowns[0].reason
