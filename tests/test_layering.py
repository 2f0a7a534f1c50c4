"""Layering: imports run downward only, and only the HTTP layer knows FastAPI.

The import direction (which domain may import which, and that repositories and services never import
routes or entry points) is written as import-linter contracts in ``pyproject.toml``; the first tests
here run them, and show on a copy of the tree that a single upward import breaks them.

Services, repositories, models, schemas, domain code and CLI commands take plain values (a
``Caller``, a session) and raise ``gateway.errors``; routes, dependencies, the app factory, the error
handlers, the request middleware and the web console turn HTTP into those and back. Every module
under ``gateway/`` is checked unless its path matches the short list below, so a new service module is
checked without being listed.
"""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from fnmatch import fnmatch
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
GATEWAY = ROOT / "gateway"
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contracts (pyproject.toml under ``root``) checked on the gateway under ``root``."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_imports_run_downward_only() -> None:
    result = _lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 3 kept, 0 broken." in result.stdout


@pytest.mark.parametrize(
    ("module", "upward_import", "broken"),
    [
        # a lower domain reaching up into a workflow above it
        (
            "students/statemachine.py",
            "from gateway.registry import reviews",
            "gateway.students is not allowed",
        ),
        # a repository reaching up into a service of its own domain
        ("registry/repository.py", "from gateway.registry import service", "gateway.registry.repository"),
        # a service reaching up to the composition root
        ("batches/service.py", "from gateway import wiring", "gateway.batches.service"),
    ],
)
def test_an_upward_import_breaks_the_contracts(
    tmp_path: Path, module: str, upward_import: str, broken: str
) -> None:
    shutil.copytree(GATEWAY, tmp_path / "gateway", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    with (tmp_path / "gateway" / module).open("a", encoding="utf-8") as source:
        source.write(f"\n{upward_import}  # noqa\n")
    result = _lint_imports(tmp_path)
    assert result.returncode != 0
    assert broken in result.stdout, result.stdout


WEB_PACKAGES = ("fastapi", "starlette")

# The HTTP layer (paths relative to gateway/, fnmatch patterns): the only modules that may import
# fastapi or starlette.
HTTP_LAYER = (
    "*/endpoints.py",  # route modules (of every package, the console's included)
    "auth/dependencies.py",  # the session, context and caller dependencies of the routes
    "app.py",  # the application factory
    "problems.py",  # the exception handlers: errors rendered as problem+json
    "observability.py",  # the request middleware (request ids, metrics, body size limit)
    "console/signin.py",  # the console's cookie sign-in
    "console/security.py",  # the console's security headers middleware
)


def _modules() -> list[Path]:
    return sorted(GATEWAY.rglob("*.py"))


def _relative(path: Path) -> str:
    return path.relative_to(GATEWAY).as_posix()


def _is_http_layer(path: Path) -> bool:
    return any(fnmatch(_relative(path), pattern) for pattern in HTTP_LAYER)


def web_imports(source: str) -> list[str]:
    """Every import of fastapi or starlette in the source, wherever it is (in a function, under
    TYPE_CHECKING) and whatever its form, as 'line: module'."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        for name in names:
            if name.split(".")[0] in WEB_PACKAGES:
                found.append(f"{node.lineno}: {name}")
    return found


def test_the_checker_finds_every_form_of_import() -> None:
    source = (
        "import os\n"
        "import fastapi\n"
        "import starlette.types as t\n"
        "from fastapi.responses import JSONResponse\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from starlette.requests import Request\n"
        "def f():\n"
        "    from fastapi import Request\n"
        "import fastapi_extra\n"  # another distribution, not FastAPI
    )
    assert web_imports(source) == [
        "2: fastapi",
        "3: starlette.types",
        "4: fastapi.responses",
        "7: starlette.requests",
        "9: fastapi",
    ]


def test_every_pattern_of_the_http_layer_names_a_module() -> None:
    # A pattern left behind by a rename would quietly exempt whatever takes the name later.
    unused = [p for p in HTTP_LAYER if not any(fnmatch(_relative(m), p) for m in _modules())]
    assert not unused


def test_services_and_domain_modules_are_checked() -> None:
    checked = {_relative(m) for m in _modules() if not _is_http_layer(m)}
    for module in (
        "auth/caller.py",
        "errors.py",
        "registry/service.py",
        "registry/repository.py",
        "registry/models.py",
        "registry/schemas.py",
        "batches/commands.py",
        "audit/service.py",
        "console/service.py",
        "identity/records.py",
        "matching/scoring.py",
        "idgen/service.py",
    ):
        assert module in checked


@pytest.mark.parametrize("module", [_relative(m) for m in _modules() if not _is_http_layer(m)])
def test_module_outside_the_http_layer_does_not_import_fastapi_or_starlette(module: str) -> None:
    source = (GATEWAY / module).read_text(encoding="utf-8")
    assert not web_imports(source), f"gateway/{module} imports the web framework: move it to a route"
