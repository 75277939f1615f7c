"""SLSA provenance v1 (``https://slsa.dev/provenance/v1``) from the CI environment.

GitHub Actions is described as GitHub's own artifact attestations do (buildType
``https://actions.github.io/buildtypes/workflow/v1``, builder id = the workflow ref, invocation
id = the run attempt URL); GitLab CI after the runner's ``PROVENANCE.md`` (builder id = the
project's runner, invocation id = the job URL). Outside CI the builder is ``urn:gate:local-builder``,
the build type ``urn:gate:buildtypes:local/v1`` and the external parameters the local command line,
so a verifier can tell a developer's run from a CI's.
Each source repository and commit becomes a ``resolvedDependencies`` entry.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gate.attest._time import now_rfc3339

GITHUB_BUILD_TYPE = "https://actions.github.io/buildtypes/workflow/v1"
GITLAB_BUILD_TYPE = "https://gitlab.com/gitlab-org/gitlab-runner/-/blob/main/PROVENANCE.md"
LOCAL_BUILD_TYPE = "urn:gate:buildtypes:local/v1"
LOCAL_BUILDER_ID = "urn:gate:local-builder"


def provenance_predicate(
    env: Mapping[str, str],
    *,
    started_on: str | None = None,
    finished_on: str | None = None,
    command: Sequence[str] = (),
) -> dict[str, Any]:
    """The predicate for the CI run ``env`` describes (``os.environ`` in practice).

    ``command`` is the local invocation, recorded when ``env`` is no CI's.
    """
    if env.get("GITHUB_ACTIONS") == "true":
        definition, details = _github(env)
    elif env.get("GITLAB_CI") == "true":
        definition, details = _gitlab(env)
    else:
        definition = {
            "buildType": LOCAL_BUILD_TYPE,
            "externalParameters": {"command": list(command)} if command else {},
            "resolvedDependencies": [],
        }
        details = {"builder": {"id": LOCAL_BUILDER_ID}, "metadata": {}}
    metadata = details["metadata"]
    if started_on:
        metadata["startedOn"] = started_on
    metadata["finishedOn"] = finished_on or now_rfc3339()
    return {"buildDefinition": definition, "runDetails": details}


def _github(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    server = env.get("GITHUB_SERVER_URL", "https://github.com")
    repository, ref, sha = (
        env.get("GITHUB_REPOSITORY", ""),
        env.get("GITHUB_REF", ""),
        env.get("GITHUB_SHA", ""),
    )
    workflow_ref = env.get("GITHUB_WORKFLOW_REF", "")
    path = workflow_ref.split("@", 1)[0].removeprefix(f"{repository}/")
    definition = {
        "buildType": GITHUB_BUILD_TYPE,
        "externalParameters": {
            "workflow": {"ref": ref, "repository": f"{server}/{repository}", "path": path}
        },
        "internalParameters": {
            "github": {
                "event_name": env.get("GITHUB_EVENT_NAME", ""),
                "repository_id": env.get("GITHUB_REPOSITORY_ID", ""),
                "repository_owner_id": env.get("GITHUB_REPOSITORY_OWNER_ID", ""),
                "runner_environment": env.get("RUNNER_ENVIRONMENT", ""),
            }
        },
        "resolvedDependencies": _source(f"git+{server}/{repository}@{ref}", sha),
    }
    run = f"{server}/{repository}/actions/runs/{env.get('GITHUB_RUN_ID', '')}"
    details = {
        "builder": {"id": f"{server}/{workflow_ref}"},
        "metadata": {"invocationId": f"{run}/attempts/{env.get('GITHUB_RUN_ATTEMPT', '1')}"},
    }
    return definition, details


def _gitlab(env: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Any]]:
    server, project = env.get("CI_SERVER_URL", "https://gitlab.com"), env.get("CI_PROJECT_PATH", "")
    project_url = env.get("CI_PROJECT_URL", f"{server}/{project}")
    definition = {
        "buildType": GITLAB_BUILD_TYPE,
        "externalParameters": {
            "source": project_url,
            "entryPoint": env.get("CI_JOB_NAME", ""),
            "ref": env.get("CI_COMMIT_REF_NAME", ""),
        },
        "internalParameters": {"pipeline_source": env.get("CI_PIPELINE_SOURCE", "")},
        "resolvedDependencies": _source(
            f"git+{project_url}@{env.get('CI_COMMIT_REF_NAME', '')}", env.get("CI_COMMIT_SHA", "")
        ),
    }
    details = {
        "builder": {
            "id": f"{server}/{project}/-/runners/{env.get('CI_RUNNER_ID', '')}",
            "version": {"gitlab-runner": env.get("CI_RUNNER_VERSION", "")},
        },
        "metadata": {"invocationId": env.get("CI_JOB_URL", "")},
    }
    return definition, details


def _source(uri: str, commit: str) -> list[dict[str, Any]]:
    return [{"uri": uri, "digest": {"gitCommit": commit}}] if commit else []
