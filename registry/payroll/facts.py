"""What the payroll reads about people: their facts for the evaluator (Core rows, not ORM
objects), and how a decision is written on a line (依据 and the findings)."""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

from sqlalchemy import BigInteger, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certifications.history import certs_of
from registry.models import Employment, Organization, Practitioner
from registry.rules.model import Decision, Facts, Spell


async def load_people(session: AsyncSession, ids: list[int]) -> tuple[dict[int, Any], dict[int, Facts], dict[int, str]]:

    def wanted() -> Any:
        return func.unnest(bindparam("candidates", ids, type_=ARRAY(BigInteger))).table_valued("pid").render_derived()

    people_ids, spell_ids = wanted(), wanted()
    people = {
        p.id: p
        for p in (
            await session.execute(
                select(
                    Practitioner.id,
                    Practitioner.name,
                    Practitioner.id_number,
                    Practitioner.birth_date,
                    Practitioner.education,
                    Practitioner.region_code,
                ).join(people_ids, people_ids.c.pid == Practitioner.id)
            )
        ).all()
    }
    spells: dict[int, list[Spell]] = defaultdict(list)
    org_names: dict[int, str] = {}
    for row in (
        await session.execute(
            select(
                Employment.practitioner_id,
                Employment.organization_id,
                Organization.region_code,
                Organization.name,
                Employment.post_type,
                Employment.duty_level,
                Employment.in_post_from,
                Employment.in_post_to,
            )
            .join(Organization, Organization.id == Employment.organization_id)
            .join(spell_ids, spell_ids.c.pid == Employment.practitioner_id)
        )
    ).all():
        spells[row.practitioner_id].append(
            Spell(row.organization_id, row.region_code, row.post_type, row.duty_level, row.in_post_from, row.in_post_to)
        )
        org_names[row.organization_id] = row.name
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
