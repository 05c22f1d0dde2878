# ruff: noqa: S608  (staging table names are built from the job id and a fixed kind name, never from input)
"""Writing a checked plan: each kind is copied (COPY) into a temporary staging table, then
created and updated by a few set-based statements that also write one audit row per record
(with the values before and after, and the import, sheet and row it came from).

Everything runs in the caller's transaction: the commit of an import is all or nothing.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.imports.check import KINDS_ORDER, Plan
from registry.practitioners.names import name_tokens
from registry.practitioners.service import refresh_jurisdiction

log = logging.getLogger("registry.imports")

# Derived columns that the audit trail leaves out (as audit.service.snapshot does).
SKIP = ["name_tokens", "created_at", "updated_at"]

Tick = Callable[[int], Awaitable[None]]


@lru_cache(maxsize=65_536)
def _tokens(name: str) -> tuple[str, ...]:
    # Pinyin for the search tokens is the dearest step per row (about 45 µs); names repeat.
    return tuple(name_tokens(name))


def _add_tokens(rows: list[dict[str, Any]]) -> None:
    # Staged as one space-separated text (a name has no spaces once normalized) and split in
    # SQL: encoding 100,000 arrays for COPY costs more than the tokens do.
    for r in rows:
        if r["action"] != "bank":  # a row that brings only the bank account
            r["name_tokens"] = " ".join(_tokens(r["name"]))


async def driver_of(session: AsyncSession) -> Any:
    conn = await session.connection()
    raw = await conn.get_raw_connection()
    driver = raw.driver_connection
    assert driver is not None
    return driver


_AUDIT_COLUMNS = (
    "actor_user_id, actor_name, action, entity_type, entity_id, before, after, detail,"
    " request_id, client_ip, region_code, organization_id, practitioner_id"
)


def _detail(stage: str) -> str:
    return f"jsonb_build_object('import_id', $3::bigint, 'sheet', {stage}.sheet, 'row', {stage}.row)"


STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "organizations": (
        "id bigint, pseudo_id bigint, name text, credit_code text, org_type text, region_code text,"
        " founded_on date, closed_on date",
        ("id", "pseudo_id", "name", "credit_code", "org_type", "region_code", "founded_on", "closed_on"),
    ),
    "practitioners": (
        "id bigint, name text, name_tokens text, id_number text, birth_date date, sex text, phone text,"
        " education text, social_work_major boolean, household_region_code text, organization_id bigint,"
        " region_code text, bank_account_number text, bank_name text",
        (
            "id",
            "name",
            "name_tokens",
            "id_number",
            "birth_date",
            "sex",
            "phone",
            "education",
            "social_work_major",
            "household_region_code",
            "organization_id",
            "region_code",
            "bank_account_number",
            "bank_name",
        ),
    ),
    "employment": (
        "id bigint, id_number text, practitioner_id bigint, organization_id bigint, post_type text,"
        " duty_level text, in_post_from date, in_post_to date",
        (
            "id",
            "id_number",
            "practitioner_id",
            "organization_id",
            "post_type",
            "duty_level",
            "in_post_from",
            "in_post_to",
        ),
    ),
    "certifications": (
        "id bigint, id_number text, practitioner_id bigint, certificate_number text, level text, exam_year int,"
        " registration_valid_from date, registration_valid_to date, registration_authority text,"
        " period_id bigint, period_changed boolean, facts_changed boolean, verify boolean, verified_on date,"
        " verification_evidence text",
        (
            "id",
            "id_number",
            "practitioner_id",
            "certificate_number",
            "level",
            "exam_year",
            "registration_valid_from",
            "registration_valid_to",
            "registration_authority",
            "period_id",
            "period_changed",
            "facts_changed",
            "verify",
            "verified_on",
            "verification_evidence",
        ),
    ),
    "registrations": (
        "id bigint, id_number text, practitioner_id bigint, certificate_number text, kind text, start_date date,"
        " end_date date, authority text, note text, replaces_id bigint",
        (
            "id",
            "id_number",
            "practitioner_id",
            "certificate_number",
            "kind",
            "start_date",
            "end_date",
            "authority",
            "note",
            "replaces_id",
        ),
    ),
    "ce": (
        "id bigint, id_number text, practitioner_id bigint, activity_date date, hours numeric(4,1), unit text,"
        " category text, provider text, course text",
        ("id", "id_number", "practitioner_id", "activity_date", "hours", "unit", "category", "provider", "course"),
    ),
    "salaries": (
        "id bigint, id_number text, practitioner_id bigint, year int, amount numeric(12,2), organization_id bigint",
        ("id", "id_number", "practitioner_id", "year", "amount", "organization_id"),
    ),
}
_COMMON = ("row", "sheet", "action", "a_region", "a_org")


async def write_plan(
    session: AsyncSession, actor: Actor, job_id: int, plan: Plan, *, today: dt.date, tick: Tick | None = None
) -> None:
    driver = await driver_of(session)
    moved: list[int] = []
    # Organizations created by this file, by the stand-in id the check gave them (minus the row).
    new_orgs: dict[int, int] = {}
    args = (actor.user_id, actor.username[:60], job_id, actor.request_id or f"import-{job_id}", actor.client_ip)
    for kind in KINDS_ORDER:
        rows = plan.writes[kind]
        if not rows:
            continue
        table = f"import_stage_{job_id}_{kind}"
        definition, columns = STAGES[kind]
        await driver.execute(
            f"CREATE TEMP TABLE {table} (row int, sheet text, action text, a_region text, a_org bigint, {definition})"
            " ON COMMIT DROP"
        )
        if kind == "practitioners":
            # Pinyin for 100,000 names takes seconds: off the event loop, so the server answers meanwhile.
            started = time.perf_counter()
            await asyncio.to_thread(_add_tokens, rows)
            log.debug("import %s tokens: %.2f s", job_id, time.perf_counter() - started)
        started = time.perf_counter()
        for r in rows:
            for key in ("organization_id", "a_org"):
                if isinstance(r.get(key), int) and r[key] < 0:
                    r[key] = new_orgs[r[key]]
        names = (*_COMMON, *columns)
        records = [tuple(map(r.get, names)) for r in rows]
        await driver.copy_records_to_table(table, records=records, columns=[*_COMMON, *columns])
        # Temporary tables have no statistics until analysed; without them the joins below are
        # planned for a few hundred rows.
        await driver.execute(f"ANALYZE {table}")
        log.debug("import %s %s staged: %.2f s", job_id, kind, time.perf_counter() - started)
        if kind not in ("practitioners", "organizations"):
            await driver.execute(
                f"UPDATE {table} s SET practitioner_id = p.id FROM practitioner p"
                " WHERE s.practitioner_id IS NULL AND p.id_number = s.id_number"
            )
        started = time.perf_counter()
        for statement in _STATEMENTS[kind](table):
            await driver.execute(statement, *args, SKIP)
            log.debug("import %s %s: %.2f s", job_id, statement[:60], time.perf_counter() - started)
            started = time.perf_counter()
        if kind == "employment":
            moved = [int(r[0]) for r in await driver.fetch(f"SELECT DISTINCT practitioner_id FROM {table}")]
        if kind == "organizations":
            new_orgs = {
                int(r[0]): int(r[1])
                for r in await driver.fetch(
                    f"SELECT s.pseudo_id, o.id FROM {table} s JOIN organization o ON {_SAME_ORG}"
                    " WHERE s.action = 'create'"
                )
            }
        await driver.execute(f"DROP TABLE {table}")
        if tick is not None:
            await tick(len(rows))
    # Employers decide where people belong: one set-based pass over the people whose spells the
    # file wrote (nobody else's record is touched by an import).
    started = time.perf_counter()
    if moved:
        await refresh_jurisdiction(session, today=today, practitioner_ids=moved)
    log.debug("import %s jurisdiction: %.2f s", job_id, time.perf_counter() - started)


def _audit(
    entity: str, action: str, source: str, table: str, join: str, *, before: str = "NULL", extra: str = ""
) -> str:
    after = f"to_jsonb(n) - $6::text[]{extra}"
    person = {"practitioner": "n.id", "organization": "NULL::bigint"}.get(entity, "n.practitioner_id")
    org = "n.id" if entity == "organization" else "s.a_org"
    return (
        f"INSERT INTO audit_event ({_AUDIT_COLUMNS})"
        f" SELECT $1, $2, '{action}', '{entity}', n.id::text, {before}, {after}, {_detail('s')}, $4, $5,"
        f" s.a_region, {org}, {person}"
        f" FROM {source} JOIN {table} s ON {join}"
    )


# A created organization is the stage row with its code, or without one its name and region.
_SAME_ORG = (
    "((s.credit_code IS NOT NULL AND o.credit_code = s.credit_code)"
    " OR (s.credit_code IS NULL AND o.credit_code IS NULL AND o.name = s.name AND o.region_code = s.region_code))"
)


def _organizations(t: str) -> list[str]:
    cols = "name, credit_code, org_type, region_code, founded_on, closed_on"
    create = (
        f"WITH n AS (INSERT INTO organization ({cols}) SELECT {cols} FROM {t} WHERE action = 'create' ORDER BY row"
        " RETURNING *) "
        + _audit("organization", "create", "n", t, "s.action = 'create' AND " + _SAME_ORG.replace("o.", "n."))
    )
    update = (
        f"WITH o AS (SELECT g.* FROM organization g JOIN {t} s ON s.id = g.id AND s.action = 'update'),"
        " n AS (UPDATE organization g SET name = s.name, org_type = s.org_type, founded_on = s.founded_on,"
        f" closed_on = s.closed_on, updated_at = now() FROM {t} s WHERE s.id = g.id AND s.action = 'update'"
        " RETURNING g.*) "
        + _audit(
            "organization",
            "update",
            "n JOIN o ON o.id = n.id",
            t,
            "s.id = n.id AND s.action = 'update'",
            before="to_jsonb(o) - $6::text[]",
        )
    )
    return [create, update]


def _practitioners(t: str) -> list[str]:
    cols = (
        "name, name_tokens, id_number, birth_date, sex, phone, education, social_work_major,"
        " household_region_code, organization_id, region_code"
    )
    staged = cols.replace("name_tokens", "string_to_array(name_tokens, ' ')")
    create = (
        f"WITH n AS (INSERT INTO practitioner ({cols}) SELECT {staged} FROM {t} WHERE action = 'create' ORDER BY row"
        " RETURNING *) " + _audit("practitioner", "create", "n", t, "s.id_number = n.id_number AND s.action = 'create'")
    )
    update = (
        f"WITH o AS (SELECT p.* FROM practitioner p JOIN {t} s ON s.id = p.id AND s.action = 'update'),"
        " n AS (UPDATE practitioner p SET name = s.name, name_tokens = string_to_array(s.name_tokens, ' '), phone = s.phone,"
        " education = s.education, social_work_major = s.social_work_major,"
        " household_region_code = s.household_region_code, updated_at = now()"
        f" FROM {t} s WHERE s.id = p.id AND s.action = 'update' RETURNING p.*) "
        + _audit(
            "practitioner",
            "update",
            "n JOIN o ON o.id = n.id",
            t,
            "s.id = n.id AND s.action = 'update'",
            before="to_jsonb(o) - $6::text[]",
        )
    )
    return [create, update, _bank_accounts(t)]


def _bank_accounts(t: str) -> str:
    """A row's bank account, as a new row of the person's account history unless it is the
    account they have; the trail keeps it masked (as registry/practitioners/bank.py does)."""
    masked = "left(n.account_number, 4) || repeat('*', length(n.account_number) - 8) || right(n.account_number, 4)"
    return (
        "WITH n AS (INSERT INTO bank_account (practitioner_id, account_number, bank_name, source, created_by_id)"
        " SELECT p.id, s.bank_account_number, s.bank_name, 'import', $1"
        f" FROM {t} s JOIN practitioner p ON p.id_number = s.id_number"
        " WHERE s.bank_account_number IS NOT NULL AND NOT EXISTS (SELECT FROM (SELECT b.account_number, b.bank_name"
        " FROM bank_account b WHERE b.practitioner_id = p.id ORDER BY b.id DESC LIMIT 1) c"
        " WHERE c.account_number = s.bank_account_number AND c.bank_name = s.bank_name)"
        " ORDER BY s.row RETURNING *)"
        f" INSERT INTO audit_event ({_AUDIT_COLUMNS})"
        " SELECT $1, $2, 'create', 'bank_account', n.id::text, NULL,"
        f" (to_jsonb(n) - $6::text[] - 'account_number') || jsonb_build_object('account_number_masked', {masked}),"
        f" {_detail('s')}, $4, $5, s.a_region, s.a_org, n.practitioner_id"
        f" FROM n JOIN practitioner p ON p.id = n.practitioner_id JOIN {t} s ON s.id_number = p.id_number"
    )


def _employment(t: str) -> list[str]:
    cols = "practitioner_id, organization_id, post_type, duty_level, in_post_from, in_post_to"
    create = (
        f"WITH n AS (INSERT INTO employment ({cols}) SELECT {cols} FROM {t} WHERE action = 'create' ORDER BY row"
        " RETURNING *) "
        + _audit(
            "employment",
            "create",
            "n",
            t,
            "s.action = 'create' AND s.practitioner_id = n.practitioner_id"
            " AND s.organization_id = n.organization_id AND s.in_post_from = n.in_post_from",
        )
    )
    update = (
        f"WITH o AS (SELECT e.* FROM employment e JOIN {t} s ON s.id = e.id AND s.action = 'update'),"
        " n AS (UPDATE employment e SET post_type = s.post_type, duty_level = s.duty_level,"
        f" in_post_to = s.in_post_to, updated_at = now() FROM {t} s WHERE s.id = e.id AND s.action = 'update'"
        " RETURNING e.*) "
        + _audit(
            "employment",
            "update",
            "n JOIN o ON o.id = n.id",
            t,
            "s.id = n.id AND s.action = 'update'",
            before="to_jsonb(o) - $6::text[]",
        )
    )
    return [create, update]


def _certifications(t: str) -> list[str]:
    cols = "practitioner_id, certificate_number, level, exam_year"
    # A verification date is in the stage only when the importing user may verify there.
    create = (
        f"WITH n AS (INSERT INTO certification ({cols}, verification_status, verified_by_id, verified_at,"
        " verified_on, verification_evidence)"
        f" SELECT {cols}, CASE WHEN verify THEN 'verified' ELSE 'pending' END, CASE WHEN verify THEN $1::bigint END,"
        " CASE WHEN verify THEN now() END, verified_on, verification_evidence"
        f" FROM {t} WHERE action = 'create' ORDER BY row RETURNING *) "
        + _audit(
            "certification", "create", "n", t, "s.certificate_number = n.certificate_number AND s.action = 'create'"
        )
    )
    # A changed record that had been verified goes back to be verified again, unless the row
    # verifies it itself.
    again = "(s.facts_changed AND x.verification_status = 'verified')"
    update = (
        f"WITH o AS (SELECT c.* FROM certification c JOIN {t} s ON s.id = c.id AND s.action = 'update'),"
        " n AS (UPDATE certification x SET level = s.level, exam_year = s.exam_year,"
        " verification_status = CASE WHEN s.verify THEN 'verified'"
        f" WHEN {again} THEN 'pending' ELSE x.verification_status END,"
        f" verified_by_id = CASE WHEN s.verify THEN $1::bigint WHEN {again} THEN NULL ELSE x.verified_by_id END,"
        f" verified_at = CASE WHEN s.verify THEN now() WHEN {again} THEN NULL ELSE x.verified_at END,"
        f" verified_on = CASE WHEN s.verify THEN s.verified_on WHEN {again} THEN NULL ELSE x.verified_on END,"
        " verification_evidence = CASE WHEN s.verify THEN s.verification_evidence"
        f" WHEN {again} THEN NULL ELSE x.verification_evidence END,"
        " rejection_reason = CASE WHEN s.verify THEN NULL ELSE x.rejection_reason END,"
        f" updated_at = now() FROM {t} s WHERE s.id = x.id AND s.action = 'update' RETURNING x.*) "
        + _audit(
            "certification",
            "update",
            "n JOIN o ON o.id = n.id",
            t,
            "s.id = n.id AND s.action = 'update'",
            before="to_jsonb(o) - $6::text[]",
        )
    )
    # The first registration period of a new certificate; a changed one is a correction (a new
    # row replacing the stored one, which stays on record).
    periods = (
        "WITH n AS (INSERT INTO certification_period"
        " (certification_id, kind, start_date, end_date, authority, note, replaces_id, created_by_id)"
        " SELECT c.id, 'registration', s.registration_valid_from, s.registration_valid_to,"
        " s.registration_authority, CASE WHEN s.period_id IS NULL THEN NULL ELSE '导入更正登记有效期' END,"
        f" s.period_id, $1 FROM {t} s JOIN certification c ON c.certificate_number = s.certificate_number"
        " WHERE s.registration_valid_from IS NOT NULL AND s.period_changed ORDER BY s.row RETURNING *) "
        "INSERT INTO audit_event (" + _AUDIT_COLUMNS + ")"
        " SELECT $1, $2, 'create', 'certification_period', n.id::text, NULL, to_jsonb(n) - $6::text[],"
        f" {_detail('s')}, $4, $5, s.a_region, s.a_org, c.practitioner_id"
        f" FROM n JOIN certification c ON c.id = n.certification_id JOIN {t} s ON s.certificate_number = c.certificate_number"
    )
    return [create, update, periods]


_RECORD_PENDING = (
    " status = CASE WHEN x.status = 'verified' THEN 'pending' ELSE x.status END,"
    " verified_by_id = CASE WHEN x.status = 'verified' THEN NULL ELSE x.verified_by_id END,"
    " verified_at = CASE WHEN x.status = 'verified' THEN NULL ELSE x.verified_at END,"
)


def _ce(t: str) -> list[str]:
    cols = "practitioner_id, activity_date, hours, unit, category, provider, course"
    hours = " || jsonb_build_object('hours', n.hours::text)"
    create = (
        f"WITH n AS (INSERT INTO ce_record ({cols}, status, submitted_by_id) SELECT {cols}, 'pending', $1 FROM {t}"
        " WHERE action = 'create' ORDER BY row RETURNING *) "
        + _audit(
            "ce_record",
            "create",
            "n",
            t,
            "s.action = 'create' AND s.practitioner_id = n.practitioner_id AND s.activity_date = n.activity_date"
            " AND s.course = n.course AND s.hours = n.hours",
            extra=hours,
        )
    )
    update = (
        f"WITH o AS (SELECT c.* FROM ce_record c JOIN {t} s ON s.id = c.id AND s.action = 'update'),"
        " n AS (UPDATE ce_record x SET unit = s.unit, category = s.category, provider = s.provider,"
        + _RECORD_PENDING
        + f" updated_at = now() FROM {t} s WHERE s.id = x.id AND s.action = 'update' RETURNING x.*) "
        + _audit(
            "ce_record",
            "update",
            "n JOIN o ON o.id = n.id",
            t,
            "s.id = n.id AND s.action = 'update'",
            before="to_jsonb(o) - $6::text[] || jsonb_build_object('hours', o.hours::text)",
            extra=hours,
        )
    )
    return [create, update]


def _salaries(t: str) -> list[str]:
    cols = "practitioner_id, year, amount, organization_id"
    amount = " || jsonb_build_object('amount', n.amount::text)"
    create = (
        f"WITH n AS (INSERT INTO salary_record ({cols}, period, status, submitted_by_id)"
        f" SELECT {cols}, 'annual', 'pending', $1 FROM {t} WHERE action = 'create' ORDER BY row RETURNING *) "
        + _audit(
            "salary_record",
            "create",
            "n",
            t,
            "s.action = 'create' AND s.practitioner_id = n.practitioner_id AND s.year = n.year",
            extra=amount,
        )
    )
    update = (
        f"WITH o AS (SELECT r.* FROM salary_record r JOIN {t} s ON s.id = r.id AND s.action = 'update'),"
        " n AS (UPDATE salary_record x SET amount = s.amount, organization_id = s.organization_id,"
        + _RECORD_PENDING
        + f" updated_at = now() FROM {t} s WHERE s.id = x.id AND s.action = 'update' RETURNING x.*) "
        + _audit(
            "salary_record",
            "update",
            "n JOIN o ON o.id = n.id",
            t,
            "s.id = n.id AND s.action = 'update'",
            before="to_jsonb(o) - $6::text[] || jsonb_build_object('amount', o.amount::text)",
            extra=amount,
        )
    )
    return [create, update]


def _registrations(t: str) -> list[str]:
    """New periods, and corrections of stored ones (a new row replacing the old, which stays)."""
    return [
        "WITH n AS (INSERT INTO certification_period"
        " (certification_id, kind, start_date, end_date, authority, note, replaces_id, created_by_id)"
        " SELECT c.id, s.kind, s.start_date, s.end_date, s.authority, s.note, s.replaces_id, $1"
        f" FROM {t} s JOIN certification c ON c.certificate_number = s.certificate_number ORDER BY s.row"
        " RETURNING *) "
        "INSERT INTO audit_event (" + _AUDIT_COLUMNS + ")"
        " SELECT $1, $2, CASE WHEN n.replaces_id IS NULL THEN 'create' ELSE 'correct' END,"
        " 'certification_period', n.id::text, NULL, to_jsonb(n) - $6::text[],"
        f" {_detail('s')}, $4, $5, s.a_region, s.a_org, c.practitioner_id"
        f" FROM n JOIN certification c ON c.id = n.certification_id JOIN {t} s"
        " ON s.certificate_number = c.certificate_number AND s.kind = n.kind AND s.start_date = n.start_date"
    ]


_STATEMENTS: dict[str, Callable[[str], list[str]]] = {
    "organizations": _organizations,
    "practitioners": _practitioners,
    "employment": _employment,
    "certifications": _certifications,
    "registrations": _registrations,
    "ce": _ce,
    "salaries": _salaries,
}
