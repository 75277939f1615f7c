"""Run a composite action's ``run:`` steps the way the GitHub runner does, without GitHub.

What is real: each step's script runs in ``bash --noprofile --norc -eo pipefail`` (the runner's
``shell: bash``) with the step's ``env:``, ``GITHUB_OUTPUT`` / ``GITHUB_STEP_SUMMARY`` /
``GITHUB_ENV`` / ``GITHUB_PATH`` files, ``RUNNER_TEMP`` and ``GITHUB_ACTION_PATH``; outputs are read
back from ``GITHUB_OUTPUT`` (both ``name=value`` and ``name<<DELIMITER`` forms), ``if:`` is
evaluated and a failing step skips the steps after it unless their ``if:`` says ``always()``.

What is not: ``uses:`` steps (actions/cache, upload-sarif) cannot run here; they are recorded
with the ``with:`` values they would have received, so a test can check those. The expression
language is the subset the project's actions use: contexts ``inputs``, ``steps.<id>.outputs``,
``github.action_path``, ``runner.os``/``runner.temp``, literals, ``==``, ``!=``, ``&&``, ``||``,
``!``, ``always()``, ``success()``, ``failure()``.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

_EXPRESSION = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
_TOKEN = re.compile(
    r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||!|\(|\))|(?P<call>always|success|failure)\(\)"
    r"|(?P<word>[A-Za-z_][A-Za-z0-9_.-]*))"
)


@dataclass
class StepResult:
    id: str | None
    ran: bool
    uses: str | None = None
    with_: dict[str, str] = field(default_factory=dict)
    returncode: int = 0
    stdout: str = ""
    stderr: str = ""
    outputs: dict[str, str] = field(default_factory=dict)


@dataclass
class ActionRun:
    steps: list[StepResult]
    outputs: dict[str, str]
    failed: bool
    summary: str

    def step(self, ident: str) -> StepResult:
        return next(step for step in self.steps if step.id == ident)

    def uses(self, prefix: str) -> list[StepResult]:
        return [step for step in self.steps if step.uses and step.uses.startswith(prefix)]


class _Context:
    def __init__(self, inputs: dict[str, str], action_path: Path, runner_temp: Path) -> None:
        self.inputs = inputs
        self.steps: dict[str, dict[str, str]] = {}
        self.action_path = action_path
        self.runner_temp = runner_temp
        self.failed = False

    def lookup(self, name: str) -> str:
        parts = name.split(".")
        if parts[0] == "inputs":
            return self.inputs.get(parts[1], "")
        if parts[0] == "steps" and len(parts) == 4 and parts[2] == "outputs":
            return self.steps.get(parts[1], {}).get(parts[3], "")
        if name == "github.action_path":
            return str(self.action_path)
        if name == "runner.os":
            return "Linux"
        if name == "runner.temp":
            return str(self.runner_temp)
        if name in ("true", "false"):
            return name
        raise AssertionError(f"expression context not supported by this runner: {name}")

    def evaluate(self, expression: str) -> str | bool:
        python: list[str] = []
        values: dict[str, Any] = {}
        position = 0
        expression = expression.strip()
        while position < len(expression):
            match = _TOKEN.match(expression, position)
            if match is None:
                raise AssertionError(f"cannot evaluate {expression!r} at {position}")
            position = match.end()
            if match["string"] is not None:
                values[f"v{len(values)}"] = match["string"][1:-1].replace("''", "'")
                python.append(f"v{len(values) - 1}")
            elif match["op"]:
                python.append({"&&": "and", "||": "or", "!": "not"}.get(match["op"], match["op"]))
            elif match["call"]:
                python.append(
                    repr({"always": True, "success": not self.failed, "failure": self.failed}[match["call"]])
                )
            else:
                values[f"v{len(values)}"] = self.lookup(match["word"])
                python.append(f"v{len(values) - 1}")
        return eval(" ".join(python), {"__builtins__": {}}, values)  # noqa: S307 - tokens checked above

    def interpolate(self, text: Any) -> str:
        return _EXPRESSION.sub(lambda match: _text(self.evaluate(match[1])), str(text))

    def condition(self, text: Any) -> bool:
        if text is None:
            return not self.failed
        expression = str(text)
        whole = _EXPRESSION.fullmatch(expression.strip())
        value = self.evaluate(whole[1] if whole else expression)
        # a condition without a status function gets an implicit success()
        if not re.search(r"\b(always|success|failure)\(\)", expression) and self.failed:
            return False
        return bool(value) and value != "false"


def _text(value: str | bool) -> str:
    return ("true" if value else "false") if isinstance(value, bool) else value


def read_outputs(path: Path) -> dict[str, str]:
    outputs: dict[str, str] = {}
    lines = path.read_text().splitlines() if path.exists() else []
    index = 0
    while index < len(lines):
        line = lines[index]
        if "<<" in line and ("=" not in line or line.index("<<") < line.index("=")):
            name, delimiter = line.split("<<", 1)
            end = lines.index(delimiter, index + 1)
            outputs[name] = "\n".join(lines[index + 1 : end])
            index = end + 1
            continue
        name, _, value = line.partition("=")
        outputs[name] = value
        index += 1
    return outputs


def run_composite(
    action_file: Path, inputs: dict[str, str], *, workspace: Path, runner_temp: Path, env: dict[str, str]
) -> ActionRun:
    action = yaml.safe_load(action_file.read_text())
    assert action["runs"]["using"] == "composite"
    given = {name: str(spec.get("default", "")) for name, spec in action.get("inputs", {}).items()}
    unknown = set(inputs) - set(given)
    assert not unknown, f"inputs the action does not declare: {unknown}"
    given.update(inputs)
    context = _Context(given, action_file.parent, runner_temp)
    files = {
        name: runner_temp / f"_{name.lower()}"
        for name in ("GITHUB_STEP_SUMMARY", "GITHUB_ENV", "GITHUB_PATH")
    }
    for path in files.values():
        path.touch()
    results = []
    for index, step in enumerate(action["runs"]["steps"]):
        ident = step.get("id")
        if not context.condition(step.get("if")):
            results.append(StepResult(ident, ran=False, uses=step.get("uses")))
            continue
        if "uses" in step:
            with_ = {key: context.interpolate(value) for key, value in (step.get("with") or {}).items()}
            results.append(StepResult(ident, ran=True, uses=step["uses"], with_=with_))
            continue
        assert step.get("shell") == "bash", "every run step of a composite action must name its shell"
        output_file = runner_temp / f"_output_{index}"
        output_file.write_text("")
        script = runner_temp / f"_step_{index}.sh"
        script.write_text(step["run"])
        step_env = {
            **env,
            **{key: context.interpolate(value) for key, value in (step.get("env") or {}).items()},
            "GITHUB_ACTIONS": "true",
            "GITHUB_WORKSPACE": str(workspace),
            "GITHUB_ACTION_PATH": str(action_file.parent),
            "RUNNER_TEMP": str(runner_temp),
            "RUNNER_OS": "Linux",
            "GITHUB_OUTPUT": str(output_file),
            **{name: str(path) for name, path in files.items()},
        }
        completed = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=workspace,
            env=step_env,
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        outputs = read_outputs(output_file)
        if ident:
            context.steps[ident] = outputs
        results.append(
            StepResult(
                ident, True, None, {}, completed.returncode, completed.stdout, completed.stderr, outputs
            )
        )
        if completed.returncode != 0:
            context.failed = True
    declared = {name: context.interpolate(spec["value"]) for name, spec in action.get("outputs", {}).items()}
    return ActionRun(results, declared, context.failed, files["GITHUB_STEP_SUMMARY"].read_text())


def clean_env() -> dict[str, str]:
    """The parts of this process's environment a runner would also have (no GitHub variables)."""
    keep = (
        "PATH",
        "HOME",
        "LANG",
        "LC_ALL",
        "TMPDIR",
        "PIP_INDEX_URL",
        "PIP_EXTRA_INDEX_URL",
        "PIP_FIND_LINKS",
    )
    return {name: os.environ[name] for name in keep if name in os.environ} | {"NO_COLOR": "1"}
