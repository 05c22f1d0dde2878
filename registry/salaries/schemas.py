from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Basis = Literal["average_social_wage", "urban_nonprivate_inpost_avg_wage"]


class BenchmarkUpsert(BaseModel):
    region_code: str = Field(min_length=6, max_length=6)
    year: int = Field(ge=2000, le=2100)
    basis: Basis
    amount: Decimal = Field(max_digits=14, decimal_places=2, description="元/年")
    source: str = Field(min_length=2, max_length=300, description="发布机关和文件，如 湖南省统计局 2024 年统计公报")


class BenchmarkRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    region_code: str
    year: int
    basis: Basis
    amount: Decimal
    source: str
    updated_at: datetime


class SalaryCreate(BaseModel):
    year: int = Field(ge=2000, le=2100)
    amount: Decimal = Field(max_digits=14, decimal_places=2)
    period: Literal["annual", "monthly"] = "annual"
    organization_id: int | None = None


class SalaryReject(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class SalaryRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    practitioner_id: int
    year: int
    amount: Decimal
    period: Literal["annual", "monthly"]
    organization_id: int | None
    status: Literal["pending", "verified", "rejected"]
    submitted_by_id: int | None
    verified_by_id: int | None
    verified_at: datetime | None
    rejection_reason: str | None


class SalaryReportLine(BaseModel):
    practitioner_id: int
    name: str
    post_type: str | None
    annual_pay: Decimal | None
    pay_status: str | None
    threshold: Decimal | None
    shortfall: Decimal | None
    outcome: bool | None
    rule_ref: str | None
    explanation: str


class SalaryReport(BaseModel):
    organization_id: int
    organization_name: str
    year: int
    below: list[SalaryReportLine]
    compliant: int
    not_judged: int
