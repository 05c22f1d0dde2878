"""What the payroll reads about people: their facts for the evaluator (Core rows, not ORM
objects), and how a decision is written on a line (依据 and the findings)."""

from __future__ import annotations

import datetime as dt
from typing import NamedTuple

import msgspec
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certifications.history import certs_of
from registry.rules.facts import driver_of, load_spells
from registry.rules.model import Decision, Facts


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
    """People, their spells and certificates (a province at once, read with the driver); the
    payroll's facts need nothing else (no CE, pay or awards), so they are not read."""
    people = {
        r[0]: Person(*r)
        for r in await (await driver_of(session)).fetch(
            "SELECT p.id, p.name, p.id_number, p.birth_date, p.education, p.region_code"
            " FROM unnest($1::bigint[]) AS w(pid) JOIN practitioner p ON p.id = w.pid",
            ids,
        )
    }
    spells, org_names = await load_spells(session, list(people))
    certs = await certs_of(session, list(people))
    facts = {
        pid: Facts(
            practitioner_id=pid,
            birth_date=p.birth_date,
            education=p.education,
            region_code=p.region_code,
            spells=tuple(spells.get(pid, ())),
            certs=tuple(certs.get(pid, ())),
        )
        for pid, p in people.items()
    }
    return people, facts, org_names


async def load_one(session: AsyncSession, practitioner_id: int) -> tuple[dict[int, Facts], dict[int, str]]:
    _, facts, org_names = await load_people(session, [practitioner_id])
    return facts, org_names


def findings_json(decision: Decision) -> str:
    """The findings as JSON for the JSONB column (msgspec: a payroll run writes one per line)."""
    return _JSON.encode(
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
        ]
    ).decode()


_JSON = msgspec.json.Encoder()


def basis_of(decision: Decision) -> str:
    """依据: the rule, what was found and where it is written, on one line for the export."""
    first = decision.findings[0]
    met = "；".join(f.text.rstrip("。") for f in decision.findings if f.met)
    return f"{first.rule_ref}：{met}。{first.citation}"
