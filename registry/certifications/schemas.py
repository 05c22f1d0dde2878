from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from registry.bounds import Day
from registry.schemas import Level, VerificationStatus

PeriodKind = Literal["registration", "renewal", "suspension", "cancellation"]
# Dates outside these bounds are typing mistakes, and Python's date arithmetic overflows near them.
EARLIEST = date(2008, 1, 1)
LATEST = date(2100, 12, 31)


class CertificationCreate(BaseModel):
    level: Level
    certificate_number: str = Field(min_length=4, max_length=40)
    exam_year: int = Field(ge=2008, le=2100)
    # The first registration period (a row of its own); later ones are renewals.
    registration_valid_from: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    # Defaults to three years from the start (MCA-REG-3Y) when only the start is given.
    registration_valid_to: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    registration_authority: str | None = Field(default=None, max_length=100)


class CertificationUpdate(BaseModel):
    level: Level | None = None
    certificate_number: str | None = Field(default=None, min_length=4, max_length=40)
    exam_year: int | None = Field(default=None, ge=2008, le=2100)
    # A change of these corrects the latest registration period in force (a new row replacing it).
    registration_valid_from: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    registration_valid_to: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)


class CertificationReject(BaseModel):
    # Blanks do not count: the practitioner must be told what to fix.
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class CertificationVerify(BaseModel):
    """Without a body, or without ``verified_on``: verified today. A day before today records a
    verification done earlier (on paper, say) and needs the evidence it rests on."""

    model_config = ConfigDict(str_strip_whitespace=True)

    verified_on: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    evidence: str | None = Field(default=None, max_length=500)


class PeriodCreate(BaseModel):
    """A registration (first or renewal) with its dates and authority, or a suspension (may
    end) or cancellation (注销, for good) with the day it took effect and the reason."""

    model_config = ConfigDict(str_strip_whitespace=True)

    kind: PeriodKind
    start_date: Day = Field(ge=EARLIEST, le=LATEST)
    # Registrations: three years from the start when not given. Suspensions: open when not given.
    end_date: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    authority: str | None = Field(default=None, max_length=100)
    note: str | None = Field(default=None, max_length=500)


class PeriodCorrection(BaseModel):
    """A correction of a recorded period: new dates or authority, or ``withdraw`` (recorded in
    error). The corrected row stays on record; ``reason`` says why."""

    model_config = ConfigDict(str_strip_whitespace=True)

    start_date: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    end_date: Day | None = Field(default=None, ge=EARLIEST, le=LATEST)
    authority: str | None = Field(default=None, max_length=100)
    withdraw: bool = False
    reason: str = Field(min_length=2, max_length=500)


class PeriodRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    certification_id: int
    kind: PeriodKind
    start_date: date
    end_date: date | None
    authority: str | None
    note: str | None
    replaces_id: int | None
    withdrawn: bool
    # False once a later row corrects it (the row stays on record).
    in_force: bool = True
    created_by_id: int | None
    created_at: datetime


class CertificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    practitioner_id: int
    level: Level
    certificate_number: str
    exam_year: int
    # The latest registration period in force (first registration or renewal), for a glance;
    # ``periods`` holds the whole timeline.
    registration_valid_from: date | None = None
    registration_valid_to: date | None = None
    verification_status: VerificationStatus
    verified_by_id: int | None
    verified_by_name: str | None = None
    verified_at: datetime | None
    verified_on: date | None = None
    verification_evidence: str | None = None
    rejection_reason: str | None
    periods: list[PeriodRead] = []

    @model_validator(mode="after")
    def _current_period(self) -> CertificationRead:
        registrations = [
            p for p in self.periods if p.in_force and not p.withdrawn and p.kind in ("registration", "renewal")
        ]
        if registrations:
            latest = max(registrations, key=lambda p: (p.start_date, p.id))
            self.registration_valid_from, self.registration_valid_to = latest.start_date, latest.end_date
        return self
