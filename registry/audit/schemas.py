from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class AuditEventRead(BaseModel):
    """ID and phone numbers inside before/after are masked here; the table keeps them whole."""

    id: int
    at: datetime
    actor_user_id: int | None
    actor_name: str
    action: str
    entity_type: str
    entity_id: str | None
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    detail: dict[str, Any] | None
    request_id: str | None
    region_code: str | None
    practitioner_id: int | None
