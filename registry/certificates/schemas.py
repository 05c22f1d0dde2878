from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Kind = Literal["allowance", "ce", "salary", "award", "registration"]
Status = Literal["valid", "revoked", "superseded", "expired", "invalid"]
BatchFormat = Literal["zip", "pdf"]


class IssueRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    practitioner_id: int
    kind: Kind
    # allowance: YYYY-MM; ce and salary: YYYY; registration: YYYY-MM-DD (default today).
    period: str | None = Field(default=None, max_length=10)
    award_id: int | None = None  # for kind "award"


class RevokeRequest(BaseModel):
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class CertificateRead(BaseModel):
    id: int
    serial: str
    kind: Kind
    kind_label: str
    period: str
    practitioner_id: int
    holder_name: str
    headline: str
    issued_at: datetime
    valid_until: date
    status: Status
    status_label: str
    revoked_reason: str | None = None
    revoked_at: datetime | None = None
    superseded_by: str | None = None
    supersedes: str | None = None
    verify_url: str
    decision: dict[str, Any]
    facts: list[tuple[str, str]]


class PublicStatus(BaseModel):
    """What the public verification page and API show: the holder masked, the one fact the
    paper claims (headline), dates and issuer. Not the employer, the certificate number, the
    other figures, or why a certificate was revoked: those are for staff."""

    serial: str
    status: Status
    status_label: str
    signature_valid: bool
    qr_valid: bool | None = None  # when a scanned payload was given: does it match?
    kind: Kind
    kind_label: str
    holder: str
    holder_id: str
    period: str
    headline: str
    summary: str
    citations: list[str]
    issuer: str
    issued_on: date
    valid_until: date
    revoked_on: date | None = None
    superseded_by: str | None = None
    key_id: str


class KeyRead(BaseModel):
    key_id: str
    algorithm: str
    public_key_pem: str
    current: bool


class BatchCreate(BaseModel):
    region_code: str = Field(min_length=6, max_length=6)
    kind: Kind
    period: str | None = Field(default=None, max_length=10)
    format: BatchFormat = "zip"


class BatchRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    region_code: str
    kind: Kind
    period: str
    format: BatchFormat
    status: Literal["queued", "running", "done", "failed"]
    total: int
    judged: int
    issued: int
    reused: int
    not_eligible: int
    rendered: int
    skipped: int = 0
    skipped_detail: list[dict[str, Any]] = []
    error: str | None
    file_name: str | None
    file_size: int | None
    created_at: datetime
    finished_at: datetime | None
    progress: float = 0.0  # 0..1 over judging and rendering
    download_url: str | None = None
