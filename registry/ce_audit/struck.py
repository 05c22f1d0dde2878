"""Which CE records an audit struck: the latest outcome of each audited record counts."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import BigInteger, Select, bindparam, func, select
from sqlalchemy.dialects.postgresql import ARRAY, distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import CeAuditOutcome, CeRecordRow


def latest_outcomes() -> Select[int, str, str | None]:
    """Each audited record's latest outcome and reason (earlier ones stay as history)."""
    return (
        select(CeAuditOutcome.ce_record_id, CeAuditOutcome.outcome, CeAuditOutcome.reason)
        .ext(distinct_on(CeAuditOutcome.ce_record_id))
        .order_by(CeAuditOutcome.ce_record_id, CeAuditOutcome.id.desc())
    )


async def struck_records(session: AsyncSession, practitioner_ids: Sequence[int]) -> set[int]:
    if not practitioner_ids:
        return set()
    latest = latest_outcomes().join(CeRecordRow, CeRecordRow.id == CeAuditOutcome.ce_record_id)
    ids = bindparam("ids", list(practitioner_ids), type_=ARRAY(BigInteger))  # one parameter, any number
    rows = await session.execute(latest.where(CeRecordRow.practitioner_id == func.any(ids)))
    return {rid for rid, outcome, _ in rows.all() if outcome == "struck"}
