from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel, ConfigDict, Field

from registry.bounds import Day
from registry.schemas import OrgType


class OrganizationCreate(BaseModel):
    name: str = Field(min_length=2, max_length=100)
    org_type: OrgType
    region_code: str = Field(min_length=6, max_length=6)
    credit_code: str | None = Field(default=None, max_length=30)
    # 成立（登记）日期 and 注销日期: figures as of a day count the organizations that existed then.
    founded_on: Day | None = Field(default=None, ge=date(1949, 10, 1), le=date(2100, 12, 31))
    closed_on: Day | None = Field(default=None, ge=date(1949, 10, 1), le=date(2100, 12, 31))


class OrganizationUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=100)
    org_type: OrgType | None = None
    region_code: str | None = Field(default=None, min_length=6, max_length=6)
    credit_code: str | None = Field(default=None, max_length=30)
    founded_on: Day | None = Field(default=None, ge=date(1949, 10, 1), le=date(2100, 12, 31))
    closed_on: Day | None = Field(default=None, ge=date(1949, 10, 1), le=date(2100, 12, 31))


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    org_type: OrgType
    region_code: str
    credit_code: str | None
    founded_on: date | None = None
    closed_on: date | None = None
    created_at: datetime
    updated_at: datetime
