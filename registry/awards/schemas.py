from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.bounds import Day


class AwardNominate(BaseModel):
    practitioner_id: int
    programme: str = Field(min_length=2, max_length=40)
    nominated_on: Day | None = None
    # Repeatable commendations (e.g. ZZ-AWARD) name their selection year.
    round: int | None = Field(default=None, ge=2000, le=2100)
    reason: str | None = Field(default=None, max_length=1000)


class AwardApprove(BaseModel):
    approved_on: Day | None = None


class AwardPay(BaseModel):
    paid_on: Day


class AwardReject(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class AwardRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    practitioner_id: int
    programme: str
    programme_label: str = ""
    round: int
    rule_id: str
    rule_version: int
    amount: Decimal
    status: Literal["nominated", "approved", "paid", "rejected"]
    nominated_on: date
    nominated_by_id: int | None
    reason: str | None
    approved_on: date | None
    approved_by_id: int | None
    paid_on: date | None
    rejection_reason: str | None
    created_at: datetime


class ProgrammeRead(BaseModel):
    programme: str
    label: str
    amount: Decimal
    rule_ref: str
    citation: str
    repeatable: bool
