from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

RoleName = Literal["admin", "civil_affairs", "org_hr", "payroll_clerk", "practitioner"]


class GrantCreate(BaseModel):
    role: RoleName
    region_code: str | None = Field(default=None, min_length=6, max_length=6)
    organization_id: int | None = None
    practitioner_id: int | None = None


class GrantRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    role: RoleName
    region_code: str | None
    organization_id: int | None
    practitioner_id: int | None


class UserCreate(BaseModel):
    username: str = Field(min_length=3, max_length=40)
    display_name: str = Field(min_length=1, max_length=50)
    password: str = Field(min_length=1, max_length=200)
    grants: list[GrantCreate] = []


class UserUpdate(BaseModel):
    display_name: str | None = Field(default=None, min_length=1, max_length=50)
    password: str | None = Field(default=None, min_length=1, max_length=200)
    active: bool | None = None


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    display_name: str
    active: bool
    locked_until: datetime | None
    last_login_at: datetime | None
    grants: list[GrantRead] = []


class LoginRequest(BaseModel):
    username: str = Field(min_length=1, max_length=40)
    password: str = Field(min_length=1, max_length=200)


class PasswordChange(BaseModel):
    current_password: str = Field(min_length=1, max_length=200)
    new_password: str = Field(min_length=1, max_length=200)


class TokenCreate(BaseModel):
    name: str = Field(min_length=1, max_length=100)
    # Days until the token stops working; none means until revoked.
    expires_in_days: int | None = Field(default=None, ge=1, le=3650)


class TokenRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class TokenCreated(TokenRead):
    # Shown exactly once; only its hash is stored.
    token: str


class MeRead(BaseModel):
    user: UserRead
    csrf_token: str | None = None
