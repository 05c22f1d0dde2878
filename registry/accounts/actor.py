"""Who is asking, and what their grants let them see and do.

Every service that reads or writes registry data takes an ``Actor`` and filters by the SQL
conditions built here, so scope is enforced where data is read, not in the controllers.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from sqlalchemy import ColumnElement, false, or_, true
from sqlalchemy.orm import InstrumentedAttribute

from registry.errors import RegistryError
from registry.models import Organization, Practitioner
from registry.regions.codes import in_subtree, subtree_bounds

ColumnOrAttr = (
    ColumnElement[str | None] | ColumnElement[str] | InstrumentedAttribute[str | None] | InstrumentedAttribute[str]
)
Role = Literal["admin", "civil_affairs", "org_hr", "payroll_clerk", "practitioner"]

# What each action on practitioner records (and their employment, certifications, CE and pay)
# needs. A role not listed cannot do it anywhere; a listed role can do it within its grant's scope.
Action = Literal[
    "read",
    "write",
    "verify",
    "reveal",
    "audit",
    "manage_org",
    "submit_ce",
    "submit_salary",
    "award",
    "figures",
    "payroll",
    "payroll_read",
    "approve_payroll",
    "certify",
    "certify_allowance",
    "revoke_certificate",
    "batch_certify",
    "batch_certify_allowance",
]
ACTION_ROLES: dict[str, frozenset[str]] = {
    "read": frozenset({"admin", "civil_affairs", "payroll_clerk", "org_hr", "practitioner"}),
    "write": frozenset({"civil_affairs", "org_hr"}),
    "verify": frozenset({"civil_affairs"}),
    "reveal": frozenset({"admin", "civil_affairs", "payroll_clerk", "org_hr", "practitioner"}),
    "audit": frozenset({"admin", "civil_affairs"}),
    "manage_org": frozenset({"admin", "civil_affairs"}),
    "submit_ce": frozenset({"civil_affairs", "org_hr", "practitioner"}),
    "submit_salary": frozenset({"civil_affairs", "org_hr"}),
    "award": frozenset({"civil_affairs"}),
    "figures": frozenset({"admin", "civil_affairs", "payroll_clerk"}),
    "payroll": frozenset({"payroll_clerk"}),
    "payroll_read": frozenset({"admin", "payroll_clerk", "civil_affairs"}),
    "approve_payroll": frozenset({"civil_affairs"}),
    # Certificates state the registry's own decisions: staff issue them, and so may the holder.
    "certify": frozenset({"civil_affairs", "practitioner"}),
    "certify_allowance": frozenset({"civil_affairs", "payroll_clerk", "practitioner"}),
    "revoke_certificate": frozenset({"civil_affairs"}),
    "batch_certify": frozenset({"civil_affairs"}),
    "batch_certify_allowance": frozenset({"civil_affairs", "payroll_clerk"}),
}

ROLE_LABELS = {
    "admin": "系统管理员",
    "civil_affairs": "民政工作人员",
    "org_hr": "单位人事专员",
    "payroll_clerk": "津贴发放专员",
    "practitioner": "社工本人",
}


class NotAuthenticated(RegistryError):
    status_code = 401
    default_code = "not_authenticated"
    title = "请先登录"


class Forbidden(RegistryError):
    status_code = 403
    default_code = "forbidden"
    title = "无权操作"


@dataclass(frozen=True)
class Grant:
    id: int
    role: str
    region_code: str | None = None
    organization_id: int | None = None
    practitioner_id: int | None = None

    def label(self) -> str:
        scope = self.region_code or (f"单位 {self.organization_id}" if self.organization_id else None)
        if self.practitioner_id:
            scope = f"社工 {self.practitioner_id}"
        return ROLE_LABELS[self.role] + (f"（{scope}）" if scope else "")


@dataclass(frozen=True)
class Actor:
    user_id: int | None
    username: str
    display_name: str
    grants: tuple[Grant, ...] = ()
    # The command line and data loaders act with no scope limit; never a web request.
    unrestricted: bool = False
    via: str = "token"
    request_id: str | None = None
    client_ip: str | None = None
    session_csrf: str | None = field(default=None, repr=False)

    @classmethod
    def system(cls, name: str) -> Actor:
        return cls(user_id=None, username=name, display_name=name, unrestricted=True, via="system")

    @property
    def roles(self) -> frozenset[str]:
        return frozenset(g.role for g in self.grants)

    @property
    def is_admin(self) -> bool:
        return self.unrestricted or "admin" in self.roles

    @property
    def own_practitioner_id(self) -> int | None:
        return next((g.practitioner_id for g in self.grants if g.role == "practitioner"), None)

    def grants_for(self, action: str) -> Iterable[Grant]:
        roles = ACTION_ROLES[action]
        return (g for g in self.grants if g.role in roles)

    def may(self, action: str) -> bool:
        """Whether the actor can do ``action`` anywhere at all."""
        return self.unrestricted or any(True for _ in self.grants_for(action))

    def require(self, action: str, message: str = "您的角色无权执行此操作。") -> None:
        if not self.may(action):
            raise Forbidden(message)

    def may_on(
        self,
        action: str,
        *,
        region_code: str | None,
        organization_id: int | None = None,
        practitioner_id: int | None = None,
    ) -> bool:
        """Whether ``action`` is allowed on a record with this jurisdiction."""
        if self.unrestricted:
            return True
        for g in self.grants_for(action):
            if g.role == "admin":
                return True
            if g.region_code and region_code and in_subtree(region_code, g.region_code):
                return True
            if g.organization_id is not None and g.organization_id == organization_id:
                return True
            if g.practitioner_id is not None and g.practitioner_id == practitioner_id:
                return True
        return False

    def region_roots(self, action: str) -> list[str] | None:
        """Region subtrees where the action is allowed; ``None`` means everywhere."""
        if self.unrestricted:
            return None
        roots: list[str] = []
        for g in self.grants_for(action):
            if g.role == "admin":
                return None
            if g.region_code:
                roots.append(g.region_code)
        return roots


def _region_between(column: ColumnOrAttr, code: str) -> ColumnElement[bool]:
    lo, hi = subtree_bounds(code)
    return column.between(lo, hi)


def practitioner_scope(actor: Actor, action: str = "read") -> ColumnElement[bool]:
    """SQL condition on ``Practitioner`` rows the actor may ``action``."""
    if actor.unrestricted:
        return true()
    conds: list[ColumnElement[bool]] = []
    for g in actor.grants_for(action):
        if g.role == "admin":
            return true()
        if g.region_code:
            conds.append(_region_between(Practitioner.region_code, g.region_code))
        elif g.organization_id is not None:
            conds.append(Practitioner.organization_id == g.organization_id)
        elif g.practitioner_id is not None:
            conds.append(Practitioner.id == g.practitioner_id)
    return or_(*conds) if conds else false()


def organization_scope(actor: Actor, action: str = "read") -> ColumnElement[bool]:
    """SQL condition on ``Organization`` rows: those in a granted region, or the HR user's own."""
    if actor.unrestricted:
        return true()
    conds: list[ColumnElement[bool]] = []
    for g in actor.grants_for(action):
        if g.role == "admin":
            return true()
        if g.region_code:
            conds.append(_region_between(Organization.region_code, g.region_code))
        elif g.organization_id is not None:
            conds.append(Organization.id == g.organization_id)
    return or_(*conds) if conds else false()


def region_code_scope(actor: Actor, column: ColumnOrAttr, action: str) -> ColumnElement[bool]:
    """SQL condition on any region-code column (audit events, payroll runs, reports)."""
    roots = actor.region_roots(action)
    if roots is None:
        return true()
    conds = [_region_between(column, code) for code in roots]
    return or_(*conds) if conds else false()
