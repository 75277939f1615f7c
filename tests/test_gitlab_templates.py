"""gitlab-templates/: GitLab's schema accepts them, and the job script does what the reports need.

No GitLab runner exists here (gitlab-ci-local is not used yet), so the job is run the way the shell
executor runs it: the rendered component's ``script:`` lines in one ``bash -eo pipefail`` with
the job's ``variables:`` and ``CI_PROJECT_DIR``; gate is pip-installed from this checkout into a
fresh venv (``GATE_PACKAGE``), the database is the sample's advisory (``GATE_DB_UPDATE=false``)
and the image is the built-in sample (an OCI layout). Every file ``artifacts:reports`` names must
then exist: a failing run is when people read them most.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from gate.sample import ADVISORIES
from tests.github_runner import clean_env

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "gitlab-templates" / "templates" / "gate.yml"
CLASSIC = ROOT / "gitlab-templates" / "gate.gitlab-ci.yml"
EXAMPLE = ROOT / "examples" / "gitlab-ci.yml"
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.timeout(900)]


def check_jsonschema(*files: Path) -> subprocess.CompletedProcess[str]:
    command = shutil.which("check-jsonschema", path=str(BIN)) or shutil.which("check-jsonschema")
    if command is None:
        pytest.fail("check-jsonschema is not installed: pip install -e '.[test]' (this test never skips)")
    return subprocess.run(
        [command, "--builtin-schema", "vendor.gitlab-ci", *map(str, files)], capture_output=True, text=True
    )


def render(inputs: dict[str, str]) -> dict[str, Any]:
    """The component's jobs with ``$[[ inputs.x ]]`` replaced, as GitLab does at include time."""
    spec, _ = yaml.safe_load_all(COMPONENT.read_text())
    values = {name: str(item.get("default", "")) for name, item in spec["spec"]["inputs"].items()} | inputs
    missing = [
        name for name, item in spec["spec"]["inputs"].items() if "default" not in item and name not in inputs
    ]
    assert not missing, f"mandatory inputs not given: {missing}"
    text = COMPONENT.read_text().split("\n---\n", 1)[1]
    return yaml.safe_load(re.sub(r"\$\[\[ inputs\.([a-z-]+) \]\]", lambda m: values[m[1]], text))


def test_gitlab_files_match_gitlabs_schema(tmp_path: Path) -> None:
    documents = list(yaml.safe_load_all(COMPONENT.read_text()))
    assert len(documents) == 2 and set(documents[0]) == {"spec"}
    parts = []
    for index, document in enumerate(documents):
        parts.append(tmp_path / f"component-{index}.json")
        parts[-1].write_text(json.dumps(document))
    rendered = tmp_path / "rendered.json"
    rendered.write_text(json.dumps(render({"gate-package": "gate"})))
    result = check_jsonschema(*parts, rendered, CLASSIC, EXAMPLE)
    assert result.returncode == 0, result.stdout + result.stderr
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps({"gate": {"script": ["x"], "when": "sometimes"}}))
    assert check_jsonschema(broken).returncode == 1  # the check does reject a bad job


def test_jobs_run_where_the_issue_says() -> None:
    jobs = render({"gate-package": "gate", "job-prefix": "img"})
    assert set(jobs) == {".img-base", "img-scan", "img", ".img-keyless"}
    assert jobs["img-scan"]["rules"] == [{"if": '$CI_PIPELINE_SOURCE == "merge_request_event"'}]
    assert "GATE_SIGN" not in jobs["img-scan"].get("variables", {})  # base default: --no-sign
    assert jobs[".img-base"]["variables"]["GATE_SIGN"] == "no-sign"
    for job in ("img", ".img-keyless"):
        conditions = [rule.get("if") for rule in jobs[job]["rules"]]
        assert "$CI_COMMIT_TAG" in conditions and "$CI_COMMIT_BRANCH == $CI_DEFAULT_BRANCH" in conditions
    reports = jobs[".img-base"]["artifacts"]["reports"]
    assert reports == {
        "container_scanning": "gl-container-scanning-report.json",
        "cyclonedx": "sbom.cdx.json",
        "junit": "junit.xml",
        "dotenv": "gate.env",
    }
    assert jobs[".img-base"]["artifacts"]["when"] == "always"
    classic = yaml.safe_load(CLASSIC.read_text())
    assert classic[".gate-base"]["script"] == jobs[".img-base"]["script"]  # one script, two packagings
    assert classic[".gate-base"]["artifacts"] == jobs[".img-base"]["artifacts"]
    example = yaml.safe_load(EXAMPLE.read_text())
    assert example["gate-keyless"]["id_tokens"] == {"SIGSTORE_ID_TOKEN": {"aud": "sigstore"}}


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    """A project dir with the sample image, a venv on PATH (python3 → pip installs there), the DB."""
    project = tmp_path_factory.mktemp("project")
    subprocess.run(
        [sys.executable, "-m", "gate.sample", str(project / "sample")], check=True, capture_output=True
    )
    shutil.copy(ROOT / "policies" / "strict.yaml", project / "strict.yaml")
    shutil.copy(ROOT / "gate" / "sample" / "policy.yaml", project / "sample-policy.yaml")
    venv = tmp_path_factory.mktemp("tool-image") / "venv"
    subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
    env = clean_env() | {"PATH": f"{venv}/bin:{clean_env()['PATH']}"}
    database = project / ".gate-cache" / "vulndb.sqlite"
    database.parent.mkdir()
    imported = subprocess.run(
        [str(BIN / "gate"), "db", "import", "--db", str(database), str(ADVISORIES)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    return project, env


def run_job(project: Path, env: dict[str, str], job: str, policy: str) -> subprocess.CompletedProcess[str]:
    jobs = render({"gate-package": str(ROOT), "image": "oci:sample:demo", "policy": policy})
    variables = jobs[".gate-base"]["variables"] | jobs[job].get("variables", {})
    job_env = env | {"CI_PROJECT_DIR": str(project), "GITLAB_CI": "true", "CI": "true"}
    job_env |= {name: value.replace("$CI_PROJECT_DIR", str(project)) for name, value in variables.items()}
    job_env |= {"GATE_DB_UPDATE": "false", "GATE_OFFLINE": "1"}
    script = "\n".join(jobs[".gate-base"]["script"])
    return subprocess.run(
        ["bash", "-eo", "pipefail", "-c", script], cwd=project, env=job_env, capture_output=True, text=True,
        timeout=800, check=False,
    )  # fmt: skip


def test_the_scan_job_writes_every_report_on_a_closed_gate(project: tuple[Path, dict[str, str]]) -> None:
    directory, env = project
    closed = run_job(directory, env, "gate-scan", "strict.yaml")
    assert closed.returncode == 2, closed.stdout + closed.stderr  # the job fails: the gate closed
    for name in ("gl-container-scanning-report.json", "sbom.cdx.json", "junit.xml", "gate.env", "gate.sarif"):
        assert (directory / name).is_file(), name
    assert "GATE_VERDICT=fail" in (directory / "gate.env").read_text()
    report = json.loads((directory / "gl-container-scanning-report.json").read_text())
    assert report["scan"]["type"] == "container_scanning" and report["vulnerabilities"]
    assert "<failure" in (directory / "junit.xml").read_text()

    passed = run_job(directory, env, "gate-scan", "sample-policy.yaml")
    assert passed.returncode == 0, passed.stdout + passed.stderr
    dotenv = (directory / "gate.env").read_text()
    assert "GATE_VERDICT=pass" in dotenv and "GATE_SIGNED=false" in dotenv  # MR pipelines never sign


def test_readme_shows_the_gitlab_example() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```yaml\n{EXAMPLE.read_text()}```" in readme
