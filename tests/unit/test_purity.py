"""The pure core never touches pyflink: importable and testable without Flink."""

import ast
import pkgutil
import subprocess
import sys
from pathlib import Path

import udfs

ROOT = Path(__file__).resolve().parents[2]
UDFS_DIR = Path(udfs.__file__).parent


def udfs_modules() -> list[str]:
    return sorted(f"udfs.{m.name}" for m in pkgutil.iter_modules([str(UDFS_DIR)]))


def test_udfs_has_the_modules_under_test() -> None:
    expected = {"events", "ledger", "localday", "money", "pay", "schedule", "timefmt", "zones"}
    expected |= {"weekly", "zones_history"}
    assert {f"udfs.{name}" for name in expected} <= set(udfs_modules())


def test_importing_every_udfs_module_in_a_fresh_interpreter_does_not_load_pyflink() -> None:
    script = (
        "import importlib, sys\n"
        f"for name in {udfs_modules()!r}:\n"
        "    importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m == 'pyflink' or m.startswith('pyflink.'))\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == ""


def _docstring_nodes(tree: ast.AST) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_no_udfs_source_imports_or_names_pyflink_outside_docs_and_comments() -> None:
    offenders = []
    for path in sorted(UDFS_DIR.glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        docs = _docstring_nodes(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                names = [node.value] if id(node) not in docs else []
            else:
                continue
            if any("pyflink" in name.lower() for name in names):
                offenders.append(f"{path.name}:{node.lineno}")
    assert offenders == []
