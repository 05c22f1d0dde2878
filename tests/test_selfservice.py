"""Self-service (/me, /api/me) is its own feature: accounts knows who the user is and nothing of
the record features, and the pages a practitioner reads keep rule ids and source notes out."""

from __future__ import annotations

import ast
from pathlib import Path

import registry

PACKAGE = Path(registry.__file__).parent
# What accounts may not import: the features the own-record view is built from, and the pages.
ABOVE_ACCOUNTS = (
    "registry.selfservice",
    "registry.certificates",
    "registry.rules",
    "registry.ce_audit",
    "registry.practitioners",
    "registry.education",
    "registry.payroll",
    "registry.web.pages",
    "registry.web.record",
)


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_accounts_keeps_only_accounts() -> None:
    found = {
        (path.name, name)
        for path in sorted((PACKAGE / "accounts").glob("*.py"))
        for name in _imports(path)
        if name.startswith(ABOVE_ACCOUNTS)
    }
    assert not found, f"accounts reaches up into other features: {sorted(found)}"
    # and self-service is where /me lives
    assert "registry.selfservice.controllers" in _imports(PACKAGE / "app.py")
