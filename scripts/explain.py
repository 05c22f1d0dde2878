"""EXPLAIN (ANALYZE, BUFFERS) of the main queries, exactly as the services send them.

    REGISTRY_DATABASE_URL=… .venv/bin/python scripts/explain.py [--out docs/explain.md]

Runs the service calls behind the busiest screens against a generated dataset
(``registry dataset generate``) with a listener that captures every SQL statement and its
parameters, then asks PostgreSQL to explain each one on the same connection. The plans, with
timings and buffers, are written to a Markdown file: the evidence for the indexes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg
from sqlalchemy import event, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor, Grant
from registry.config import Settings
from registry.db import (
    SEARCH_SETTINGS,
    FixedReads,
    create_engine,
    create_session_maker,
    driver_connection,
    explain_prepared,
)
from registry.models import Practitioner
from registry.practitioners import service as practitioners
from registry.rules.facts import load_facts

DEFAULT_OUT = str(Path(__file__).resolve().parent.parent / "docs" / "explain.md")


def _write(path: str, content: str) -> None:
    Path(path).write_text(content, encoding="utf-8")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=DEFAULT_OUT)
    args = parser.parse_args()
    url = Settings().database_url
    if not url:
        raise SystemExit("Set REGISTRY_DATABASE_URL to the generated dataset's database.")
    engine = create_engine(url, pool_size=1)
    captured: list[tuple[str, str, Any]] = []
    label = {"now": ""}

    @event.listens_for(engine.sync_engine, "before_cursor_execute")
    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if label["now"] and statement.lstrip().upper().startswith("SELECT"):
            captured.append((label["now"], statement, parameters))

    maker = create_session_maker(engine)
    async with maker() as session:
        some = (await session.execute(select(Practitioner).order_by(Practitioner.id).offset(777).limit(1))).scalar_one()
        province = (some.region_code or "420000")[:2] + "0000"
        clerk = Actor(
            user_id=None,
            username="explain",
            display_name="explain",
            grants=(Grant(id=1, role="civil_affairs", region_code=province),),
        )
        calls = [
            ("name search, province clerk (王明)", practitioners.SearchFilters(name="王明")),
            ("pinyin initials (zs), province clerk", practitioners.SearchFilters(name="zs")),
            ("ID number, exact", practitioners.SearchFilters(id_number=some.id_number)),
            ("region subtree, a county, first page", practitioners.SearchFilters(region=some.region_code)),
            ("level and in post in the province", practitioners.SearchFilters(level="senior", in_post=True)),
        ]
        searches: list[tuple[str, str, Any]] = []  # the fixed name search: on connections of its own
        for name, filters in calls:
            label["now"] = name
            # The fixed statements go to the driver connection, past the event: traced here.
            trace: list[tuple[str, tuple[Any, ...]]] = []
            await practitioners.search_practitioners(FixedReads(None, session, clerk, trace), clerk, filters)
            searches.extend((name, sql, args) for sql, args in trace)
        label["now"] = "a practitioner's record"
        trace = []
        await practitioners.practitioner_record(FixedReads(None, session, clerk, trace), clerk, some.id)
        captured.extend(("a practitioner's record", sql, args) for sql, args in trace)
        label["now"] = "a practitioner's facts for the decisions"
        await load_facts(session, some)
        label["now"] = ""
        count = await session.scalar(text("SELECT count(*) FROM practitioner"))
        sections = [
            "# Query plans on the generated national dataset",
            "",
            f"{dt.date.today()}, `scripts/explain.py` on `{engine.url.database}`: "
            f"{count:,} practitioners. Each statement is "
            "the one the service sent (captured), explained with its own parameters.",
        ]
        for name, statement, parameters in captured:
            plan = await _explain(session, statement, parameters)
            sections += ["", f"## {name}", "", "```sql", statement.strip(), "```", "", "```text", plan, "```"]
        # As the service's search pool plans it: once, without the values (SEARCH_SETTINGS).
        search = await asyncpg.connect(
            url.replace("postgresql+asyncpg://", "postgresql://"), server_settings=SEARCH_SETTINGS
        )
        try:
            for name, statement, parameters in searches:
                plan = await explain_prepared(search, statement, parameters, analyze=True)
                title = f"{name} (the search pool's generic plan)"
                sections += ["", f"## {title}", "", "```sql", statement.strip(), "```", "", "```text", plan, "```"]
        finally:
            await search.close()
    await engine.dispose()
    _write(args.out, "\n".join(sections) + "\n")
    print(f"{len(captured)} plans written to {args.out}")


async def _explain(session: AsyncSession, statement: str, parameters: Any) -> str:
    """EXPLAIN through the raw asyncpg connection, with the statement's own $n parameters."""
    rows = await (await driver_connection(session)).fetch(
        "EXPLAIN (ANALYZE, BUFFERS) " + statement, *(parameters or ())
    )
    return "\n".join(r[0] for r in rows)


if __name__ == "__main__":
    asyncio.run(main())
