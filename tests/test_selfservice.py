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


def test_the_summary_keeps_class_hours_and_hours_apart_and_says_why() -> None:
    """学时 and 小时 are shown as the proofs give them, never added up (a 学时 is 45 minutes);
    when both appear, the page says so in words."""
    import datetime as dt
    from decimal import Decimal
    from types import SimpleNamespace

    from jinja2 import Environment, FileSystemLoader

    from registry.app import TEMPLATES
    from registry.rules.plain import plain
    from registry.web.record import ce_summary

    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=True)
    env.filters["plain"] = plain
    template = env.get_template("me/_summary.html")

    def page(*records: tuple[str, str, str]) -> str:
        rows = [SimpleNamespace(hours=Decimal(h), unit=u, status=s) for h, u, s in records]
        return template.render(
            decisions=SimpleNamespace(decisions=[]), ce_summary=ce_summary(rows), today=dt.date(2026, 12, 2)
        )

    both = page(
        ("6", "学时", "verified"), ("2.5", "学时", "verified"), ("4", "小时", "verified"), ("3", "小时", "pending")
    )
    assert "已核验 8.5 学时、4 小时" in both and "另有 1 条等待核验" in both
    assert "每学时 45 分钟" in both
    one = page(("6", "学时", "verified"))
    assert "已核验 6 学时" in one and "45 分钟" not in one
