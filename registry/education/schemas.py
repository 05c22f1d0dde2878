from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from registry.bounds import Day

CeUnit = Literal["学时", "小时"]
CeCategory = Literal["training", "supervision", "academic", "other"]


class CeRecordCreate(BaseModel):
    activity_date: Day
    # One decimal place; the bounds are checked by the service with a Chinese message.
    hours: Decimal = Field(max_digits=6, decimal_places=2)
    unit: CeUnit = "学时"
    category: CeCategory
    provider: str = Field(min_length=1, max_length=100)
    course: str = Field(min_length=1, max_length=200)
    evidence_note: str | None = Field(default=None, max_length=1000)


class CeRecordReject(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class CeRecordRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    practitioner_id: int
    activity_date: date
    hours: Decimal
    unit: CeUnit
    category: CeCategory
    provider: str
    course: str
    evidence_note: str | None
    status: Literal["pending", "verified", "rejected"]
    submitted_by_id: int | None
    verified_by_id: int | None
    verified_at: datetime | None
    rejection_reason: str | None
    created_at: datetime


class CeYearTotals(BaseModel):
    year: int
    # category -> unit -> verified hours
    verified: dict[str, dict[str, Decimal]]
    pending_records: int
