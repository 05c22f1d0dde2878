"""Migrating a roster: certificates imported with their verification date and evidence and their
registration periods (first registration on the 证书 sheet, renewals on 登记记录). Taken as
verified only from a user who may verify in the region; from an employer's HR they arrive
pending and the dry run says so row by row; a second import of the same file writes nothing."""

from __future__ import annotations

import datetime as dt
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.models import AuditEvent, Certification, CertificationPeriod, Organization, Practitioner
from tests.test_imports import JIANGAN, Place, commit, counts, new_ids, place, upload, xlsx

__all__ = ["place"]  # the fixture, shared with the import tests

HEADINGS = {
    "人员": ["姓名", "公民身份号码", "学历", "户籍地区划代码"],
    "任职": ["公民身份号码", "工作单位统一社会信用代码", "岗位类别", "在岗起始日期"],
    "证书": ["公民身份号码", "证书级别", "证书编号", "考试年度", "登记有效期起", "登记机关", "核验日期", "核验依据"],
    "登记记录": ["公民身份号码", "证书编号", "登记类别", "起始日期", "登记机关", "说明"],
}
SURNAMES = "赵钱孙李周吴郑王冯陈"


def roster(place: Place, ids: list[str], prefix: str) -> bytes:
    """Each person: a first registration in 2019, verified on paper in 2019, renewed in 2022."""
    people, spells, certs, periods = [], [], [], []
    for i, number in enumerate(ids):
        cert = f"{prefix}-{i:05d}"
        people.append([SURNAMES[i % 10] + "某" + "甲乙丙丁"[i % 4], number, "本科", JIANGAN])
        spells.append([number, place.org_credit, "社工机构专职人员", "2019-01-01"])
        certs.append(
            [
                number,
                "助理社会工作师",
                cert,
                2018,
                "2019-03-01",
                "湖北省民政厅",
                "2019-04-15",
                f"2019-04 纸质核验，档案号 {i}",
            ]
        )
        periods.append([number, cert, "再登记", "2022-03-01", "湖北省民政厅", None])
    return xlsx({"人员": people, "任职": spells, "证书": certs, "登记记录": periods}, HEADINGS)


async def _period_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CertificationPeriod)) or 0)


async def test_a_roster_of_1000_verified_certificates_with_renewals(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    ids = new_ids(1000, "19910101")
    content = roster(place, ids, "RS")
    before = await counts(session)
    periods_before = await _period_count(session)

    # The employer's HR: every certificate would arrive pending, and the dry run says so per row.
    hr = await upload(anonymous, place.hr, content)
    assert hr["problems"] == [] and hr["can_commit"] is True, hr["problems"][:3]
    assert hr["summary"]["notice_count"] == 1000
    notices = hr["summary"]["notices"]
    assert {(n["sheet"], n["column"], n["code"]) for n in notices} == {("证书", "核验日期", "verification_not_taken")}
    assert sorted(n["row"] for n in notices) == list(range(2, 1002))
    assert "导入后为待核验" in notices[0]["message"]
    page = await anonymous.get(f"/imports/{hr['id']}", headers=place.hr)
    assert page.status_code == 200 and "导入后为待核验" in page.text

    # The county's civil-affairs clerk: taken as verified on the stated days.
    clerk = await upload(anonymous, place.clerk, content)
    assert clerk["problems"] == [] and clerk["summary"]["notice_count"] == 0, clerk["problems"][:3]
    assert clerk["summary"]["counts"]["certifications"]["created"] == 1000
    assert clerk["summary"]["counts"]["registrations"]["created"] == 1000
    done = await commit(anonymous, place.clerk, clerk["id"])
    assert done["status"] == "done" and done["committed"] is True, done
    session.expire_all()
    certs = (await session.scalars(select(Certification).where(Certification.certificate_number.like("RS-%")))).all()
    assert len(certs) == 1000
    assert {(c.verification_status, c.verified_on) for c in certs} == {("verified", dt.date(2019, 4, 15))}
    assert all(c.verification_evidence == f"2019-04 纸质核验，档案号 {int(c.certificate_number[3:])}" for c in certs)
    assert {c.verified_by_id for c in certs} != {None}
    rows = (
        await session.execute(
            select(CertificationPeriod.kind, CertificationPeriod.start_date, CertificationPeriod.end_date, func.count())
            .join(Certification, Certification.id == CertificationPeriod.certification_id)
            .where(Certification.certificate_number.like("RS-%"))
            .group_by(CertificationPeriod.kind, CertificationPeriod.start_date, CertificationPeriod.end_date)
        )
    ).all()
    assert sorted(tuple(r) for r in rows) == [
        ("registration", dt.date(2019, 3, 1), dt.date(2022, 2, 28), 1000),
        ("renewal", dt.date(2022, 3, 1), dt.date(2025, 2, 28), 1000),
    ]
    after = await counts(session)
    assert after["certification"] == before["certification"] + 1000
    assert await _period_count(session) == periods_before + 2000

    # The same file again writes nothing.
    again = await upload(anonymous, place.clerk, content)
    assert again["problems"] == []
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again["summary"]["counts"].values())
    await commit(anonymous, place.clerk, again["id"])
    assert await counts(session) == after
    assert await _period_count(session) == periods_before + 2000


async def test_hr_imports_arrive_pending_and_their_renewals_wait_for_a_verifier(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    ids = new_ids(10, "19920202")
    job = await upload(anonymous, place.hr, roster(place, ids, "HR"))
    assert job["summary"]["notice_count"] == 10
    done = await commit(anonymous, place.hr, job["id"])
    assert done["committed"] is True, done
    session.expire_all()
    certs = (await session.scalars(select(Certification).where(Certification.certificate_number.like("HR-%")))).all()
    assert {(c.verification_status, c.verified_on, c.verification_evidence) for c in certs} == {("pending", None, None)}
    # Verified afterwards by the clerk's import of the same file: the pending rows become verified.
    clerk = await upload(anonymous, place.clerk, roster(place, ids, "HR"))
    assert clerk["summary"]["counts"]["certifications"]["updated"] == 10
    await commit(anonymous, place.clerk, clerk["id"])
    session.expire_all()
    certs = (await session.scalars(select(Certification).where(Certification.certificate_number.like("HR-%")))).all()
    assert {(c.verification_status, c.verified_on) for c in certs} == {("verified", dt.date(2019, 4, 15))}
    verify_events = await session.scalar(
        select(func.count()).where(
            AuditEvent.entity_type == "certification",
            AuditEvent.action == "update",
            AuditEvent.detail["import_id"].astext == str(clerk["id"]),
        )
    )
    assert verify_events == 10
    # Now verified, a suspension from HR is refused with the row named; nothing is written.
    n = ids[0]
    suspension: dict[str, list[list[Any]]] = {"登记记录": [[n, "HR-00000", "暂停", "2024-01-01", None, "年检未通过"]]}
    refused = await upload(anonymous, place.hr, xlsx(suspension, HEADINGS))
    assert [(p["row"], p["code"]) for p in refused["problems"]] == [(2, "registration_needs_verifier")]
    assert refused["can_commit"] is False


ORG_HEADINGS = {
    "单位": ["单位名称", "统一社会信用代码", "单位类型", "所在区划代码", "成立日期", "注销日期"],
    "人员": ["姓名", "公民身份号码", "学历", "户籍地区划代码"],
    "任职": ["公民身份号码", "单位名称", "岗位类别", "在岗起始日期"],
}


async def test_organizations_with_their_dates_come_in_with_the_people_who_work_there(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    n = new_ids(2, "19930303")
    content = xlsx(
        {
            "单位": [
                ["江岸区新设社工中心", None, "社会工作服务机构", JIANGAN, "2024-05-20", None],
                [place.org_name, place.org_credit, "社会工作服务机构", JIANGAN, "2016-08-01", None],
                ["江岸区已撤社工站", None, "基层社会工作服务站", JIANGAN, "2018-01-01", "2023-06-30"],
            ],
            "人员": [["新甲", n[0], "本科", JIANGAN], ["新乙", n[1], "大专", JIANGAN]],
            "任职": [
                [n[0], "江岸区新设社工中心", "社工机构专职人员", "2024-06-01"],
                [n[1], place.org_name, "社工机构专职人员", "2024-06-01"],
            ],
        },
        ORG_HEADINGS,
    )
    job = await upload(anonymous, place.clerk, content)
    assert job["problems"] == [], job["problems"]
    assert job["summary"]["counts"]["organizations"] == {"created": 2, "updated": 1, "unchanged": 0}
    done = await commit(anonymous, place.clerk, job["id"])
    assert done["committed"] is True, done
    session.expire_all()
    orgs = {
        o.name: o
        for o in (await session.scalars(select(Organization).where(Organization.region_code == JIANGAN))).all()
    }
    assert orgs["江岸区新设社工中心"].founded_on == dt.date(2024, 5, 20)
    assert orgs[place.org_name].founded_on == dt.date(2016, 8, 1)
    assert orgs["江岸区已撤社工站"].closed_on == dt.date(2023, 6, 30)
    person = await session.scalar(select(Practitioner).where(Practitioner.id_number == n[0]))
    assert person is not None and person.organization_id == orgs["江岸区新设社工中心"].id
    audit = await session.scalar(
        select(func.count()).where(
            AuditEvent.entity_type == "organization",
            AuditEvent.action.in_(("create", "update")),
            AuditEvent.detail["import_id"].astext == str(job["id"]),
        )
    )
    assert audit == 3

    async def service_orgs(day: str) -> int:
        figures = await anonymous.get(f"/api/regions/{JIANGAN}/figures", params={"as_of": day}, headers=place.clerk)
        assert figures.status_code == 200, figures.text
        return int(figures.json()["organizations_by_type"].get("service_org", 0))

    # Before the new centre was founded it is not counted; after, it is.
    assert await service_orgs("2024-05-31") - await service_orgs("2024-05-01") == 1
    # The same file again writes nothing; an employer's HR may not import organizations.
    again = await upload(anonymous, place.clerk, content)
    assert again["summary"]["counts"]["organizations"] == {"created": 0, "updated": 0, "unchanged": 3}
    refused = await upload(anonymous, place.hr, content)
    assert {p["code"] for p in refused["problems"] if p["sheet"] == "单位"} == {"out_of_scope"}
