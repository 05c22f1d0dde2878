from __future__ import annotations

from datetime import date, datetime
from typing import Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field

from registry.bounds import Day
from registry.certifications.schemas import CertificationRead
from registry.schemas import DutyLevel, Education, Level, PostType, Sex, VerificationStatus


class EmploymentCreate(BaseModel):
    organization_id: int
    post_type: PostType
    duty_level: DutyLevel | None = None
    in_post_from: Day
    in_post_to: Day | None = None


class PractitionerCreate(BaseModel):
    name: str = Field(min_length=1, max_length=50)
    id_number: str = Field(min_length=1, max_length=30)
    # Optional: derived from the ID number; when given they must agree with it.
    birth_date: Day | None = None
    sex: Sex | None = None
    phone: str | None = Field(default=None, max_length=20)
    education: Education
    social_work_major: bool = False
    household_region_code: str | None = Field(default=None, max_length=6)
    # The first employment spell, created with the record: it puts the new record in the
    # registering clerk's (or HR officer's) jurisdiction from the start.
    employment: EmploymentCreate | None = None


class PractitionerUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=1, max_length=50)
    id_number: str | None = Field(default=None, min_length=1, max_length=30)
    birth_date: Day | None = None
    sex: Sex | None = None
    phone: str | None = Field(default=None, max_length=20)
    education: Education | None = None
    social_work_major: bool | None = None
    household_region_code: str | None = Field(default=None, max_length=6)


class EmploymentUpdate(BaseModel):
    organization_id: int | None = None
    post_type: PostType | None = None
    duty_level: DutyLevel | None = None
    in_post_from: Day | None = None
    in_post_to: Day | None = None


class EmploymentRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    practitioner_id: int
    organization_id: int
    organization_name: str | None = None
    post_type: PostType
    duty_level: DutyLevel | None
    in_post_from: date
    in_post_to: date | None
    in_post_today: bool = False


class PractitionerRead(BaseModel):
    """ID and phone numbers are masked; ``POST …/reveal`` returns them whole and is recorded."""

    id: int
    name: str
    id_number_masked: str
    birth_date: date
    sex: Sex
    phone_masked: str | None
    education: Education
    social_work_major: bool
    household_region_code: str | None
    organization_id: int | None
    region_code: str | None
    created_at: datetime
    updated_at: datetime


class PractitionerDetail(PractitionerRead):
    region_name: str | None = None
    organization_name: str | None = None
    employments: list[EmploymentRead] = []
    certifications: list[CertificationRead] = []


class PractitionerSummary(msgspec.Struct, kw_only=True):
    """A search result row: the ID number is masked; open the record for the rest.

    A msgspec struct (Litestar encodes it natively), as the page below: fifty of them are built
    and encoded for every search, about twenty times faster than as pydantic models."""

    id: int
    name: str
    id_number_masked: str
    sex: Sex
    birth_date: date
    region_code: str | None
    region_name: str | None
    organization_id: int | None
    organization_name: str | None
    in_post: bool
    highest_level: Level | None
    highest_level_status: VerificationStatus | None


class PractitionerPage(msgspec.Struct, kw_only=True):
    """A page of search results, as ``registry.schemas.Page``."""

    items: list[PractitionerSummary]
    next_cursor: str | None
    total: int
    total_exact: bool


class RevealRequest(BaseModel):
    fields: set[Literal["id_number", "phone", "bank_account"]] = Field(default={"id_number"}, min_length=1)
    # Why the full value is needed (e.g. 办理社保); kept in the audit trail.
    reason: str | None = Field(default=None, max_length=200)


class RevealResult(BaseModel):
    id: int
    id_number: str | None
    phone: str | None
    # The current bank account for the 代发 list (registry/practitioners/bank.py), when asked for.
    bank_account_number: str | None = None
    bank_name: str | None = None
