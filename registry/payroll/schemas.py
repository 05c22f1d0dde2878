from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

RunStatus = Literal["draft", "submitted", "approved", "closed"]


class RunCreate(BaseModel):
    region_code: str = Field(min_length=6, max_length=6)
    month: str = Field(pattern=r"^\d{4}-\d{2}$", description="YYYY-MM")


class RunReturn(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class AdjustmentCreate(BaseModel):
    practitioner_id: int
    corrects_month: str = Field(pattern=r"^\d{4}-\d{2}$")
    reason: str = Field(min_length=2, max_length=500)


class RunRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    region_code: str
    region_name: str | None = None
    month: date
    cutoff: date
    status: RunStatus
    prepared_by_id: int | None
    computed_by_id: int | None = None
    computed_at: datetime | None
    submitted_by_id: int | None
    submitted_at: datetime | None
    approved_by_id: int | None
    approved_at: datetime | None
    closed_by_id: int | None
    closed_at: datetime | None
    returned_reason: str | None
    line_count: int
    total_amount: Decimal
    rule_versions: dict[str, Any]
    previous_run_id: int | None
    previous_hash: str | None
    content_hash: str | None
    hash_version: int = 2


class LineRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    seq: int
    kind: Literal["regular", "adjustment"]
    practitioner_id: int
    name: str
    id_number_masked: str = ""
    level: str
    certificate_number: str
    organization_id: int | None
    organization_name: str
    region_code: str
    month: date
    amount: Decimal
    rule_id: str
    rule_version: int
    basis: str
    findings: list[dict[str, Any]]
    corrects_month: date | None
    corrects_line_id: int | None
    reason: str | None


class DiffEntry(BaseModel):
    practitioner_id: int
    name: str
    previous_amount: Decimal | None
    amount: Decimal | None
    reason: str


class RunDiff(BaseModel):
    run_id: int
    previous_run_id: int | None
    previous_month: date | None
    added: list[DiffEntry]
    dropped: list[DiffEntry]
    changed: list[DiffEntry]
    adjustments: list[DiffEntry]


class ChainCheck(BaseModel):
    region_code: str
    runs_checked: int
    ok: bool
    broken_run_id: int | None = None
    problem: str | None = None
