"""gitlab-templates/: GitLab's schema accepts them, and gitlab-ci-local runs their jobs end to end.

gitlab-ci-local (npm, pinned in tests/js: 4.73.0, the last release that runs on Node 20; 4.74+
need Node 22) evaluates the rules, includes, variables, cache and artifacts as GitLab would. Each
test makes a temporary git repository with a user's ``.gitlab-ci.yml``: the classic include
(``include: local:`` of gate.gitlab-ci.yml copied into the repository, as ``include: remote:`` or
``project:`` would bring it) or the CI/CD component, included exactly as the README shows
(``component: $CI_SERVER_FQDN/your-group/gate/gate@1.0.0``). The "GitLab server" is the git side
of one (tests/git_server.py: ``git http-backend`` over HTTP on 127.0.0.1, the repositories'
origin): it serves the component project laid out as docs/ci.md says to publish it (the
templates at the top level, tag 1.0.0); gitlab-ci-local clones the component from it and
interpolates the inputs itself. No catalog, no GitLab API: only the git fetch is real.

Jobs run in shell mode (``--force-shell-executor --shell-isolation``: the templates name a tool
image, no container engine runs here; each job gets its own build dir of tracked files) with the
project's CI/CD settings in .gitlab-ci-local-variables.yml: the image is the built-in sample pushed
to a real registry (docker-registry, htpasswd) at ``$CI_REGISTRY_IMAGE:$CI_COMMIT_SHA``, reached
with ``CI_REGISTRY_USER``/``CI_REGISTRY_PASSWORD``; the database is the sample's advisory in the
job cache (``GATE_DB_UPDATE=false``); ``GATE_PACKAGE`` is a wheel built from this checkout, pip-
installed by the job into one venv the jobs share (the runner's python3), so only the first job
installs. Pipeline variables (``CI_PIPELINE_SOURCE``, branch, tag) decide which job runs.
gitlab-ci-local missing fails the tests with how to install it; they never skip.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from gate.image import RegistryClient
from gate.image.credentials import Credentials
from gate.image.reference import parse_registry_reference
from gate.sample import ADVISORIES, build_sample
from gate.vulndb import import_paths
from tests.git_server import git_http_server
from tests.github_runner import clean_env
from tests.js_tools import INSTALL_HINT
from tests.servers import RegistryServer
from tests.test_cli import run_gate
from tests.test_sign import COSIGN_KEY, KEY_ENV

ROOT = Path(__file__).parent.parent
COMPONENT = ROOT / "gitlab-templates" / "templates" / "gate.yml"
CLASSIC = ROOT / "gitlab-templates" / "gate.gitlab-ci.yml"
EXAMPLE = ROOT / "examples" / "gitlab-ci.yml"
BIN = Path(sys.executable).parent
SCHEMAS = Path(__file__).parent / "fixtures" / "schemas" / "gitlab-security-reports"
COMPONENT_PROJECT = "your-group/gate"  # the README's component include points here
COMPONENT_VERSION = "1.0.0"
REPORTS = (
    "gl-container-scanning-report.json", "sbom.cdx.json", "sbom.spdx.json", "junit.xml", "gate.sarif",
    "summary.md", "report.html", "decision.json",
)  # fmt: skip

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


def gitlab_ci_local(js_tools: Path) -> Path:
    """The pinned gitlab-ci-local (tests/js); its absence fails the test with how to install it."""
    binary = js_tools / "node_modules" / ".bin" / "gitlab-ci-local"
    if not binary.is_file():
        pytest.fail(
            f"gitlab-ci-local is missing from tests/js: pin it there, then {INSTALL_HINT}", pytrace=False
        )
    if shutil.which("rsync") is None:  # gitlab-ci-local copies builds, caches and artifacts with it
        pytest.fail("rsync is not installed (apt-get install rsync); gitlab-ci-local needs it", pytrace=False)
    return binary


@dataclass(frozen=True)
class Jobs:
    """A kind of pipeline: the variables GitLab would set, the branch checked out, the job it runs."""

    branch: str
    job: str | None
    variables: tuple[str, ...] = ()
    unset: tuple[str, ...] = ()


MERGE_REQUEST = Jobs(
    "feature",
    "gate-scan",
    ("CI_PIPELINE_SOURCE=merge_request_event", "CI_MERGE_REQUEST_IID=7"),
    ("CI_COMMIT_BRANCH",),
)
DEFAULT_BRANCH = Jobs("main", "gate")
TAG = Jobs("main", "gate", ("CI_COMMIT_TAG=v1.0.0", "CI_COMMIT_REF_NAME=v1.0.0"), ("CI_COMMIT_BRANCH",))
FEATURE_PUSH = Jobs("feature", None)


def classic_include(policy: str) -> str:
    """A user's .gitlab-ci.yml with the classic include, as `include: remote/project` brings it."""
    return (
        "include:\n  - local: gate.gitlab-ci.yml\n"
        f"variables:\n  GATE_PACKAGE: $GATE_WHEEL\n  GATE_POLICY: {policy}\n"
    )


def component_include(policy: str) -> str:
    """A user's .gitlab-ci.yml with the CI/CD component, exactly the README's include line."""
    return (
        f"include:\n  - component: $CI_SERVER_FQDN/{COMPONENT_PROJECT}/gate@{COMPONENT_VERSION}\n"
        f"    inputs:\n      policy: {policy}\n      gate-package: $GATE_WHEEL\n"
    )


@dataclass
class Project:
    """A temporary git repository as gitlab-ci-local needs one, plus what a GitLab project has."""

    repo: Path
    image: str  # $CI_REGISTRY_IMAGE:$CI_COMMIT_SHA, the template's default GATE_IMAGE

    def artifacts(self, job: str) -> Path:
        return self.repo / ".gitlab-ci-local" / "artifacts" / job

    def dotenv(self, job: str) -> dict[str, str]:
        text = (self.artifacts(job) / ".gitlab-ci-reports" / "dotenv" / "gate.env").read_text()
        return dict(line.split("=", 1) for line in text.splitlines())


def git(repo: Path, *args: str) -> str:
    identity = ("-c", "user.name=gate tests", "-c", "user.email=tests@gate.invalid")
    done = subprocess.run(["git", *identity, *args], cwd=repo, capture_output=True, text=True, check=True)
    return done.stdout.strip()


@pytest.fixture(scope="module")
def gitlab_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The git side of a GitLab server: the component project published as docs/ci.md says
    (gitlab-templates/templates/ at the top level, release tag 1.0.0), served over smart HTTP."""
    root = tmp_path_factory.mktemp("git-server")
    source = root / "source"
    shutil.copytree(ROOT / "gitlab-templates" / "templates", source / "templates")
    git(source, "init", "--quiet", "--initial-branch", "main")
    git(source, "add", "--all")
    git(source, "commit", "--quiet", "--message", "gate CI/CD component")
    git(source, "tag", COMPONENT_VERSION)
    bare = root / "served" / f"{COMPONENT_PROJECT}.git"
    git(root, "clone", "--quiet", "--bare", str(source), str(bare))
    git(bare, "config", "uploadpack.allowFilter", "true")  # gitlab-ci-local clones with --filter
    with git_http_server(root / "served") as host:
        yield host


@pytest.fixture(scope="module")
def setting(
    basic_registry: RegistryServer,
    gitlab_server: str,
    js_tools: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> dict[str, Any]:
    """What every project shares: the servers, the DB, a wheel of this checkout, a venv."""
    work = tmp_path_factory.mktemp("gitlab")
    database = work / "vulndb.sqlite"
    import_paths(database, [ADVISORIES])
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(work / "wheel"), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = (work / "wheel").glob("gate-*.whl")
    # the runner's python3: one venv for every job, so only the first job's pip install does work
    subprocess.run(["python3", "-m", "venv", str(work / "venv")], check=True)
    (work / "home").mkdir()  # the jobs' HOME: a runner account's, without this machine's ~/.bashrc
    env = clean_env() | {"PATH": f"{work / 'venv' / 'bin'}:{clean_env()['PATH']}", "HOME": str(work / "home")}
    env["PIP_CACHE_DIR"] = str(Path.home() / ".cache" / "pip")  # pip's cache is shared with this machine
    return {
        "binary": gitlab_ci_local(js_tools),
        "registry": basic_registry,
        "gitlab": gitlab_server,
        "database": database,
        "wheel": wheel,
        "env": env,
        "home": work / "home",
    }


def make_project(setting: dict[str, Any], root: Path, gitlab_ci: str, jobs: Jobs) -> Project:
    """The repository, its image pushed to the registry by commit SHA, the DB in the job cache."""
    repo = root / "repo"
    repo.mkdir(parents=True)
    git(repo, "init", "--quiet", "--initial-branch", "main")
    git(repo, "remote", "add", "origin", f"http://{setting['gitlab']}/acme/{root.name}.git")
    (repo / ".gitlab-ci.yml").write_text(gitlab_ci)
    shutil.copy(CLASSIC, repo / "gate.gitlab-ci.yml")
    (repo / "policies").mkdir()
    shutil.copy(ROOT / "policies" / "strict.yaml", repo / "policies" / "strict.yaml")
    shutil.copy(ROOT / "gate" / "sample" / "policy.yaml", repo / "policies" / "sample.yaml")
    git(repo, "add", "--all")
    git(repo, "commit", "--quiet", "--message", "app")
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    git(repo, "symbolic-ref", "refs/remotes/origin/HEAD", "refs/remotes/origin/main")
    if jobs.branch != "main":
        git(repo, "checkout", "--quiet", "-b", jobs.branch)
    sha = git(repo, "rev-parse", "HEAD")

    # what the last pipeline left in the job cache: the vulnerability DB
    cached = repo / ".gitlab-ci-local" / "cache" / "gate-vulndb" / ".gate-cache" / "vulndb.sqlite"
    cached.parent.mkdir(parents=True)
    shutil.copy(setting["database"], cached)

    registry: RegistryServer = setting["registry"]
    assert registry.username and registry.password
    repository = f"{registry.host}/acme/{root.name}"
    client = RegistryClient(
        credentials={registry.host: Credentials(registry.username, registry.password, "test")}
    )
    build_sample().push(client.repository(parse_registry_reference(f"{repository}:{sha}")), tag=sha)
    # the project's CI/CD settings
    variables = {
        "CI_REGISTRY": registry.host,
        "CI_REGISTRY_IMAGE": repository,
        "CI_REGISTRY_USER": registry.username,
        "CI_REGISTRY_PASSWORD": registry.password,
        "GATE_PASSWORD": KEY_ENV["GATE_PASSWORD"],
        "GATE_DB_UPDATE": "false",  # offline: the cached DB holds the sample's advisory
        "GATE_OFFLINE": "1",
    }
    (repo / ".gitlab-ci-local-variables.yml").write_text(yaml.safe_dump(variables))
    return Project(repo, f"{repository}:{sha}")


def gitlab_ci_local_command(setting: dict[str, Any], project: Project, jobs: Jobs, *extra: str) -> list[str]:
    command = [
        str(setting["binary"]),
        "--home",
        str(setting["home"]),
        "--no-color",
    ]
    # GitLab sets these; here the test does (the local registry, the kind of pipeline), on purpose
    overridden = [
        "CI_REGISTRY",
        "CI_REGISTRY_IMAGE",
        *(variable.split("=")[0] for variable in jobs.variables),
    ]
    command.append(f"--ignore-predefined-vars={','.join(overridden)}")
    # paths as plain variables: in the variables file a path becomes a file variable, which
    # gitlab-ci-local copies to /tmp for every job, even when only listing them, and leaves there
    command += [f"--variable=GATE_WHEEL={setting['wheel']}", f"--variable=GATE_KEY_FILE={COSIGN_KEY}"]
    command += [f"--variable={variable}" for variable in jobs.variables]
    command += [f"--unset-variable={variable}" for variable in jobs.unset]
    return [*command, *extra]


def listed_jobs(setting: dict[str, Any], project: Project, jobs: Jobs) -> set[str]:
    """The jobs gitlab-ci-local's own rule evaluation puts in this pipeline."""
    listed = run_gitlab_ci_local(setting, project, jobs, "--list-json", timeout=120)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    return {job["name"] for job in json.loads(listed.stdout) if job["when"] != "never"}


def run_pipeline(setting: dict[str, Any], project: Project, jobs: Jobs) -> subprocess.CompletedProcess[str]:
    """Every job the rules pick, in shell mode: each in its own build dir (tracked files only)."""
    assert jobs.job
    # gitlab-ci-local 4.73.0 keeps CI_PROJECT_DIR at /builds/<project> for a job that names an image,
    # even under --force-shell-executor; the job really runs in its build dir, so say so
    build_dir = project.repo / ".gitlab-ci-local" / "builds" / jobs.job
    shell = ("--force-shell-executor", "--shell-isolation", f"--variable=CI_PROJECT_DIR={build_dir}")
    return run_gitlab_ci_local(setting, project, jobs, *shell, timeout=800)


def run_gitlab_ci_local(
    setting: dict[str, Any], project: Project, jobs: Jobs, *extra: str, timeout: int
) -> subprocess.CompletedProcess[str]:
    command = gitlab_ci_local_command(setting, project, jobs, *extra)
    return subprocess.run(
        command,
        cwd=project.repo,
        env=setting["env"],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def ran(project: Project) -> set[str]:
    return {log.stem for log in (project.repo / ".gitlab-ci-local" / "output").glob("*.log")}


@pytest.mark.parametrize("include", [classic_include, component_include])
def test_rules_pick_the_scan_job_for_merge_requests_and_the_gate_job_for_the_default_branch(
    setting: dict[str, Any], tmp_path: Path, include: Callable[[str], str]
) -> None:
    for index, jobs in enumerate((MERGE_REQUEST, DEFAULT_BRANCH, TAG, FEATURE_PUSH)):
        project = make_project(setting, tmp_path / f"rules{index}", include("policies/strict.yaml"), jobs)
        assert listed_jobs(setting, project, jobs) == ({jobs.job} if jobs.job else set()), jobs


def test_the_readme_example_runs_the_keyless_job_on_the_default_branch(
    setting: dict[str, Any], tmp_path: Path
) -> None:
    """examples/gitlab-ci.yml as it stands (the README's copy): its component include resolves and
    its rules pick `gate-scan` for merge requests and its own `gate-keyless` job, never `gate`."""
    expected = {MERGE_REQUEST: {"gate-scan"}, DEFAULT_BRANCH: {"gate-keyless"}, TAG: {"gate-keyless"}}
    for index, (jobs, names) in enumerate(expected.items()):
        project = make_project(setting, tmp_path / f"example{index}", EXAMPLE.read_text(), jobs)
        assert listed_jobs(setting, project, jobs) == names, jobs


def validate_reports(project: Project, job: str, *, blocked: bool) -> None:
    """Every report the template names, and the GitLab and JUnit ones valid."""
    directory = project.artifacts(job)
    for name in REPORTS:
        assert (directory / name).is_file(), name
    schema = json.loads((SCHEMAS / "container-scanning-report-format.json").read_text())
    report = json.loads((directory / "gl-container-scanning-report.json").read_text())
    jsonschema.validate(report, schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)
    assert report["scan"]["type"] == "container_scanning"
    assert {v["identifiers"][0]["value"] for v in report["vulnerabilities"]} >= {"PYSEC-2023-62"}
    assert all(
        v["location"]["image"].startswith(project.image.rsplit(":", 1)[0]) for v in report["vulnerabilities"]
    )
    junit = ET.parse(directory / "junit.xml").getroot()  # noqa: S314 - gate's own output
    failures = [case.get("name") for case in junit.iter("testcase") if case.find("failure") is not None]
    assert int(junit.get("tests", "0")) >= 1 and bool(failures) == blocked, failures


def verify(setting: dict[str, Any], project: Project) -> subprocess.CompletedProcess[str]:
    registry: RegistryServer = setting["registry"]
    assert registry.username and registry.password
    ci = {"CI_REGISTRY": registry.host, "CI_REGISTRY_USER": registry.username}
    ci |= {"CI_REGISTRY_PASSWORD": registry.password}
    public_key = str(Path(COSIGN_KEY).with_suffix(".pub"))
    return run_gate(
        "verify", project.image, "--key", public_key, "--require", "sbom,vuln,provenance,vsa", env=ci
    )


def test_a_merge_request_pipeline_scans_without_signing(setting: dict[str, Any], tmp_path: Path) -> None:
    """The classic include; a closed gate fails the job and still leaves every report."""
    include = classic_include
    closed = make_project(setting, tmp_path / "closed", include("policies/strict.yaml"), MERGE_REQUEST)
    pipeline = run_pipeline(setting, closed, MERGE_REQUEST)
    assert pipeline.returncode != 0, pipeline.stdout  # the gate closed: the job, and so the pipeline, fail
    assert ran(closed) == {"gate-scan"}
    validate_reports(closed, "gate-scan", blocked=True)  # reports appear on a failing job
    assert closed.dotenv("gate-scan")["GATE_VERDICT"] == "fail"

    passed = make_project(setting, tmp_path / "passed", include("policies/sample.yaml"), MERGE_REQUEST)
    pipeline = run_pipeline(setting, passed, MERGE_REQUEST)
    assert pipeline.returncode == 0, pipeline.stdout + pipeline.stderr
    assert ran(passed) == {"gate-scan"}
    validate_reports(passed, "gate-scan", blocked=False)
    dotenv = passed.dotenv("gate-scan")
    assert dotenv["GATE_VERDICT"] == "pass" and dotenv["GATE_SIGNED"] == "false"  # MR pipelines never sign
    assert verify(setting, passed).returncode != 0  # nothing in the registry to verify


def test_a_default_branch_pipeline_signs_only_when_the_policy_passes(
    setting: dict[str, Any], tmp_path: Path
) -> None:
    """The CI/CD component, included as the README shows; signed with the key in GATE_KEY_FILE."""
    include = component_include
    closed = make_project(setting, tmp_path / "closed", include("policies/strict.yaml"), DEFAULT_BRANCH)
    pipeline = run_pipeline(setting, closed, DEFAULT_BRANCH)
    assert pipeline.returncode != 0, pipeline.stdout
    # fetched from the git server, not found lying around
    assert f"downloaded {COMPONENT_PROJECT} {COMPONENT_VERSION} templates/gate" in pipeline.stderr
    assert ran(closed) == {"gate"}
    validate_reports(closed, "gate", blocked=True)
    assert closed.dotenv("gate")["GATE_SIGNED"] == "false"
    assert verify(setting, closed).returncode != 0

    passed = make_project(setting, tmp_path / "passed", include("policies/sample.yaml"), DEFAULT_BRANCH)
    pipeline = run_pipeline(setting, passed, DEFAULT_BRANCH)
    assert pipeline.returncode == 0, pipeline.stdout + pipeline.stderr
    assert ran(passed) == {"gate"}
    validate_reports(passed, "gate", blocked=False)
    assert passed.dotenv("gate")["GATE_SIGNED"] == "true"
    verified = verify(setting, passed)
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_readme_shows_the_gitlab_example() -> None:
    readme = (ROOT / "README.md").read_text()
    assert f"```yaml\n{EXAMPLE.read_text()}```" in readme
