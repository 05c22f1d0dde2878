from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from registry.schemas import Level, VerificationStatus


class CertificationCreate(BaseModel):
    level: Level
    certificate_number: str = Field(min_length=4, max_length=40)
    exam_year: int = Field(ge=2008, le=2100)
    registration_valid_from: date | None = None
    # Defaults to three years from the start (MCA-REG-3Y) when only the start is given.
    registration_valid_to: date | None = None


class CertificationUpdate(BaseModel):
    level: Level | None = None
    certificate_number: str | None = Field(default=None, min_length=4, max_length=40)
    exam_year: int | None = Field(default=None, ge=2008, le=2100)
    registration_valid_from: date | None = None
    registration_valid_to: date | None = None


class CertificationReject(BaseModel):
    # Blanks do not count: the practitioner must be told what to fix.
    model_config = ConfigDict(str_strip_whitespace=True)

    reason: str = Field(min_length=2, max_length=500)


class CertificationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    practitioner_id: int
    level: Level
    certificate_number: str
    exam_year: int
    registration_valid_from: date | None
    registration_valid_to: date | None
    verification_status: VerificationStatus
    verified_by_id: int | None
    verified_by_name: str | None = None
    verified_at: datetime | None
    rejection_reason: str | None
