"""The code each step's job runs: its entry point and every module of the package it may import.

A step's code tarball holds only these files, so its content-addressed key (and with it the
step's cache key) changes only when code the step runs changes: an edit of the evaluate step
leaves Preprocess and Train cached. The set is found by reading the source, not by importing
it: every ``import`` statement of the ``forecasting`` package counts, inside functions too (the
families import their heavy modules when called), except those under ``if TYPE_CHECKING:``,
which never run. Two rules keep it complete where reading cannot see an import:

* the family registry (``forecasting.families``) may dispatch to any family, so importing it
  brings in every ``forecasting/models/<family>/family.py``;
* the train step copies its package into the model artifact, which serves through
  ``forecasting.inference.handler`` (``forecasting.artifact``): Train's code includes it, and
  an edit of the inference code is a new model.

A dynamic import (``importlib.import_module``) of a package module is not seen; the guard test
(tests/model_build/pipeline/test_step_code.py) runs each step and checks that every package
module it loaded is in its set. A module left out fails the job with ModuleNotFoundError: the
tarball holds nothing else.
"""

from __future__ import annotations

import ast
from pathlib import Path

from forecasting.errors import ConfigError
from forecasting.pipeline.steps import STEPS

PACKAGE = "forecasting"
REGISTRY = "forecasting.families"
TRAIN_PROGRAM = "entry_train.py"  # the training toolkit runs this file from the source dir
# What a step's job starts: its module, and for Train the program the toolkit runs and the
# inference entry point the artifact carries.
EXTRA_ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    "Train": (TRAIN_PROGRAM, "forecasting.inference.handler"),
}
ENTRY_POINTS: dict[str, tuple[str, ...]] = {
    s.name: (s.module, *EXTRA_ENTRY_POINTS.get(s.name, ())) for s in STEPS if s.module
}


def module_file(root: Path, name: str) -> Path | None:
    """The file of package module ``name`` under ``root`` (the model_build folder), if any."""
    base = root.joinpath(*name.split("."))
    for path in (base / "__init__.py", base.with_suffix(".py")):
        if path.is_file():
            return path
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: at any depth, except ``if TYPE_CHECKING:`` bodies
    (their ``else`` branch runs)."""
    found: list[ast.Import | ast.ImportFrom] = []
    pending: list[ast.AST] = [tree]
    while pending:
        node = pending.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            pending.extend(node.orelse)
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        pending.extend(ast.iter_child_nodes(node))
    return found


def imported_names(path: Path, name: str) -> set[str]:
    """The module names ``path`` (module ``name``) may import, each ``from X import y`` as both
    ``X`` and ``X.y`` (``y`` may be a submodule)."""
    try:
        tree = ast.parse(path.read_bytes(), filename=str(path))
    except SyntaxError as err:
        raise ConfigError(f"{path}, line {err.lineno}: {err.msg}") from None
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    names: set[str] = set()
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
            continue
        if node.level:  # relative: from the package, one level up per extra dot
            parts = package.split(".")
            base = ".".join(parts[: len(parts) - node.level + 1])
            base = f"{base}.{node.module}" if node.module else base
        else:
            base = node.module or ""
        names.add(base)
        names.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
    return names


def _with_parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts) + 1)]


def family_modules(root: Path) -> list[str]:
    """Every family the registry may dispatch to: ``forecasting/models/<name>/family.py``."""
    return sorted(
        f"{PACKAGE}.models.{path.parent.name}.family"
        for path in (root / PACKAGE / "models").glob("*/family.py")
    )


def package_modules(root: Path, entry_points: tuple[str, ...]) -> set[str]:
    """The package modules reachable from ``entry_points`` (module names, or files beside the
    package such as ``entry_train.py``), their parent packages included."""
    seen: set[str] = set()
    pending: list[str] = []
    for entry in entry_points:
        if entry.endswith(".py"):
            program = root / entry
            if not program.is_file():
                raise ConfigError(f"{program}: the entry point is missing")
            pending.extend(imported_names(program, entry.removesuffix(".py")))
        elif module_file(root, entry) is None:
            raise ConfigError(f"{entry}: no such module under {root / PACKAGE}")
        else:
            pending.append(entry)
    while pending:
        name = pending.pop()
        if name != PACKAGE and not name.startswith(PACKAGE + "."):
            continue
        for module in _with_parents(name):
            path = module_file(root, module)
            if module in seen or path is None:  # an attribute, not a module (X.y)
                continue
            seen.add(module)
            pending.extend(imported_names(path, module))
            if module == REGISTRY:
                pending.extend(family_modules(root))
    return seen


def step_files(root: Path, step: str) -> list[str]:
    """The files (relative to ``root``, POSIX) the step's job needs, sorted."""
    if step not in ENTRY_POINTS:
        raise ConfigError(f"step {step!r} runs no code; steps with code: {', '.join(ENTRY_POINTS)}")
    entry_points = ENTRY_POINTS[step]
    modules = package_modules(root, entry_points)
    paths = {module_file(root, m) for m in modules}
    files = {p.relative_to(root).as_posix() for p in paths if p is not None}
    files.update(e for e in entry_points if e.endswith(".py"))
    return sorted(files)
