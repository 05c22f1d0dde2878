from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Identity, Index, String, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base


class AuditEvent(Base):
    """Append-only: a trigger (see the migration) refuses UPDATE, DELETE and TRUNCATE.

    No foreign keys, so that the trail outlives what it describes; the actor's name is copied in.
    ``region_code`` and ``organization_id`` are where the entity belonged at the time, and decide
    who in a region may read the event.
    """

    __tablename__ = "audit_event"
    __table_args__ = (
        Index("ix_audit_event_entity", "entity_type", "entity_id", "id"),
        Index("ix_audit_event_region_code_id", "region_code", "id"),
        Index("ix_audit_event_practitioner_id_id", "practitioner_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    at: Mapped[datetime] = mapped_column(server_default=text("clock_timestamp()"))
    actor_user_id: Mapped[int | None] = mapped_column(BigInteger)
    actor_name: Mapped[str] = mapped_column(String(60))
    action: Mapped[str] = mapped_column(String(30))
    entity_type: Mapped[str] = mapped_column(String(30))
    entity_id: Mapped[str | None] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    detail: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    request_id: Mapped[str | None] = mapped_column(String(64))
    client_ip: Mapped[str | None] = mapped_column(String(45))
    region_code: Mapped[str | None] = mapped_column(String(6))
    organization_id: Mapped[int | None] = mapped_column(BigInteger)
    # The practitioner whose record the event touched: the record's own trail.
    practitioner_id: Mapped[int | None] = mapped_column(BigInteger)
