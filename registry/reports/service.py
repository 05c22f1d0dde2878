"""Region figures against the organization and region rules of the catalogue (reported, not paid)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import ColumnElement, and_, case, func, literal_column, or_, select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor, Forbidden
from registry.certifications.history import registered_over, verified_by
from registry.models import Certification, Employment, Organization, Practitioner, Region
from registry.regions.codes import in_subtree, subtree_bounds
from registry.regions.service import require_region
from registry.reports.schemas import (
    ComplianceRates,
    CountryFigures,
    OrgShareRead,
    ProvinceRow,
    RegionFigures,
    TargetRead,
)
from registry.rules import evaluate
from registry.rules.facts import load_facts_many
from registry.rules.model import PolicyRule
from registry.rules.service import rule_book

LEVELS = ("assistant", "intermediate", "senior")
_RANK = case((Certification.level == "senior", 3), (Certification.level == "intermediate", 2), else_=1)


def _share(part: int, whole: int) -> Decimal | None:
    if whole == 0:
        return None
    return (Decimal(part) / Decimal(whole)).quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _pct(value: Decimal | None) -> str:
    return "—" if value is None else f"{(value * 100).quantize(Decimal('0.1'), ROUND_HALF_UP)}%"


def _in_region(column: object, code: str) -> ColumnElement[bool]:
    lo, hi = subtree_bounds(code)
    return column.between(lo, hi)  # type: ignore[attr-defined,no-any-return]


def _in_post(day: dt.date) -> ColumnElement[bool]:
    return and_(Employment.in_post_from <= day, or_(Employment.in_post_to.is_(None), Employment.in_post_to >= day))


def _existed(day: dt.date) -> ColumnElement[bool]:
    """The organization existed on the day: founded by then (or not known) and not yet closed."""
    return and_(
        or_(Organization.founded_on.is_(None), Organization.founded_on <= day),
        or_(Organization.closed_on.is_(None), Organization.closed_on >= day),
    )


def _qualified_staff(day: dt.date, min_education: tuple[str, ...]) -> ColumnElement[bool]:
    """A verified certificate, or a social-work degree at the given education levels."""
    has_cert = (
        select(Certification.id).where(Certification.practitioner_id == Practitioner.id, verified_by(day)).exists()
    )
    degree = and_(Practitioner.social_work_major, Practitioner.education.in_(min_education))
    return or_(has_cert, degree)


async def region_figures(session: AsyncSession, actor: Actor, code: str, as_of: dt.date) -> RegionFigures:
    region = await require_region(session, code, "code")
    if not actor.may_on("figures", region_code=code):
        raise Forbidden("该区划不在您的管辖范围内。", code="region_out_of_scope")
    lo, hi = subtree_bounds(code)
    people = Practitioner.region_code.between(lo, hi)

    practitioners = int(await session.scalar(select(func.count()).where(people)) or 0)

    # Current spells at the date (one per person: the latest that covers it).
    spell = (
        select(Employment.practitioner_id, Employment.post_type, Employment.organization_id)
        .join(Organization, Organization.id == Employment.organization_id)
        .where(_in_post(as_of), _in_region(Organization.region_code, code))
        .ext(distinct_on(Employment.practitioner_id))
        .order_by(Employment.practitioner_id, Employment.in_post_from.desc())
        .subquery()
    )
    by_post: dict[str, int] = dict(
        (await session.execute(select(spell.c.post_type, func.count()).group_by(spell.c.post_type))).all()
    )
    in_post = sum(by_post.values())

    best = (
        select(Certification.practitioner_id, func.max(_RANK).label("rank"))
        .join(Practitioner, Practitioner.id == Certification.practitioner_id)
        .where(people, verified_by(as_of))
        .group_by(Certification.practitioner_id)
        .subquery()
    )
    certified: dict[int, int] = dict(
        (await session.execute(select(best.c.rank, func.count()).group_by(best.c.rank))).all()
    )
    valid = (
        select(Certification.practitioner_id, func.max(_RANK).label("rank"))
        .join(Practitioner, Practitioner.id == Certification.practitioner_id)
        .where(
            people,
            verified_by(as_of),
            registered_over(as_of),
        )
        .group_by(Certification.practitioner_id)
        .subquery()
    )
    registered: dict[int, int] = dict(
        (await session.execute(select(valid.c.rank, func.count()).group_by(valid.c.rank))).all()
    )

    org_types = dict(
        (
            await session.execute(
                select(Organization.org_type, func.count())
                .where(_in_region(Organization.region_code, code), _existed(as_of))
                .group_by(Organization.org_type)
            )
        ).all()
    )

    station = (
        select(Practitioner.id)
        .join(spell, spell.c.practitioner_id == Practitioner.id)
        .where(spell.c.post_type == "station_social_worker")
        .subquery()
    )
    station_staff = int(await session.scalar(select(func.count()).select_from(station)) or 0)
    station_qualified = int(
        await session.scalar(
            select(func.count())
            .select_from(Practitioner)
            .join(spell, spell.c.practitioner_id == Practitioner.id)
            .where(
                spell.c.post_type == "station_social_worker",
                _qualified_staff(as_of, ("associate", "bachelor", "master", "doctor")),
            )
        )
        or 0
    )

    book = await rule_book(session)
    rules = [
        r
        for r in book.rules
        if r.kind in ("org_share", "station_share", "station_hours", "region_target", "report_only")
        and r.in_force(as_of)
        and (r.region_code is None or in_subtree(code, r.region_code) or in_subtree(r.region_code, code))
    ]
    # The highest version of each rule id in force.
    latest: dict[str, PolicyRule] = {}
    for r in rules:
        if r.id not in latest or latest[r.id].version < r.version:
            latest[r.id] = r

    targets: list[TargetRead] = []
    shares: list[OrgShareRead] = []
    for rule in sorted(latest.values(), key=lambda r: r.id):
        area = code if rule.region_code is None or in_subtree(code, rule.region_code) else rule.region_code
        if rule.kind == "station_share":
            target = rule.params.get("targets", {}).get(str(as_of.year))
            share = _share(station_qualified, station_staff) if area == code else None
            if area != code:
                share = await _station_share(session, area, as_of)
            tgt = Decimal(str(target)) if target is not None else None
            met = None if tgt is None or share is None else share >= tgt
            targets.append(
                _target(
                    rule,
                    "驻站人员具有社工学历或持证比例",
                    tgt,
                    share,
                    met,
                    f"{as_of.year} 年目标 {_pct(tgt)}，现为 {_pct(share)}"
                    + ("" if tgt is not None else "（该年度无目标）")
                    + "。",
                )
            )
        elif rule.kind == "org_share":
            min_share = Decimal(str(rule.params["min_share"]))
            rows = await _org_shares(session, area, as_of, tuple(rule.params.get("org_types", ["service_org"])))
            for org_id, name, staff, qualified in rows:
                share = _share(qualified, staff)
                shares.append(
                    OrgShareRead(
                        organization_id=org_id,
                        name=name,
                        staff=staff,
                        qualified=qualified,
                        share=share,
                        met=None if share is None else share >= min_share,
                    )
                )
            judged = [s for s in shares if s.met is not None]
            meeting = sum(1 for s in judged if s.met)
            targets.append(
                _target(
                    rule,
                    "持证或社工本科以上人员达三分之一的社工机构数",
                    Decimal(len(judged)),
                    Decimal(meeting),
                    (meeting == len(judged)) if judged else None,
                    f"{len(judged)} 家有在岗人员的社工机构中 {meeting} 家达到三分之一。",
                )
            )
        elif rule.kind == "region_target":
            targets.extend(await _region_targets(session, rule, area, as_of))
        else:
            targets.append(_reported_target(rule, as_of))

    names = {1: "assistant", 2: "intermediate", 3: "senior"}
    return RegionFigures(
        region_code=code,
        region_name=region.full_name,
        as_of=as_of,
        practitioners=practitioners,
        in_post=in_post,
        certified_by_level={names[k]: int(v) for k, v in sorted(certified.items())},
        registration_valid_by_level={names[k]: int(v) for k, v in sorted(registered.items())},
        in_post_by_post_type={str(k): int(v) for k, v in sorted(by_post.items())},
        organizations_by_type={str(k): int(v) for k, v in sorted(org_types.items())},
        station_staff=station_staff,
        station_staff_qualified=station_qualified,
        targets=targets,
        organizations_share=shares,
    )


def _target(
    rule: PolicyRule, measure: str, target: Decimal | None, actual: Decimal | None, met: bool | None, text: str
) -> TargetRead:
    return TargetRead(
        rule_id=rule.id,
        rule_ref=rule.ref,
        title=rule.title,
        measure=measure,
        target=target,
        actual=actual,
        met=met,
        text=text,
        citation=rule.citation,
    )


def _reported_target(rule: PolicyRule, as_of: dt.date) -> TargetRead:
    """A rule the registry can only report: its target for the year (value and text), and why
    there is no figure beside it."""
    params = rule.params
    why = rule.note or "本系统未登记相应数据，仅列出规则。"
    target: Decimal | None = None
    if "targets" in params:
        value = params["targets"].get(str(as_of.year))
        if value is None:
            return _target(rule, rule.title, None, None, None, f"{as_of.year} 年该规则没有年度目标。{why}")
        target = Decimal(str(value))
    else:
        value = next((params[k] for k in ("target_share", "min_labour_share") if k in params), None)
        target = Decimal(str(value)) if value is not None else None
    if target is not None:
        return _target(rule, rule.title, target, None, None, f"{as_of.year} 年目标 {_pct(target)}。{why}")
    parts = []
    if "per_beds" in params:
        parts.append(f"每 {params['per_beds']} 张床位 1 名社工")
    if "per_elderly" in params:
        parts.append(f"每 {params['per_elderly']} 名老人 1 名社工")
    text = (f"目标：{'、'.join(parts)}。" if parts else "") + why
    return _target(rule, rule.title, None, None, None, text)


async def _station_share(session: AsyncSession, code: str, as_of: dt.date) -> Decimal | None:
    spell = (
        select(Employment.practitioner_id)
        .join(Organization, Organization.id == Employment.organization_id)
        .where(
            _in_post(as_of),
            _in_region(Organization.region_code, code),
            Employment.post_type == "station_social_worker",
        )
        .distinct()
        .subquery()
    )
    staff = int(await session.scalar(select(func.count()).select_from(spell)) or 0)
    qualified = int(
        await session.scalar(
            select(func.count())
            .select_from(Practitioner)
            .join(spell, spell.c.practitioner_id == Practitioner.id)
            .where(_qualified_staff(as_of, ("associate", "bachelor", "master", "doctor")))
        )
        or 0
    )
    return _share(qualified, staff)


async def _org_shares(
    session: AsyncSession, code: str, as_of: dt.date, org_types: tuple[str, ...]
) -> list[tuple[int, str, int, int]]:
    """Per organization: staff in post on the day, and those with a verified certificate or a
    social-work bachelor's degree or above (ZZ/XM-ORG-THIRD)."""
    qualified = case((_qualified_staff(as_of, ("bachelor", "master", "doctor")), 1), else_=0)
    rows = (
        await session.execute(
            select(
                Organization.id,
                Organization.name,
                func.count(func.distinct(Employment.practitioner_id)),
                func.count(func.distinct(case((qualified == 1, Employment.practitioner_id)))),
            )
            .join(Employment, and_(Employment.organization_id == Organization.id, _in_post(as_of)))
            .join(Practitioner, Practitioner.id == Employment.practitioner_id)
            .where(_in_region(Organization.region_code, code), Organization.org_type.in_(org_types), _existed(as_of))
            .group_by(Organization.id, Organization.name)
            .order_by(Organization.id)
        )
    ).all()
    return [(int(r[0]), str(r[1]), int(r[2]), int(r[3])) for r in rows]


async def _region_targets(session: AsyncSession, rule: PolicyRule, code: str, as_of: dt.date) -> list[TargetRead]:
    lo, hi = subtree_bounds(code)
    out: list[TargetRead] = []
    params = rule.params
    if "practitioners" in params:
        actual = int(await session.scalar(select(func.count()).where(Practitioner.region_code.between(lo, hi))) or 0)
        target = Decimal(str(params["practitioners"]))
        out.append(
            _target(
                rule,
                "社会工作专业人才数",
                target,
                Decimal(actual),
                actual >= target,
                f"目标 {target} 人，已登记 {actual} 人。",
            )
        )
    if "certified" in params:
        actual = int(
            await session.scalar(
                select(func.count(func.distinct(Certification.practitioner_id)))
                .join(Practitioner, Practitioner.id == Certification.practitioner_id)
                .where(Practitioner.region_code.between(lo, hi), verified_by(as_of))
            )
            or 0
        )
        target = Decimal(str(params["certified"]))
        out.append(
            _target(
                rule,
                "持证社工数",
                target,
                Decimal(actual),
                actual >= target,
                f"目标 {target} 人，已核验持证 {actual} 人。",
            )
        )
    if "organizations" in params:
        actual = int(
            await session.scalar(
                select(func.count()).where(
                    _in_region(Organization.region_code, code),
                    Organization.org_type == "service_org",
                    _existed(as_of),
                )
            )
            or 0
        )
        target = Decimal(str(params["organizations"]))
        out.append(
            _target(
                rule,
                "社会工作服务机构数",
                target,
                Decimal(actual),
                actual >= target,
                f"目标 {target} 家，已登记 {actual} 家。",
            )
        )
    if "organizations_per_county" in params:
        need = int(params["organizations_per_county"])
        counties = (
            await session.execute(
                select(Region.code, Region.name, func.count(Organization.id))
                .outerjoin(
                    Organization,
                    and_(
                        Organization.region_code == Region.code,
                        Organization.org_type == "service_org",
                        _existed(as_of),
                    ),
                )
                .where(Region.code.between(lo, hi), Region.level == 3, Region.active)
                .group_by(Region.code, Region.name)
            )
        ).all()
        short = [f"{name}（{n}）" for _, name, n in counties if n < need]
        met = not short if counties else None
        text = f"每个县（市、区）不少于 {need} 家：{len(counties)} 个县级区划中 {len(counties) - len(short)} 个达到"
        text += "。" if not short else "，未达到：" + "、".join(short[:20]) + ("等。" if len(short) > 20 else "。")
        out.append(
            _target(
                rule,
                "每县社会工作服务机构数",
                Decimal(need),
                Decimal(len(counties) - len(short)),
                met,
                text,
            )
        )
    for key, label in (("brand_organizations", "品牌社会工作服务机构数"), ("supervisors_per_year", "每年培养督导人数")):
        if key in params:
            out.append(
                _target(rule, label, Decimal(str(params[key])), None, None, f"目标 {params[key]}；本系统未登记该数据。")
            )
    return out


def _province_of(column: object) -> ColumnElement[str]:
    # A literal length: a bound one makes the GROUP BY expression differ from the SELECT's.
    return func.left(column, literal_column("2")).label("province")


async def country_figures(session: AsyncSession, actor: Actor, as_of: dt.date) -> CountryFigures:
    """The whole country by province, for those who may read every region."""
    if not actor.may("figures") or actor.region_roots("figures") is not None:
        raise Forbidden("只有系统管理员可以查看全国数据。", code="region_out_of_scope")
    prov = _province_of(Practitioner.region_code)
    people = dict(
        (
            await session.execute(
                select(prov, func.count()).where(Practitioner.region_code.is_not(None)).group_by(prov)
            )
        ).all()
    )
    org_prov = _province_of(Organization.region_code)
    in_post = dict(
        (
            await session.execute(
                select(org_prov, func.count(func.distinct(Employment.practitioner_id)))
                .join(Organization, Organization.id == Employment.organization_id)
                .where(_in_post(as_of))
                .group_by(org_prov)
            )
        ).all()
    )
    certified = dict(
        (
            await session.execute(
                select(prov, func.count(func.distinct(Certification.practitioner_id)))
                .join(Practitioner, Practitioner.id == Certification.practitioner_id)
                .where(verified_by(as_of))
                .group_by(prov)
            )
        ).all()
    )
    names = dict(
        (await session.execute(select(Region.code, Region.name).where(Region.level == 1, Region.active))).all()
    )
    rows = [
        ProvinceRow(
            region_code=f"{p}0000",
            region_name=names.get(f"{p}0000", f"{p}0000"),
            practitioners=int(n),
            in_post=int(in_post.get(p, 0)),
            certified=int(certified.get(p, 0)),
        )
        for p, n in people.items()
        if p
    ]
    return CountryFigures(as_of=as_of, provinces=sorted(rows, key=lambda r: -r.practitioners))


COMPLIANCE_CHUNK = 1000


async def compliance_rates(session: AsyncSession, actor: Actor, code: str, as_of: dt.date) -> ComplianceRates:
    """CE compliance for the year and pay against the benchmark for the year before, over the
    practitioners of the region: the evaluator's own decision for each, facts read in chunks."""
    await require_region(session, code, "code")
    if not actor.may_on("figures", region_code=code):
        raise Forbidden("该区划不在您的管辖范围内。", code="region_out_of_scope")
    lo, hi = subtree_bounds(code)
    book = await rule_book(session)
    rates = ComplianceRates(region_code=code, as_of=as_of, ce_year=as_of.year, salary_year=as_of.year - 1)
    last_id = 0
    while True:
        people = (
            await session.scalars(
                select(Practitioner)
                .where(Practitioner.region_code.between(lo, hi), Practitioner.id > last_id)
                .order_by(Practitioner.id)
                .limit(COMPLIANCE_CHUNK)
            )
        ).all()
        if not people:
            return rates
        last_id = people[-1].id
        for facts in (await load_facts_many(session, people)).values():
            rates.ce.count(evaluate.continuing_education(facts, book, as_of.year, as_of).outcome)
            rates.salary.count(evaluate.salary(facts, book, as_of.year - 1).outcome)
        session.expunge_all()  # a province is many chunks: keep the identity map small
