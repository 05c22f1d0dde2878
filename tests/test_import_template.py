"""The import template's example rows pass the template's own check on the demo data, for each
role that may import: they name a region and an organisation in the importer's own scope."""

from __future__ import annotations

import datetime as dt

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.demo import seed_demo
from registry.models import User
from tests.accounts import bearer, make_token
from tests.test_imports import upload


@pytest.mark.parametrize("username", ["clerk", "orghr"])
async def test_the_template_as_downloaded_passes_its_own_dry_run(
    anonymous: httpx.AsyncClient, session: AsyncSession, username: str
) -> None:
    await seed_demo(session, practitioners=60, seed=3, today=dt.date(2026, 11, 22))
    user = (await session.scalars(select(User).where(User.username == username))).one()
    headers = bearer(await make_token(session, user))
    template = await anonymous.get("/api/imports/template.xlsx", headers=headers)
    assert template.status_code == 200
    checked = await upload(anonymous, headers, template.content, name="导入模板.xlsx")
    assert checked["problems"] == [], checked["problems"]
    assert checked["can_commit"] is True
    # Not an empty template passing trivially: every example row is there and would be written.
    counts = checked["summary"]["counts"]
    expected = {"practitioners", "employment", "certifications", "registrations", "ce", "salaries"}
    if username == "clerk":
        expected.add("organizations")  # the unit's HR may not register units: no example there
    assert {kind for kind, c in counts.items() if c.get("created")} == expected, counts
