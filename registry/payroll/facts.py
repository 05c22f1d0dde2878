"""What the payroll reads about people: their facts for the evaluator (Core rows, not ORM
objects), and how a decision is written on a line (依据 and the findings)."""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from typing import NamedTuple

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certifications.history import certs_of
from registry.models import Employment, Organization, Practitioner
from registry.rules.model import Decision, Facts, Spell


class Person(NamedTuple):
    id: int
    name: str
    id_number: str
    birth_date: dt.date
    education: str
    region_code: str | None


async def load_people(
    session: AsyncSession, ids: list[int]
) -> tuple[dict[int, Person], dict[int, Facts], dict[int, str]]:
    """People and their spells read with the driver (a province at once: its records are built
    in C, SQLAlchemy's rows cost more than the reading), looked up by index from an array."""
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    assert driver is not None
    people = {
        r[0]: Person(*r)
        for r in await driver.fetch(
            "SELECT p.id, p.name, p.id_number, p.birth_date, p.education, p.region_code"
            " FROM unnest($1::bigint[]) AS w(pid) JOIN practitioner p ON p.id = w.pid",
            ids,
        )
    }
    spells: dict[int, list[Spell]] = defaultdict(list)
    org_names: dict[int, str] = {}
    for pid, org, region, org_name, post_type, duty_level, start, end in await driver.fetch(
        "SELECT e.practitioner_id, e.organization_id, o.region_code, o.name, e.post_type, e.duty_level,"
        " e.in_post_from, e.in_post_to FROM unnest($1::bigint[]) AS w(pid)"
        " JOIN employment e ON e.practitioner_id = w.pid JOIN organization o ON o.id = e.organization_id",
        ids,
    ):
        spells[pid].append(Spell(org, region, post_type, duty_level, start, end))
        org_names[org] = org_name
    certs = await certs_of(session, list(people))
    facts = {
        pid: Facts(
            practitioner_id=pid,
            birth_date=p.birth_date,
            education=p.education,
            region_code=p.region_code,
            spells=tuple(spells[pid]),
            certs=tuple(certs.get(pid, ())),
        )
        for pid, p in people.items()
    }
    return people, facts, org_names


async def load_one(session: AsyncSession, practitioner_id: int) -> tuple[dict[int, Facts], dict[int, str]]:
    person = await session.get(Practitioner, practitioner_id)
    assert person is not None
    rows = (
        await session.execute(
            select(Employment, Organization.region_code, Organization.name)
            .join(Organization, Organization.id == Employment.organization_id)
            .where(Employment.practitioner_id == practitioner_id)
        )
    ).all()
    certs = (await certs_of(session, [practitioner_id])).get(practitioner_id, [])
    fact = Facts(
        practitioner_id=person.id,
        birth_date=person.birth_date,
        education=person.education,
        region_code=person.region_code,
        spells=tuple(
            Spell(e.organization_id, region, e.post_type, e.duty_level, e.in_post_from, e.in_post_to)
            for e, region, _ in rows
        ),
        certs=tuple(certs),
    )
    return {person.id: fact}, {e.organization_id: name for e, _, name in rows}


def findings_json(decision: Decision) -> str:
    return json.dumps(
        [
            {
                "rule_ref": f.rule_ref,
                "rule_id": f.rule_id,
                "version": f.version,
                "met": f.met,
                "text": f.text,
                "citation": f.citation,
            }
            for f in decision.findings
        ],
        ensure_ascii=False,
    )


def basis_of(decision: Decision) -> str:
    """依据: the rule, what was found and where it is written, on one line for the export."""
    first = decision.findings[0]
    met = "；".join(f.text.rstrip("。") for f in decision.findings if f.met)
    return f"{first.rule_ref}：{met}。{first.citation}"
