"""actions/gate and actions/verify, run step by step as the GitHub runner would (tests/github_runner.py).

The action installs gate from this checkout into a fresh venv (real pip, once per module: the
install step reuses a venv made from the same source), imports the sample's advisory into the
database path the action caches, and gates the built-in sample image (an OCI layout): under the
strict policy the gate closes, under the sample policy it passes and signs. ``uses:`` steps
(actions/cache, upload-sarif) cannot run without GitHub; the test checks what they would receive.
Static checks (check-jsonschema's vendored GitHub schemas, zizmor) run offline.
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from gate.sample import ADVISORIES
from tests.github_runner import ActionRun, clean_env, run_composite
from tests.test_sign import COSIGN_KEY, FIXTURES

ROOT = Path(__file__).parent.parent
GATE_ACTION = ROOT / "actions" / "gate" / "action.yml"
VERIFY_ACTION = ROOT / "actions" / "verify" / "action.yml"
EXAMPLES = sorted((ROOT / "examples").glob("github-*.yml"))
BIN = Path(sys.executable).parent

pytestmark = [pytest.mark.timeout(900)]


def tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: pip install -e '.[test]' (this test never skips)")
    return found


def test_actions_and_examples_match_githubs_schemas() -> None:
    actions = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(GATE_ACTION),
         str(VERIFY_ACTION)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert actions.returncode == 0, actions.stdout + actions.stderr
    assert EXAMPLES, "examples/github-*.yml are missing"
    workflows = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *map(str, EXAMPLES)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert workflows.returncode == 0, workflows.stdout + workflows.stderr


def test_the_schema_check_catches_a_broken_action(tmp_path: Path) -> None:
    broken = tmp_path / "action.yml"
    broken.write_text(GATE_ACTION.read_text().replace("using: composite", "using: composit"))
    result = subprocess.run(
        [tool("check-jsonschema"), "--builtin-schema", "vendor.github-actions", str(broken)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 1


def test_zizmor_finds_nothing_at_medium_or_above(tmp_path: Path) -> None:
    targets = [str(GATE_ACTION), str(VERIFY_ACTION), *map(str, EXAMPLES)]
    result = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "json", *targets],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout) == []
    # and it does look: an input interpolated into a script is a finding
    injected = tmp_path / "injected" / "action.yml"
    injected.parent.mkdir()
    injected.write_text(
        GATE_ACTION.read_text().replace('"${IN_REPORT_DIR:-', '"${{ inputs.report-dir }}${X:-')
    )
    found = subprocess.run(
        [tool("zizmor"), "--offline", "--min-severity", "medium", "--format", "json", str(injected)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert any(item["ident"] == "template-injection" for item in json.loads(found.stdout)), found.stdout


def test_no_input_is_interpolated_into_a_script() -> None:
    import yaml

    for action_file in (GATE_ACTION, VERIFY_ACTION):
        for step in yaml.safe_load(action_file.read_text())["runs"]["steps"]:
            assert "${{" not in step.get("run", ""), (action_file, step.get("id"))
            uses = step.get("uses", "")
            if uses:
                assert len(uses.split("@")[1]) == 40, f"{uses} is not pinned by commit SHA"


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict[str, str]]:
    """A workspace with the sample image and a RUNNER_TEMP whose cached database holds its advisory."""
    workspace = tmp_path_factory.mktemp("workspace")
    runner_temp = tmp_path_factory.mktemp("runner-temp")
    subprocess.run(
        [sys.executable, "-m", "gate.sample", str(workspace / "sample")], check=True, capture_output=True
    )
    shutil.copy(ROOT / "policies" / "strict.yaml", workspace / "strict.yaml")
    shutil.copy(ROOT / "gate" / "sample" / "policy.yaml", workspace / "sample-policy.yaml")
    shutil.copy(COSIGN_KEY, workspace / "cosign.key")
    env = clean_env()
    database = runner_temp / "gate-db" / "vulndb.sqlite"
    database.parent.mkdir()
    imported = subprocess.run(
        [str(BIN / "gate"), "db", "import", "--db", str(database), str(ADVISORIES)],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert imported.returncode == 0, imported.stderr
    return workspace, runner_temp, env


def gate_action(runner: tuple[Path, Path, dict[str, str]], **inputs: str) -> ActionRun:
    workspace, runner_temp, env = runner
    base = {"image": "oci:sample:demo", "identity": "gate/sample", "db-update": "false", "offline": "true"}
    return run_composite(GATE_ACTION, base | inputs, workspace=workspace, runner_temp=runner_temp, env=env)


def test_a_closed_gate_reports_everything_and_fails_the_step(
    runner: tuple[Path, Path, dict[str, str]],
) -> None:
    workspace = runner[0]
    run = gate_action(runner, policy="strict.yaml", key="cosign.key", **{"key-password": "fixture-password",
                      "report-dir": "reports-strict"})  # fmt: skip
    install = run.step("install")
    assert install.ran and install.returncode == 0, install.stderr
    gate = run.step("gate")
    assert gate.outputs.get("exit-code") == "2", (gate.returncode, gate.outputs, gate.stdout, gate.stderr)
    assert run.outputs["verdict"] == "fail"
    assert run.outputs["digest"].startswith("sha256:")
    sarif = Path(run.outputs["sarif-path"])
    assert sarif == workspace / "reports-strict" / "gate.sarif" and sarif.is_file()
    assert Path(run.outputs["sbom-path"]).is_file() and Path(run.outputs["report-path"]).is_file()
    assert "::error" in gate.stderr  # annotations for the blocking findings
    assert "fail" in run.summary.lower()
    (upload,) = run.uses("github/codeql-action/upload-sarif@")
    assert upload.ran and upload.with_ == {"sarif_file": str(sarif), "category": "gate"}
    final = run.steps[-1]
    assert run.failed and final.returncode == 2
    assert "the gate closed" in final.stdout
    assert not list((workspace / "sample").glob("**/*.sig"))


def test_fail_on_never_reports_without_failing(runner: tuple[Path, Path, dict[str, str]]) -> None:
    run = gate_action(
        runner, policy="strict.yaml", sign="false", **{"fail-on": "never", "upload-sarif": "false"}
    )
    assert run.outputs["verdict"] == "fail"
    assert not run.failed, run.steps[-1].stdout
    assert "::warning" in run.steps[-1].stdout
    (upload,) = run.uses("github/codeql-action/upload-sarif@")
    assert not upload.ran
    assert Path(run.outputs["report-dir"]) == runner[1] / "gate-reports"  # default: RUNNER_TEMP


def test_a_passing_gate_signs_and_the_verify_action_accepts_it(
    runner: tuple[Path, Path, dict[str, str]],
) -> None:
    workspace, runner_temp, env = runner
    run = gate_action(
        runner, policy="sample-policy.yaml", key="cosign.key", **{"key-password": "fixture-password"}
    )
    gate = run.step("gate")
    assert gate.outputs["exit-code"] == "0", gate.stdout + gate.stderr
    assert run.outputs["verdict"] == "pass" and not run.failed
    assert run.step("install").stdout.strip().startswith("gate ")  # reused venv still answers
    assert "pass" in run.summary.lower()
    shutil.copy(FIXTURES / "cosign.pub", workspace / "cosign.pub")
    verify_inputs = {"image": f"oci:sample@{run.outputs['digest']}", "key": "cosign.pub"}
    verified = run_composite(
        VERIFY_ACTION, verify_inputs, workspace=workspace, runner_temp=runner_temp, env=env
    )
    assert not verified.failed, verified.step("verify").stdout + verified.step("verify").stderr
    assert verified.outputs["verified"] == "true"
    tampered = run_composite(
        VERIFY_ACTION, verify_inputs | {"require": "https://example.invalid/not-attested"},
        workspace=workspace, runner_temp=runner_temp, env=env,
    )  # fmt: skip
    assert tampered.failed and tampered.outputs["verified"] == "false"


def test_signing_without_key_or_keyless_is_an_error(runner: tuple[Path, Path, dict[str, str]]) -> None:
    run = gate_action(runner, policy="sample-policy.yaml")
    assert run.step("gate").outputs["exit-code"] == "1"
    assert run.failed and run.steps[-1].returncode == 1


def test_readme_shows_the_example_workflow() -> None:
    readme = (ROOT / "README.md").read_text()
    example = (ROOT / "examples" / "github-workflow.yml").read_text()
    assert f"```yaml\n{example}```" in readme


def test_registry_credentials_reach_gate_in_a_private_auth_file_only(tmp_path: Path) -> None:
    """The gate step alone, with a stand-in for the gate binary that shows what it was given."""
    import yaml

    (step,) = [s for s in yaml.safe_load(GATE_ACTION.read_text())["runs"]["steps"] if s.get("id") == "gate"]
    stand_in = tmp_path / "gate"
    stand_in.write_text(
        '#!/bin/bash\necho "ARGS: $*"; stat -c %a "$REGISTRY_AUTH_FILE"; cat "$REGISTRY_AUTH_FILE"\n'
    )
    stand_in.chmod(0o755)
    (tmp_path / "step.sh").write_text(step["run"])
    env = {name: "" for name in step["env"]} | clean_env() | {
        "GATE": str(stand_in), "IN_IMAGE": "ghcr.io/acme/app@sha256:" + "a" * 64, "IN_POLICY": "p.yaml",
        "IN_SIGN": "true", "IN_KEYLESS": "true", "REGISTRY_USERNAME": "robot", "REGISTRY_PASSWORD": 'se"cret',
        "RUNNER_TEMP": str(tmp_path), "GITHUB_OUTPUT": str(tmp_path / "output"),
    }  # fmt: skip
    result = subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(tmp_path / "step.sh")],
        env=env, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert '::add-mask::se"cret' in result.stdout
    assert "--keyless" in result.stdout and 'se"cret' not in result.stdout.split("ARGS:")[1].split("\n")[0]
    auths = json.loads(result.stdout.strip().splitlines()[-1])["auths"]
    assert list(auths) == ["ghcr.io"]
    assert base64.b64decode(auths["ghcr.io"]["auth"]).decode() == 'robot:se"cret'
    assert "600" in result.stdout
    assert not list(tmp_path.glob("gate-auth.*"))  # removed after the run
    assert (tmp_path / "output").read_text() == "exit-code=0\n"
