"""Two counties, each with employers, staff and certificates, and one user per role scoped to
the first county: the setting for the authorization, scope and audit tests."""

from __future__ import annotations

import datetime as dt
import itertools
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import ric

from registry.accounts.actor import Actor
from registry.certificates.schemas import IssueRequest
from registry.certificates.service import CertContext
from registry.certificates.service import issue as issue_certificate
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.config import Settings
from registry.models import (
    ApiToken,
    AwardRow,
    CeRecordRow,
    CertificateBatch,
    CertificationPeriod,
    Employment,
    ImportJob,
    PayrollRun,
    RoleGrant,
    SalaryRecordRow,
    User,
)
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import make_token, make_user

# A county where every kind of rule has something to say (Hunan: station rules; Zhuzhou: awards).
COUNTY_A = "430202"  # 株洲市荷塘区
COUNTY_B = "420102"  # 武汉市江岸区
ROLES = ("admin", "clerk", "payroll", "hr", "self")
LOADER = Actor.system("test-loader")
_serial = itertools.count(1)


def id_number(region: str, birth: str = "19900101") -> str:
    body = f"{region}{birth}{next(_serial) % 1000:03d}"
    return body + ric.calc_check_digit(body + "0")


def certificate_number() -> str:
    return f"T2020{next(_serial):07d}"


@dataclass
class Side:
    """The records of one county: ``p`` is a practitioner at ``o`` with spell ``e`` and cert ``c``."""

    region: str
    o: int
    o2: int
    p: int
    p2: int
    e: int
    c: int
    ce: int = 0  # a pending CE record of p
    sal: int = 0  # a pending 2024 salary record of p
    aw: int = 0  # a nominated award of p
    aw2: int = 0  # an approved award of p
    run: int = 0  # a computed draft payroll run of the region (2026-09)
    run_sub: int = 0  # a submitted one (2026-08)
    run_app: int = 0  # an approved one (2026-07)
    cert: str = ""  # the serial of an award certificate issued to p (for aw2)
    batch: int = 0  # a queued allowance certificate batch of the region
    imp: int = 0  # a queued import (dry run) uploaded by the region's clerk
    period: int = 0  # a suspension recorded on c


@dataclass
class Scene:
    a: Side
    b: Side
    users: dict[str, User]
    tokens: dict[str, str]
    spare_tokens: dict[str, int] = field(default_factory=dict)
    other: User | None = None
    other_token_id: int = 0
    other_grants: tuple[int, int] = (0, 0)

    def headers(self, role: str) -> dict[str, str]:
        if role == "anon":
            return {}
        return {"Authorization": f"Bearer {self.tokens[role]}"}


async def _side(session: AsyncSession, region: str, tag: str) -> Side:
    org = await create_organization(
        session, LOADER, OrganizationCreate(name=f"{tag}社会工作服务中心", org_type="service_org", region_code=region)
    )
    org2 = await create_organization(
        session, LOADER, OrganizationCreate(name=f"{tag}社区居委会", org_type="community", region_code=region)
    )
    people = []
    for organization, name in ((org, f"{tag}王明"), (org2, f"{tag}李芳")):
        person = await create_practitioner(
            session,
            LOADER,
            PractitionerCreate(name=name, id_number=id_number(region), education="bachelor", phone="13800138000"),
        )
        await add_employment(
            session,
            LOADER,
            person.id,
            EmploymentCreate(
                organization_id=organization.id, post_type="service_org_staff", in_post_from=dt.date(2020, 1, 1)
            ),
        )
        people.append(person)
    e = await session.scalar(select(Employment.id).where(Employment.practitioner_id == people[0].id))
    cert = await add_certification(
        session,
        LOADER,
        people[0].id,
        CertificationCreate(level="assistant", certificate_number=certificate_number(), exam_year=2020),
    )
    ce = CeRecordRow(
        practitioner_id=people[0].id,
        activity_date=dt.date(2026, 3, 2),
        hours=Decimal("3.0"),
        unit="小时",
        category="training",
        provider="市社工协会",
        course="个案工作实务",
        status="pending",
    )
    sal = SalaryRecordRow(practitioner_id=people[0].id, year=2024, amount=Decimal("60000"), period="annual")
    awards = [
        AwardRow(
            practitioner_id=people[0].id,
            programme="outstanding_social_worker",
            round=year,
            rule_id="ZZ-AWARD",
            rule_version=1,
            amount=Decimal(0),
            status=status,
            nominated_on=dt.date(year, 5, 1),
            approved_on=dt.date(year, 6, 1) if status == "approved" else None,
        )
        for year, status in ((2024, "nominated"), (2025, "approved"))
    ]
    runs = [
        PayrollRun(
            region_code=region,
            month=dt.date(2026, month, 1),
            cutoff=dt.date(2026, month, 28),
            status=status,
            computed_at=dt.datetime(2026, month, 5, tzinfo=dt.UTC),
        )
        for month, status in ((9, "draft"), (8, "submitted"), (7, "approved"))
    ]
    batch = CertificateBatch(region_code=region, kind="allowance", period="2026-10")
    period = CertificationPeriod(
        certification_id=cert.id,
        kind="suspension",
        start_date=dt.date(2025, 3, 1),
        end_date=dt.date(2025, 4, 30),
        note="年检未通过",
    )
    session.add_all([ce, sal, *awards, *runs, batch, period])
    await session.flush()
    issued, _ = await issue_certificate(
        session,
        LOADER,
        CertContext(Settings()),
        IssueRequest(practitioner_id=people[0].id, kind="award", award_id=awards[1].id),
    )
    return Side(
        region=region,
        o=org.id,
        o2=org2.id,
        p=people[0].id,
        p2=people[1].id,
        e=int(e or 0),
        c=cert.id,
        ce=ce.id,
        sal=sal.id,
        aw=awards[0].id,
        aw2=awards[1].id,
        run=runs[0].id,
        run_sub=runs[1].id,
        run_app=runs[2].id,
        cert=issued.serial,
        batch=batch.id,
        period=period.id,
    )


async def build_scene(session: AsyncSession) -> Scene:
    # Names differ only by county tag, so a name search finds both counties' people.
    a = await _side(session, COUNTY_A, "荷塘")
    b = await _side(session, COUNTY_B, "江岸")
    grants: dict[str, dict[str, Any]] = {
        "admin": {"role": "admin"},
        "clerk": {"role": "civil_affairs", "region_code": COUNTY_A},
        "payroll": {"role": "payroll_clerk", "region_code": COUNTY_A},
        "hr": {"role": "org_hr", "organization_id": a.o},
        "self": {"role": "practitioner", "practitioner_id": a.p},
    }
    users = {role: await make_user(session, f"user-{role}", grant) for role, grant in grants.items()}
    tokens = {role: await make_token(session, user) for role, user in users.items()}
    scene = Scene(a=a, b=b, users=users, tokens=tokens)
    for role, user in users.items():
        # A second token of each user: revoking it does not log the caller out.
        await make_token(session, user)
        spare = await session.scalar(
            select(ApiToken.id).where(ApiToken.user_id == user.id).order_by(ApiToken.id.desc()).limit(1)
        )
        scene.spare_tokens[role] = int(spare or 0)
    other = await make_user(
        session,
        "user-other",
        {"role": "civil_affairs", "region_code": COUNTY_B},
        {"role": "payroll_clerk", "region_code": COUNTY_B},
    )
    await make_token(session, other)
    scene.other = other
    scene.other_token_id = int(await session.scalar(select(ApiToken.id).where(ApiToken.user_id == other.id)) or 0)
    grant_ids = (
        await session.scalars(select(RoleGrant.id).where(RoleGrant.user_id == other.id).order_by(RoleGrant.id))
    ).all()
    scene.other_grants = (grant_ids[0], grant_ids[1])
    for side, uploader in ((a, users["clerk"]), (b, other)):
        job = ImportJob(
            file_name="人员.xlsx",
            stored_name="missing.xlsx",
            file_format="xlsx",
            file_size=1,
            sha256="0" * 64,
            created_by_id=uploader.id,
        )
        session.add(job)
        await session.flush()
        side.imp = job.id
    await session.commit()
    return scene
