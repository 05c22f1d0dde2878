from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from registry.bounds import Day


class PolicyRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    rule_id: str
    version: int
    alias: str | None
    kind: str
    title: str
    region_code: str | None
    effective_from: date
    effective_to: date | None
    params: dict[str, Any]
    issuer: str
    document_title: str
    document_number: str
    clause: str
    source: str
    trust: str
    note: str | None
    created_at: datetime
    citation: str = ""


class PolicyVersionCreate(BaseModel):
    """A new version of a rule (or a jurisdiction's own version of it): the params and dates it
    changes; everything else is taken from the latest version."""

    region_code: str | None = Field(default=None, min_length=6, max_length=6)
    effective_from: Day
    effective_to: Day | None = None
    params: dict[str, Any] | None = None
    title: str | None = Field(default=None, max_length=200)
    issuer: str | None = Field(default=None, max_length=200)
    document_title: str | None = Field(default=None, max_length=300)
    document_number: str | None = Field(default=None, max_length=100)
    clause: str | None = Field(default=None, max_length=100)
    trust: str | None = Field(default=None, pattern="^(official|draft|secondary|product_default)$")
    note: str | None = Field(default=None, max_length=2000)


class FindingRead(BaseModel):
    rule_id: str
    version: int
    rule_ref: str
    met: bool | None
    text: str
    figures: dict[str, str]
    citation: str


class DecisionRead(BaseModel):
    question: str
    period: str
    outcome: bool | None
    summary: str
    amount: Decimal | None
    subject: str | None
    findings: list[FindingRead]


class DecisionsRead(BaseModel):
    practitioner_id: int
    as_of: date
    decisions: list[DecisionRead]
