from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from registry.schemas import OrgType


class OrganizationCreate(BaseModel):
    name: str = Field(min_length=2, max_length=100)
    org_type: OrgType
    region_code: str = Field(min_length=6, max_length=6)
    credit_code: str | None = Field(default=None, max_length=30)


class OrganizationUpdate(BaseModel):
    name: str | None = Field(default=None, min_length=2, max_length=100)
    org_type: OrgType | None = None
    region_code: str | None = Field(default=None, min_length=6, max_length=6)
    credit_code: str | None = Field(default=None, max_length=30)


class OrganizationRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    name: str
    org_type: OrgType
    region_code: str
    credit_code: str | None
    created_at: datetime
    updated_at: datetime
