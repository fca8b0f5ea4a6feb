"""The repository explains itself and keeps its layers: docs/architecture.md names only
paths that exist, and `make lint` (lint-imports, contracts in pyproject.toml) refuses an
import that goes the wrong way."""

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).parent.parent
PACKAGES = (
    "core", "crm_sync", "segments", "broadcasts", "migrations", "bot", "cli", "demo",
    "telegram_emulator",
)  # fmt: skip
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
# A backticked name in the docs that is a path: has a slash, or a file suffix.
PATH = re.compile(r"`([\w./-]+/[\w./-]*|[\w/-]+\.(?:py|md|yaml|toml|ini|po))`")
MODULE = re.compile(rf"`((?:{'|'.join(PACKAGES)})(?:\.\w+)+)`")


def _documented(pattern: re.Pattern[str]) -> set[str]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    return set(pattern.findall(text))


def _module_exists(dotted: str) -> bool:
    """`a.b.c` is a module file or package, or a name defined in one (`bot.runtime.run`)."""
    parts = dotted.split(".")
    for end in range(len(parts), 0, -1):
        base = ROOT.joinpath(*parts[:end])
        for candidate in (base.with_suffix(".py"), base / "__init__.py"):
            if candidate.exists():
                rest = parts[end:]
                if not rest:
                    return True
                return (
                    re.search(
                        rf"^\s*(?:async def|def|class)? ?{rest[0]}\b",
                        candidate.read_text(encoding="utf-8"),
                        re.MULTILINE,
                    )
                    is not None
                )
    return False


def test_every_path_the_architecture_names_exists() -> None:
    paths = _documented(PATH)
    assert len(paths) > 20  # the doc names the rooms it describes
    missing = sorted(path for path in paths if not (ROOT / path.split(":")[0]).exists())
    assert missing == []


def test_every_module_the_architecture_names_exists() -> None:
    modules = _documented(MODULE)
    assert len(modules) > 5
    assert sorted(module for module in modules if not _module_exists(module)) == []


def test_nothing_points_outside_the_repository_for_its_design() -> None:
    outside = "DESIGN" + ".md"  # spelled apart so this file does not name it
    named = [
        str(path.relative_to(ROOT))
        for folder in (*PACKAGES, "tests", "benchmarks", "docs", "deploy")
        for path in (ROOT / folder).rglob("*")
        if path.is_file()
        and path.suffix in {".py", ".md", ".yaml", ".toml"}
        and outside in path.read_text(encoding="utf-8")
    ]
    top = [
        path.name
        for path in ROOT.glob("*.*")
        if path.is_file() and outside in path.read_text(encoding="utf-8", errors="replace")
    ]
    assert named + top == []


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 (our own tool on our own copy)
        [str(LINT_IMPORTS), "--config", str(tree / "pyproject.toml"), "--no-cache"],
        cwd=tree,
        env={**os.environ, "PYTHONPATH": str(tree)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A copy of the packages and pyproject.toml, to break on purpose."""
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


@pytest.mark.skipif(not LINT_IMPORTS.exists(), reason="lint-imports is a dev dependency")
def test_lint_refuses_a_wrong_way_import(tree: Path) -> None:
    assert _lint_imports(tree).returncode == 0, "the copy keeps its layers before the change"
    with (tree / "segments" / "levels.py").open("a", encoding="utf-8") as module:
        module.write("\nfrom broadcasts import campaigns  # noqa: E402,F401\n")
    with (tree / "core" / "clock.py").open("a", encoding="utf-8") as module:
        module.write("\nimport aiogram  # noqa: E402,F401\n")
    result = _lint_imports(tree)
    assert result.returncode != 0
    assert "segments.levels -> broadcasts.campaigns" in result.stdout
    assert "core.clock -> aiogram" in result.stdout
    assert "Contracts: 2 kept, 2 broken." in result.stdout
