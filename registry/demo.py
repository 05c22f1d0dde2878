"""``registry seed-demo``: a realistic, reproducible registry for trying the service.

Practitioners across the seed jurisdictions (Hubei, Hunan with Zhuzhou, Gansu, Xiamen), every
level and post type, with the untidy cases a clerk meets: certifications awaiting
verification, rejected ones, lapsed registrations, people out of post, missing phone numbers.
Everything is drawn from one seeded random generator, so the same seed gives the same registry.
"""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import dataclass

from sqlalchemy import func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession
from stdnum.cn import ric

from registry.certifications.service import default_registration_end
from registry.models import Certification, CertificationPeriod, Employment, Organization, Practitioner, Region
from registry.practitioners.names import name_tokens
from registry.practitioners.service import refresh_jurisdiction

# Province / city prefixes of the five policy documents' jurisdictions, with weights.
JURISDICTIONS = [("42", 4), ("4302", 2), ("43", 2), ("62", 2), ("3502", 2)]
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
DOUBLE_SURNAMES = ("欧阳", "司马", "上官", "诸葛", "东方")
GIVEN = (
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍红鹏辉宇浩凯晨欣怡佳琪子涵梓轩雨萱思彤俊杰嘉"
    "文博一诺浩然宇轩欣妍婷雪梅建国志强海燕春燕晓东小明喆堃珺昊晗玥翊瑾"
)
ORG_KINDS = [
    ("service_org", "社会工作服务中心", 3),
    ("grassroots_station", "街道社会工作服务站", 3),
    ("community", "社区居民委员会", 4),
    ("civil_affairs_institution", "社会福利院", 1),
]
POST_FOR_ORG = {
    "service_org": ["service_org_staff"] * 8 + ["other"],
    "grassroots_station": ["station_social_worker"] * 9 + ["other"],
    "community": ["community_worker"] * 9 + ["other"],
    "civil_affairs_institution": ["civil_affairs_staff"] * 4 + ["other"],
}
EDUCATION = [("secondary", 10), ("associate", 35), ("bachelor", 45), ("master", 9), ("doctor", 1)]


@dataclass
class DemoSummary:
    organizations: int
    practitioners: int
    certifications: int
    employments: int


def _weighted(rng: random.Random, options: list[tuple[str, int]]) -> str:
    return rng.choices([o for o, _ in options], weights=[w for _, w in options])[0]


def _name(rng: random.Random) -> str:
    surname = rng.choice(DOUBLE_SURNAMES) if rng.random() < 0.02 else rng.choice(SURNAMES)
    given = rng.choice(GIVEN) if rng.random() < 0.3 else rng.choice(GIVEN) + rng.choice(GIVEN)
    return surname + given


def make_id_number(rng: random.Random, region_code: str, birth: dt.date, sex: str) -> str:
    seq = rng.randrange(0, 100)
    odd = rng.choice("13579") if sex == "M" else rng.choice("02468")
    body = f"{region_code}{birth:%Y%m%d}{seq:02d}{odd}"
    return body + ric.calc_check_digit(body + "0")


async def seed_demo(
    session: AsyncSession, *, practitioners: int = 3000, seed: int = 20261122, today: dt.date | None = None
) -> DemoSummary:
    today = today or dt.date(2026, 11, 22)
    rng = random.Random(seed)
    counties = (
        await session.execute(
            select(Region.code, Region.name).where(Region.active, Region.level == 3).order_by(Region.code)
        )
    ).all()
    by_prefix = {p: [c for c in counties if c.code.startswith(p)] for p, _ in JURISDICTIONS}

    org_rows = []
    for prefix, weight in JURISDICTIONS:
        pool = by_prefix[prefix][: 12 if len(prefix) == 2 else 8]
        for county in pool:
            for kind, label, count in ORG_KINDS:
                for n in range(max(1, count * weight // 4)):
                    org_rows.append(
                        {
                            "name": f"{county.name}{['阳光', '同心', '和美', '启航', '暖心'][n % 5]}{label}",
                            "org_type": kind,
                            "region_code": county.code,
                            "credit_code": None,
                        }
                    )
    orgs = (
        await session.execute(insert(Organization).returning(Organization.id, Organization.org_type), org_rows)
    ).all()

    person_rows: list[dict[str, object]] = []
    seen: set[str] = set()
    birth_places = [c.code for c in counties if c.code.startswith(("42", "43", "62", "35"))]
    while len(person_rows) < practitioners:
        sex = rng.choice("MF") if rng.random() < 0.3 else "F"  # the workforce is mostly women
        birth = dt.date(1965, 1, 1) + dt.timedelta(days=rng.randrange(0, 365 * 36))
        id_number = make_id_number(rng, rng.choice(birth_places), birth, sex)
        if id_number in seen:
            continue
        seen.add(id_number)
        name = _name(rng)
        person_rows.append(
            {
                "name": name,
                "name_tokens": name_tokens(name),
                "id_number": id_number,
                "birth_date": birth,
                "sex": sex,
                "phone": None if rng.random() < 0.07 else f"1{rng.choice('3589')}{rng.randrange(10**9):09d}",
                "education": _weighted(rng, EDUCATION),
                "social_work_major": rng.random() < 0.35,
                "household_region_code": id_number[:6],
            }
        )
    people = (
        await session.execute(insert(Practitioner).returning(Practitioner.id, Practitioner.birth_date), person_rows)
    ).all()

    spells, certs, cert_no = [], [], 0
    periods: dict[str, list[tuple[str, dt.date, dt.date]]] = {}
    for person in people:
        org = rng.choice(orgs)
        earliest = max(person.birth_date.replace(year=person.birth_date.year + 20), dt.date(2008, 1, 1))
        start = earliest + dt.timedelta(days=rng.randrange(0, max(1, (today - earliest).days - 30)))
        roll = rng.random()
        if roll < 0.15:  # an earlier job, then the current one
            change = min(today, start + dt.timedelta(days=rng.randrange(60, max(61, (today - start).days))))
            prev = rng.choice(orgs)
            spells.append(_spell(rng, person.id, prev, start, change - dt.timedelta(days=1)))
            spells.append(_spell(rng, person.id, org, change, None))
        elif roll < 0.23:  # left the field
            end = start + dt.timedelta(days=rng.randrange(30, max(31, (today - start).days)))
            spells.append(_spell(rng, person.id, org, start, min(end, today - dt.timedelta(days=1))))
        elif roll < 0.25:  # no employment recorded yet: a record to complete
            pass
        else:
            spells.append(_spell(rng, person.id, org, start, None))

        if rng.random() < 0.78:
            levels = [_weighted(rng, [("assistant", 66), ("intermediate", 29), ("senior", 5)])]
            if levels[0] != "assistant" and rng.random() < 0.4:
                levels.insert(0, "assistant" if levels[0] == "intermediate" else "intermediate")
            exam = rng.randrange(2010, 2026)
            for level in levels:
                cert_no += 1
                cert, cert_periods = _cert(rng, person.id, level, exam, cert_no, today)
                certs.append(cert)
                periods[str(cert["certificate_number"])] = cert_periods
                exam = min(today.year, exam + rng.randrange(1, 4))

    for start in range(0, len(spells), 5000):
        await session.execute(insert(Employment), spells[start : start + 5000])
    for start in range(0, len(certs), 5000):
        await session.execute(insert(Certification), certs[start : start + 5000])
    ids = dict((await session.execute(select(Certification.certificate_number, Certification.id))).all())
    period_rows = [
        {"certification_id": ids[number], "kind": kind, "start_date": start, "end_date": end}
        for number, cert_periods in periods.items()
        for kind, start, end in cert_periods
    ]
    for start in range(0, len(period_rows), 5000):
        await session.execute(insert(CertificationPeriod), period_rows[start : start + 5000])
    await refresh_jurisdiction(session, today=today)
    await _seed_incentive_facts(session, rng, today, [p.id for p in people], spells)
    await seed_demo_accounts(session, today=today)
    return DemoSummary(len(orgs), len(people), len(certs), len(spells))


# Demo reference wages (yuan per year, previous-year figures). Not official statistics: a real
# installation enters the published figures through PUT /api/salary-benchmarks.
DEMO_BENCHMARKS = [
    ("420000", "average_social_wage", 86000),
    ("430000", "average_social_wage", 80000),
    ("430200", "average_social_wage", 83000),
    ("620000", "average_social_wage", 76000),
    ("350200", "urban_nonprivate_inpost_avg_wage", 118000),
]
CE_COURSES = [
    ("training", "社区社会工作实务培训", "市社会工作协会"),
    ("training", "个案管理与评估", "省民政干部学校"),
    ("supervision", "小组督导", "市社会工作督导中心"),
    ("supervision", "个别督导", "机构督导"),
    ("academic", "社会工作学术年会", "省社会工作学会"),
    ("other", "线上专题讲座", "中国社会工作联合会"),
]


async def _seed_incentive_facts(
    session: AsyncSession, rng: random.Random, today: dt.date, people: list[int], spells: list[dict[str, object]]
) -> None:
    """Reference wages, CE records of this year and last, and last year's pay of those in post."""
    from decimal import Decimal

    from registry.models import CeRecordRow, SalaryBenchmarkRow, SalaryRecordRow

    rows = []
    for region, basis, amount in DEMO_BENCHMARKS:
        for year in range(today.year - 3, today.year):
            grown = int(amount * (1.05 ** (year - (today.year - 1))))
            rows.append(
                {
                    "region_code": region,
                    "year": year,
                    "basis": basis,
                    "amount": Decimal(grown),
                    "source": "演示数据（非官方统计）",
                }
            )
    await session.execute(insert(SalaryBenchmarkRow), rows)

    in_post = {int(str(s["practitioner_id"])) for s in spells if s["in_post_to"] is None}
    ce_rows: list[dict[str, object]] = []
    for pid in people:
        if pid not in in_post:
            continue
        for year in (today.year - 1, today.year):
            last = today if year == today.year else dt.date(year, 12, 31)
            days = rng.sample(range((last - dt.date(year, 1, 1)).days + 1), k=rng.randrange(0, 12))
            for offset in days:
                category, course, provider = rng.choice(CE_COURSES)
                ce_rows.append(
                    {
                        "practitioner_id": pid,
                        "activity_date": dt.date(year, 1, 1) + dt.timedelta(days=offset),
                        "hours": Decimal(rng.choice(["2", "3", "4", "6", "8", "8", "16"])),
                        "unit": "学时" if rng.random() < 0.7 else "小时",
                        "category": category,
                        "provider": provider,
                        "course": course,
                        "status": _weighted(rng, [("verified", 85), ("pending", 11), ("rejected", 4)]),
                    }
                )
    for start in range(0, len(ce_rows), 5000):
        await session.execute(insert(CeRecordRow), ce_rows[start : start + 5000])

    pay_rows = []
    for pid in sorted(in_post):
        if rng.random() < 0.7:
            monthly = rng.random() < 0.4
            annual = Decimal(rng.randrange(55_000, 150_000, 500))
            pay_rows.append(
                {
                    "practitioner_id": pid,
                    "year": today.year - 1,
                    "amount": (annual / 12).quantize(Decimal("1")) if monthly else annual,
                    "period": "monthly" if monthly else "annual",
                    "status": _weighted(rng, [("verified", 90), ("pending", 10)]),
                }
            )
    for start in range(0, len(pay_rows), 5000):
        await session.execute(insert(SalaryRecordRow), pay_rows[start : start + 5000])


# Shown by the run command; a demo installation is not a place for real data.
DEMO_PASSWORD = "Demo-2026-sw"  # noqa: S105 - printed on purpose; demo data only
DEMO_ACCOUNTS = (
    ("admin", "系统管理员", "admin"),
    ("clerk", "民政工作人员（区县）", "civil_affairs"),
    ("payroll", "津贴发放专员（区县）", "payroll_clerk"),
    ("orghr", "单位人事专员", "org_hr"),
    ("worker", "社工本人", "practitioner"),
)


async def seed_demo_accounts(session: AsyncSession, *, today: dt.date) -> None:
    """One account per role, scoped to the county with the most practitioners, its largest
    employer and one of that employer's certified, in-post staff."""
    from registry.accounts.actor import Actor
    from registry.accounts.schemas import GrantCreate, UserCreate
    from registry.accounts.service import create_user

    county = await session.scalar(
        select(Practitioner.region_code)
        .where(Practitioner.region_code.is_not(None))
        .group_by(Practitioner.region_code)
        .order_by(func.count().desc(), Practitioner.region_code)
        .limit(1)
    )
    org_id = await session.scalar(
        select(Practitioner.organization_id)
        .where(Practitioner.region_code == county, Practitioner.organization_id.is_not(None))
        .group_by(Practitioner.organization_id)
        .order_by(func.count().desc(), Practitioner.organization_id)
        .limit(1)
    )
    worker = await session.scalar(
        select(Practitioner.id)
        .join(Certification, Certification.practitioner_id == Practitioner.id)
        .join(Employment, Employment.practitioner_id == Practitioner.id)
        .where(
            Practitioner.organization_id == org_id,
            Certification.verification_status == "verified",
            Employment.in_post_to.is_(None),
        )
        .order_by(Practitioner.id)
        .limit(1)
    )
    if county is None or org_id is None or worker is None:
        return
    scope = {
        "admin": {},
        "civil_affairs": {"region_code": county},
        "payroll_clerk": {"region_code": county},
        "org_hr": {"organization_id": org_id},
        "practitioner": {"practitioner_id": worker},
    }
    actor = Actor.system("demo")
    for username, display, role in DEMO_ACCOUNTS:
        name = display
        if role == "practitioner":
            name = str(await session.scalar(select(Practitioner.name).where(Practitioner.id == worker)))
        await create_user(
            session,
            actor,
            UserCreate(
                username=username,
                display_name=name,
                password=DEMO_PASSWORD,
                grants=[GrantCreate(role=role, **scope[role])],  # type: ignore[arg-type]
            ),
        )


async def demo_logins(session: AsyncSession) -> list[str]:
    """Lines for the run command: each demo account, its role and scope."""
    from registry.accounts.actor import ROLE_LABELS
    from registry.models import RoleGrant, User

    rows = (
        await session.execute(
            select(User.username, User.display_name, RoleGrant.role, RoleGrant.region_code, RoleGrant.organization_id)
            .join(RoleGrant, RoleGrant.user_id == User.id)
            .where(User.username.in_([a[0] for a in DEMO_ACCOUNTS]))
            .order_by(User.id)
        )
    ).all()
    lines = []
    for username, display, role, region, org in rows:
        where = ""
        if region:
            where = " · " + str(await session.scalar(select(Region.full_name).where(Region.code == region)))
        elif org:
            where = " · " + str(await session.scalar(select(Organization.name).where(Organization.id == org)))
        lines.append(f"  {username:<8} {DEMO_PASSWORD}   {ROLE_LABELS[role]}{where}（{display}）")
    return lines


def _spell(rng: random.Random, pid: int, org: object, start: dt.date, end: dt.date | None) -> dict[str, object]:
    org_type = org.org_type  # type: ignore[attr-defined]
    post = rng.choice(POST_FOR_ORG[org_type])
    return {
        "practitioner_id": pid,
        "organization_id": org.id,  # type: ignore[attr-defined]
        "post_type": post,
        "duty_level": rng.choice(["city", "county"]) if post == "station_social_worker" else None,
        "in_post_from": start,
        "in_post_to": end,
    }


def _cert(
    rng: random.Random, pid: int, level: str, exam: int, serial: int, today: dt.date
) -> tuple[dict[str, object], list[tuple[str, dt.date, dt.date]]]:
    """A certificate and its registration periods: the first registration and each renewal."""
    status = _weighted(rng, [("verified", 84), ("pending", 11), ("rejected", 5)])
    reg_from = dt.date(exam, 1, 1) + dt.timedelta(days=rng.randrange(60, 330))
    reg_from = min(reg_from, today)
    periods = [("registration", reg_from, default_registration_end(reg_from))]
    # Most registrations were renewed and are current; some lapsed and were never renewed.
    lapsed = rng.random() < 0.12
    while not lapsed and default_registration_end(reg_from) < today:
        reg_from = default_registration_end(reg_from) + dt.timedelta(days=1)
        periods.append(("renewal", reg_from, default_registration_end(reg_from)))
    prefix = {"assistant": "A", "intermediate": "B", "senior": "C"}[level]
    verified_on = None if status != "verified" else min(dt.date(exam + 1, 3, 1), today)
    checked_on = None if status == "pending" else min(dt.date(exam + 1, 3, 1), today)
    return {
        "practitioner_id": pid,
        "level": level,
        "certificate_number": f"{prefix}{exam}{serial:07d}",
        "exam_year": exam,
        "verification_status": status,
        "verified_by_id": None,
        "verified_at": dt.datetime.combine(checked_on, dt.time(2), tzinfo=dt.UTC) if checked_on else None,
        "verified_on": verified_on,
        "rejection_reason": "证书复印件不清晰，请重新上传" if status == "rejected" else None,
    }, periods


async def practitioner_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Practitioner)) or 0)


async def user_count(session: AsyncSession) -> int:
    from registry.models import User

    return int(await session.scalar(select(func.count()).select_from(User)) or 0)
