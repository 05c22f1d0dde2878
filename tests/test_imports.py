"""Spreadsheet imports: real XLSX (openpyxl) and CSV files through the API's jobs, the dry run's
problems by sheet, row and column, all-or-nothing commits, idempotence, scope, and the CLI."""

from __future__ import annotations

import asyncio
import csv
import datetime as dt
import hashlib
import io
import logging
import subprocess
import sys
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import openpyxl
import pytest
from sqlalchemy import func, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.config import Settings
from registry.imports.service import delete_expired_files, import_dir
from registry.models import (
    AuditEvent,
    CeRecordRow,
    Certification,
    Employment,
    ImportJob,
    Organization,
    Practitioner,
    Region,
    SalaryRecordRow,
)
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem
from tests.scene import LOADER, id_number

JIANGAN = "420102"  # 武汉市江岸区
HETANG = "430202"  # 株洲市荷塘区


def credit_code(body: str) -> str:
    from stdnum.cn import uscc

    return body + uscc.calc_check_digit(body)


@dataclass
class Place:
    org: int
    org_credit: str
    org_name: str
    p0: int  # a practitioner of the org, in the clerk's county
    p0_id: str
    q_id: str  # someone in another county, with certificate HN-0001
    clerk: dict[str, str]
    hr: dict[str, str]
    payroll: dict[str, str]
    outsider: dict[str, str]


@pytest.fixture
async def place(session: AsyncSession) -> Place:
    code = credit_code("52420102MJ0001234")
    org = await create_organization(
        session,
        LOADER,
        OrganizationCreate(
            name="江岸区导入测试社工中心", org_type="service_org", region_code=JIANGAN, credit_code=code
        ),
    )
    other_org = await create_organization(
        session, LOADER, OrganizationCreate(name="荷塘区导入测试社区", org_type="community", region_code=HETANG)
    )
    p0 = await create_practitioner(
        session,
        LOADER,
        PractitionerCreate(
            name="周文", id_number=id_number(JIANGAN, "19880303"), education="bachelor", phone="13900000001"
        ),
    )
    await add_employment(
        session,
        LOADER,
        p0.id,
        EmploymentCreate(organization_id=org.id, post_type="service_org_staff", in_post_from=dt.date(2019, 1, 1)),
    )
    q = await create_practitioner(
        session, LOADER, PractitionerCreate(name="唐一", id_number=id_number(HETANG, "19870404"), education="master")
    )
    await add_employment(
        session,
        LOADER,
        q.id,
        EmploymentCreate(organization_id=other_org.id, post_type="community_worker", in_post_from=dt.date(2018, 1, 1)),
    )
    await add_certification(
        session, LOADER, q.id, CertificationCreate(level="assistant", certificate_number="HN-0001", exam_year=2019)
    )
    clerk = await make_user(session, "imp-clerk", {"role": "civil_affairs", "region_code": JIANGAN})
    hr = await make_user(session, "imp-hr", {"role": "org_hr", "organization_id": org.id})
    payroll = await make_user(session, "imp-pay", {"role": "payroll_clerk", "region_code": JIANGAN})
    outsider = await make_user(session, "imp-out", {"role": "civil_affairs", "region_code": HETANG})
    place = Place(
        org=org.id,
        org_credit=code,
        org_name=org.name,
        p0=p0.id,
        p0_id=p0.id_number,
        q_id=q.id_number,
        clerk=bearer(await make_token(session, clerk)),
        hr=bearer(await make_token(session, hr)),
        payroll=bearer(await make_token(session, payroll)),
        outsider=bearer(await make_token(session, outsider)),
    )
    await session.commit()
    return place


HEADINGS = {
    "人员": ["姓名", "公民身份号码", "学历", "手机号码", "户籍地区划代码"],
    "任职": ["公民身份号码", "工作单位统一社会信用代码", "单位名称", "岗位类别", "在岗起始日期"],
    "证书": ["公民身份号码", "证书级别", "证书编号", "考试年度", "登记有效期起"],
    "继续教育": ["公民身份号码", "继续教育日期", "学时", "类别", "培训机构", "课程"],
    "薪酬": ["公民身份号码", "年度", "年薪"],
}


def xlsx(sheets: dict[str, list[list[Any]]], headings: dict[str, list[str]] | None = None) -> bytes:
    book = openpyxl.Workbook()
    book.remove(book.active)
    for name, rows in sheets.items():
        ws = book.create_sheet(name)
        ws.append((headings or HEADINGS)[name])
        for row in rows:
            ws.append(row)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


async def counts(session: AsyncSession) -> dict[str, int]:
    out = {}
    for model in (Practitioner, Employment, Certification, CeRecordRow, SalaryRecordRow, AuditEvent):
        out[model.__tablename__] = int(await session.scalar(select(func.count()).select_from(model)) or 0)
    return out


def worker(client: httpx.AsyncClient) -> Any:
    app: Any = client._transport.app  # type: ignore[attr-defined]
    return app.state.import_worker


async def upload(
    client: httpx.AsyncClient, headers: dict[str, str], content: bytes, name: str = "导入.xlsx"
) -> dict[str, Any]:
    response = await client.post("/api/imports", files={"file": (name, content)}, headers=headers)
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued" and job["phase"] == "check" and job["progress"] == 0.0
    # The server's worker runs queued jobs; here the test runs it (the test has one connection).
    assert await worker(client).drain() == 1
    polled = await client.get(f"/api/imports/{job['id']}", headers=headers)
    assert polled.status_code == 200, polled.text
    result: dict[str, Any] = polled.json()
    assert result["status"] == "done" and result["progress"] == 1.0, result
    return result


async def commit(client: httpx.AsyncClient, headers: dict[str, str], import_id: int) -> dict[str, Any]:
    response = await client.post(f"/api/imports/{import_id}/commit", headers=headers)
    assert response.status_code == 202, response.text
    assert response.json()["phase"] == "commit" and response.json()["status"] == "queued"
    assert await worker(client).drain() == 1
    result: dict[str, Any] = (await client.get(f"/api/imports/{import_id}", headers=headers)).json()
    return result


def new_ids(count: int, birth: str = "19950101") -> list[str]:
    return [id_number(JIANGAN, birth) for _ in range(count)]


async def test_twenty_rows_of_mixed_problems_are_each_reported_and_nothing_is_written(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    n = new_ids(8)
    bad_digit = n[0][:-1] + ("0" if n[0][-1] != "0" else "1")
    stranger = new_ids(1, "19800101")[0]
    sheets = {
        "人员": [
            ["甲一", bad_digit, "本科", "13800000001", JIANGAN],
            ["甲二", n[1], "本科", "13800000002", "999999"],
            [None, n[2], "本科", "13800000003", JIANGAN],
            ["甲四", n[3], "小学生", "13800000004", JIANGAN],
            ["甲五", n[4], "大专", "13800000005", JIANGAN],
            ["甲六", n[5], "硕士", "13800000006", JIANGAN],
            ["唐一", place.q_id, "硕士", "13800000007", HETANG],
            ["甲八", float(n[7][:17]), "本科", "13800000008", JIANGAN],
        ],
        "任职": [
            [n[4], None, "不存在的单位", "社工机构专职人员", "2020-01-01"],
            [n[5], place.org_credit, None, "社工机构专职人员", "2020-13-45"],
            [n[4], place.org_credit, None, None, "2021-01-01"],
        ],
        "证书": [
            [place.p0_id, "社会工作师", "HN-0001", 2021, "2022-01-10"],
            [n[5], "助理社会工作师", "JA-0002", 2021, None],
            [n[5], "助理社会工作师", "JA-0002", 2021, None],
        ],
        "继续教育": [
            [place.p0_id, "2025-06-18", 30, "培训", "市社工协会", "伦理"],
            [place.p0_id, "2025-06-19", 14, "培训", "市社工协会", "个案工作"],
            [place.p0_id, "2025-06-19", 12, "督导", "市社工协会", "小组工作"],
            [place.p0_id, "昨天", 2, "培训", "市社工协会", "社区工作"],
        ],
        "薪酬": [
            [stranger, 2025, 72000],
            [place.p0_id, "二〇二五", 60000],
        ],
    }
    assert sum(len(rows) for rows in sheets.values()) == 20
    before = await counts(session)
    job = await upload(anonymous, place.clerk, xlsx(sheets))
    got = {(p["sheet"], p["row"], p["column"], p["code"]) for p in job["problems"]}
    assert got == {
        ("人员", 2, "公民身份号码", "id_number_check_digit"),
        ("人员", 3, "户籍地区划代码", "region_unknown"),
        ("人员", 4, "姓名", "required"),
        ("人员", 5, "学历", "value_unknown"),
        ("人员", 8, "公民身份号码", "out_of_scope"),
        ("人员", 9, "公民身份号码", "id_number_as_number"),
        ("任职", 2, "单位名称", "organization_unknown"),
        ("任职", 3, "在岗起始日期", "date_invalid"),
        ("任职", 4, "岗位类别", "required"),
        ("证书", 2, "证书编号", "certificate_number_duplicate"),
        ("证书", 4, "证书编号", "certificate_number_duplicate"),
        ("继续教育", 2, "学时", "hours_out_of_range"),
        ("继续教育", 3, "学时", "hours_day_exceeded"),
        ("继续教育", 4, "学时", "hours_day_exceeded"),
        ("继续教育", 5, "继续教育日期", "date_invalid"),
        ("薪酬", 2, "公民身份号码", "practitioner_unknown"),
        ("薪酬", 3, "年度", "year_invalid"),
    }, job["problems"]
    assert job["problem_count"] == len(job["problems"]) == 17
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in p["message"]) for p in job["problems"])
    # In the order of the file: sheet by sheet, row by row.
    assert [p["sheet"] for p in job["problems"]][:6] == ["人员"] * 6
    assert job["can_commit"] is False
    assert_problem(
        await anonymous.post(f"/api/imports/{job['id']}/commit", headers=place.clerk), 409, "import_has_problems"
    )
    assert await worker(anonymous).drain() == 0
    assert await counts(session) == before


def good_workbook(place: Place, n: list[str]) -> bytes:
    return xlsx(
        {
            "人员": [
                ["乙一", n[0], "本科", "13800000011", JIANGAN],
                ["乙二", n[1], "大专", "13800000012", JIANGAN],
                ["乙三", n[2], "硕士", None, JIANGAN],
                ["欧阳·乙四", n[3], "高中/中专", "027-85550000", JIANGAN],
                ["周文", place.p0_id, "本科", "13900000009", None],  # a new phone number
            ],
            "任职": [
                [n[0], place.org_credit, None, "社工机构专职人员", dt.datetime(2020, 1, 1)],
                [n[1], None, place.org_name, "社区工作者", "2021/3/1"],
                [n[2], place.org_credit, None, "其他", "2022年5月6日"],
                [n[3], place.org_credit, None, "社工机构专职人员", "20230102"],
            ],
            "证书": [
                [place.p0_id, "社会工作师（中级）", "JA-1001", 2021, "2022-01-10"],
                [n[0], "助理社会工作师", "ja-1002", "2023", None],
            ],
            "继续教育": [
                [place.p0_id, "2025-06-19", 14, "培训", "市社工协会", "个案工作"],
                [place.p0_id, "2025-06-19", 6.5, "督导", "市社工协会", "小组工作"],
                [n[0], dt.date(2025, 6, 18), 8, "学术交流", "江岸区社工站", "社区治理研讨"],
            ],
            "薪酬": [
                [n[0], 2025, 72000],
                [place.p0_id, "2024年", "60,000.50"],
            ],
        }
    )


async def test_a_clean_file_commits_once_and_a_second_import_changes_nothing(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    n = new_ids(4, "19960202")
    content = good_workbook(place, n)
    before = await counts(session)
    job = await upload(anonymous, place.clerk, content)
    assert job["problems"] == [] and job["can_commit"] is True, job["problems"]
    assert job["summary"]["counts"] == {
        "practitioners": {"created": 4, "updated": 1, "unchanged": 0},
        "employment": {"created": 4, "updated": 0, "unchanged": 0},
        "certifications": {"created": 2, "updated": 0, "unchanged": 0},
        "ce": {"created": 3, "updated": 0, "unchanged": 0},
        "salaries": {"created": 2, "updated": 0, "unchanged": 0},
    }
    update_sample = next(s for s in job["summary"]["samples"]["practitioners"] if s["action"] == "update")
    assert update_sample["row"] == 6 and update_sample["changes"] == ["phone"]
    assert await counts(session) == before  # the dry run wrote nothing

    done = await commit(anonymous, place.clerk, job["id"])
    assert done["status"] == "done" and done["committed"] is True and done["progress"] == 1.0, done
    after = await counts(session)
    assert after == {
        "practitioner": before["practitioner"] + 4,
        "employment": before["employment"] + 4,
        "certification": before["certification"] + 2,
        "ce_record": before["ce_record"] + 3,
        "salary_record": before["salary_record"] + 2,
        "audit_event": before["audit_event"] + 17,  # one per record created or updated (JA-1001's period too)
    }
    session.expire_all()
    people = {
        p.id_number: p for p in (await session.scalars(select(Practitioner).where(Practitioner.id_number.in_(n)))).all()
    }
    assert {p.organization_id for p in people.values()} == {place.org}  # the jurisdiction follows the employer
    assert {p.region_code for p in people.values()} == {JIANGAN}
    assert people[n[3]].name == "欧阳·乙四" and people[n[3]].sex in ("M", "F")
    assert "^oy" in people[n[3]].name_tokens or "^^o" in people[n[3]].name_tokens
    p0 = await session.get(Practitioner, place.p0)
    assert p0 is not None and p0.phone == "13900000009"
    cert = (await session.scalars(select(Certification).where(Certification.certificate_number == "JA-1002"))).one()
    assert cert.level == "assistant" and cert.verification_status == "pending"
    salary = (await session.scalars(select(SalaryRecordRow).where(SalaryRecordRow.practitioner_id == place.p0))).one()
    assert str(salary.amount) == "60000.50" and salary.year == 2024
    audit = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "practitioner", AuditEvent.entity_id == str(place.p0))
        )
    ).all()
    last = audit[-1]
    assert last.action == "update" and last.before is not None and last.after is not None
    assert last.before["phone"] == "13900000001" and last.after["phone"] == "13900000009"
    assert last.detail == {"import_id": job["id"], "sheet": "人员", "row": 6}
    assert last.actor_name == "imp-clerk" and last.region_code == JIANGAN and last.practitioner_id == place.p0
    ce_audit = (await session.scalars(select(AuditEvent).where(AuditEvent.entity_type == "ce_record"))).all()
    assert {e.after["hours"] for e in ce_audit if e.after and e.detail and e.detail.get("import_id") == job["id"]} == {
        "14.0",
        "6.5",
        "8.0",
    }
    assert_problem(
        await anonymous.post(f"/api/imports/{job['id']}/commit", headers=place.clerk), 409, "import_already_committed"
    )

    # The same file again: everything matches, nothing is planned, nothing is written.
    again = await upload(anonymous, place.clerk, content)
    assert again["problems"] == []
    assert all(c["created"] == 0 and c["updated"] == 0 for c in again["summary"]["counts"].values())
    assert sum(c["unchanged"] for c in again["summary"]["counts"].values()) == 16
    second = await commit(anonymous, place.clerk, again["id"])
    assert second["status"] == "done", second
    assert await counts(session) == after


async def test_a_verified_certificate_changed_by_an_import_goes_back_to_pending(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    cert = await add_certification(
        session, LOADER, place.p0, CertificationCreate(level="assistant", certificate_number="JA-7777", exam_year=2019)
    )
    cert_id = cert.id
    await session.execute(
        update(Certification).where(Certification.id == cert_id).values(verification_status="verified")
    )
    await session.commit()
    content = xlsx({"证书": [[place.p0_id, "社会工作师", "JA-7777", 2019, None]]})
    job = await upload(anonymous, place.clerk, content)
    assert job["summary"]["counts"] == {"certifications": {"created": 0, "updated": 1, "unchanged": 0}}
    assert job["summary"]["samples"]["certifications"][0]["changes"] == ["level"]
    assert (await commit(anonymous, place.clerk, job["id"]))["status"] == "done"
    session.expire_all()
    changed = await session.get(Certification, cert_id)
    assert changed is not None and changed.level == "intermediate" and changed.verification_status == "pending"


def csv_bytes(rows: list[list[str]], encoding: str) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    data = out.getvalue()
    return ("\ufeff" + data).encode("utf-8") if encoding == "utf-8-sig" else data.encode(encoding)


@pytest.mark.parametrize("encoding", ["utf-8-sig", "gbk"])
async def test_csv_as_excel_and_wps_save_it(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place, encoding: str
) -> None:
    n = new_ids(2, "19970303")
    # Variant headings (身份证号码, 手机号, 户籍地代码) and the kind told by the headings alone.
    rows = [
        ["序号", "姓名", "身份证号码", "学历", "手机号", "户籍地代码"],
        ["1", "丙一", n[0], "本科", "13700000001", JIANGAN],
        ["2", "丙二", n[1], "博士", "", JIANGAN],
    ]
    job = await upload(anonymous, place.clerk, csv_bytes(rows, encoding), name="人员名单.csv")
    assert job["file_format"] == "csv" and job["problems"] == [], job["problems"]
    assert job["summary"]["sheets"] == [{"name": "人员名单.csv", "kind": "practitioners", "label": "人员", "rows": 2}]
    done = await commit(anonymous, place.clerk, job["id"])
    assert done["status"] == "done", done
    session.expire_all()
    names = set((await session.scalars(select(Practitioner.name).where(Practitioner.id_number.in_(n)))).all())
    assert names == {"丙一", "丙二"}
    # A CE file by headings, with a problem reported against the CSV's own row number.
    ce = [
        ["公民身份号码", "日期", "小时数", "类别", "培训机构", "课程名称"],
        [place.p0_id, "2025-03-01", "3", "培训", "协会", "伦理"],
        [place.p0_id, "2025-03-02", "0", "培训", "协会", "伦理"],
    ]
    checked = await upload(anonymous, place.clerk, csv_bytes(ce, encoding), name="ce.csv")
    assert [(p["row"], p["column"], p["code"]) for p in checked["problems"]] == [(3, "小时数", "hours_out_of_range")]


async def test_template_download_and_filled_template_imports(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    response = await anonymous.get("/api/imports/template.xlsx", headers=place.clerk)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/vnd.openxmlformats")
    book = openpyxl.load_workbook(io.BytesIO(response.content))
    assert book.sheetnames == ["单位", "人员", "任职", "证书", "登记记录", "继续教育", "薪酬", "说明"]
    people = book["人员"]
    assert [c.value for c in people[1]][:3] == ["姓名", "公民身份号码", "学历"]
    assert people.cell(2, 1).value == "张三"  # the example row
    assert any("示例" in str(c.value) for row in book["说明"].iter_rows() for c in row if c.value)
    assert_problem(await anonymous.get("/api/imports/template.xlsx", headers=place.payroll), 403, "forbidden")
    # Uploaded as it is, the example ID number passes its own check.
    as_is = await upload(anonymous, place.clerk, response.content, name="模板.xlsx")
    assert not [p for p in as_is["problems"] if p["code"].startswith("id_number")], as_is["problems"]
    # Filled in: the example rows replaced by real ones, the empty sheets left as they are.
    for name in book.sheetnames[:-1]:
        book[name].delete_rows(2)
    n = new_ids(1, "19930909")[0]
    people.append(["丁一", n, "本科", "男" if int(n[16]) % 2 else "女", None, "13600000001", JIANGAN, "是"])
    out = io.BytesIO()
    book.save(out)
    job = await upload(anonymous, place.clerk, out.getvalue(), name="模板.xlsx")
    assert job["problems"] == [] and job["summary"]["counts"]["practitioners"]["created"] == 1, job


async def test_scope_roles_and_owners(anonymous: httpx.AsyncClient, session: AsyncSession, place: Place) -> None:
    n = new_ids(2, "19940404")
    content = xlsx(
        {
            "人员": [["戊一", n[0], "本科", None, JIANGAN], ["戊二", n[1], "本科", None, JIANGAN]],
            "任职": [[n[0], place.org_credit, None, "社工机构专职人员", "2024-01-01"]],
            "薪酬": [[place.q_id, 2025, 50000]],
        }
    )
    # HR of the organization: their new hire is theirs; one without a spell there is not; nor
    # is someone of another county.
    job = await upload(anonymous, place.hr, content)
    assert {(p["sheet"], p["row"], p["code"]) for p in job["problems"]} == {
        ("人员", 3, "out_of_scope"),
        ("薪酬", 2, "out_of_scope"),
    }
    # The county clerk may register both; the other county's person is still out of reach.
    clerk_job = await upload(anonymous, place.clerk, content)
    assert {(p["sheet"], p["row"], p["code"]) for p in clerk_job["problems"]} == {("薪酬", 2, "out_of_scope")}
    # Roles that do not write records may not import; others' imports are not found.
    refused = await anonymous.post("/api/imports", files={"file": ("a.xlsx", content)}, headers=place.payroll)
    assert_problem(refused, 403, "forbidden")
    assert_problem(await anonymous.get(f"/api/imports/{job['id']}", headers=place.outsider), 404, "import_not_found")
    assert_problem(
        await anonymous.post(f"/api/imports/{job['id']}/commit", headers=place.clerk), 404, "import_not_found"
    )
    bad = await anonymous.post("/api/imports", files={"file": ("a.txt", b"hello")}, headers=place.clerk)
    assert_problem(bad, 422, "file_format_unknown", "file")


async def test_commit_refused_when_the_file_changed_and_unreadable_files_fail_cleanly(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    n = new_ids(1, "19920202")
    job = await upload(anonymous, place.clerk, xlsx({"人员": [["己一", n[0], "本科", None, JIANGAN]]}))
    assert job["can_commit"] is True
    stored = (await session.scalars(select(ImportJob.stored_name).where(ImportJob.id == job["id"]))).one()
    path = import_dir(Settings()) / stored
    path.write_bytes(path.read_bytes() + b"\0")
    assert_problem(
        await anonymous.post(f"/api/imports/{job['id']}/commit", headers=place.clerk), 409, "import_file_changed"
    )
    broken = await upload(anonymous, place.clerk, b"PK\x03\x04 not really a workbook", name="坏.xlsx")
    assert [p["code"] for p in broken["problems"]] == ["file_unreadable"]


async def test_overlapping_spells_in_file_and_registry(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    # p0 has been in post at the organization since 2019 with no end date.
    content = xlsx(
        {"任职": [[place.p0_id, place.org_credit, None, "社区工作者", "2024-01-01"]]},
    )
    job = await upload(anonymous, place.clerk, content)
    assert [(p["row"], p["column"], p["code"]) for p in job["problems"]] == [(2, "在岗起始日期", "employment_overlap")]


def test_cli_imports_a_file_into_its_own_database(databases: Any, tmp_path: Path) -> None:
    url = databases.fresh("registry_import_cli")
    env = {**databases.env(url), "REGISTRY_DATA_DIR": str(tmp_path / "data")}
    registry = [sys.executable, "-m", "registry.cli"]
    created = subprocess.run(
        [*registry, "users", "create", "cli-clerk", "--role", f"civil_affairs:{JIANGAN}", "--password-stdin"],
        input="Cli-pass-2026\n",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert created.returncode == 0, created.stderr
    n = new_ids(3, "19910101")
    file = tmp_path / "人员.xlsx"
    file.write_bytes(
        xlsx({"人员": [[name, number, "本科", None, JIANGAN] for name, number in zip("甲乙丙", n, strict=True)]})
    )
    dry = subprocess.run(
        [*registry, "import", str(file), "--user", "cli-clerk"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert dry.returncode == 0, dry.stderr
    assert "人员：新增 3，更新 0，不变 0" in dry.stdout and "试运行" in dry.stdout
    for expected in ("人员：新增 3，更新 0，不变 0", "人员：新增 0，更新 0，不变 3"):
        run = subprocess.run(
            [*registry, "import", str(file), "--user", "cli-clerk", "--commit"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
            check=False,
        )
        assert run.returncode == 0, run.stderr
        assert expected in run.stdout and "已提交" in run.stdout
    bad = tmp_path / "bad.csv"
    bad.write_bytes(csv_bytes([["姓名", "公民身份号码", "学历"], ["辛一", n[0][:-1] + "Y", "本科"]], "utf-8-sig"))
    failed = subprocess.run(
        [*registry, "import", str(bad), "--user", "cli-clerk", "--commit"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert failed.returncode == 1
    assert "bad.csv 第 2 行 [公民身份号码] id_number_format" in failed.stdout

    async def count() -> int:
        import asyncpg

        conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
        try:
            return int(await conn.fetchval("SELECT count(*) FROM practitioner"))
        finally:
            await conn.close()

    assert asyncio.run(count()) == 3


def test_the_fast_id_check_agrees_with_the_canonical_one() -> None:
    from stdnum.cn import ric

    from registry.identity import parse_id_number
    from registry.imports.values import parse_id

    today = dt.date(2026, 11, 22)
    valid = id_number(JIANGAN, "19900101")
    samples = [
        valid,
        valid[:-1] + ("0" if valid[-1] != "0" else "1"),  # check digit
        "99999919900101" + "123",  # unknown place
        "420102" + "19900230" + "123",  # no such day
        "420102" + "20300101" + "123",  # born in the future
        "420102" + "18800101" + "123",  # before 1900
        "42010219900101123",  # 17 digits
    ]
    for body in samples:
        number = body if len(body) != 17 or body == samples[-1] else body + ric.calc_check_digit(body + "0")
        assert parse_id(number, today) == parse_id_number(number, today=today), number


async def test_blank_cells_and_missing_columns_keep_what_is_stored(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    await session.execute(
        update(Employment).where(Employment.practitioner_id == place.p0).values(in_post_to=dt.date(2025, 12, 31))
    )
    await session.commit()
    row = [place.p0_id, place.org_credit, None, "社工机构专职人员", "2019-01-01"]
    # No 离岗日期 column: the stored end date stays; no 户籍地 or phone: the person stays.
    job = await upload(
        anonymous,
        place.clerk,
        xlsx(
            {"任职": [row], "人员": [["周文", place.p0_id, "本科"]]},
            {**HEADINGS, "人员": ["姓名", "公民身份号码", "学历"]},
        ),
    )
    assert job["problems"] == [], job["problems"]
    assert job["summary"]["counts"] == {
        "practitioners": {"created": 0, "updated": 0, "unchanged": 1},
        "employment": {"created": 0, "updated": 0, "unchanged": 1},
    }
    # The column there but blank: still in post, so the end date is cleared.
    with_end = {**HEADINGS, "任职": [*HEADINGS["任职"], "离岗日期"]}
    cleared = await upload(anonymous, place.clerk, xlsx({"任职": [[*row, None]]}, with_end))
    assert cleared["summary"]["counts"] == {"employment": {"created": 0, "updated": 1, "unchanged": 0}}
    assert cleared["summary"]["samples"]["employment"][0]["changes"] == ["in_post_to"]


async def test_a_day_holds_24_hours_with_the_registrys_records(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    session.add(
        CeRecordRow(
            practitioner_id=place.p0,
            activity_date=dt.date(2025, 6, 19),
            hours=20,
            unit="学时",
            category="training",
            provider="协会",
            course="全天培训",
            status="verified",
        )
    )
    await session.commit()
    again = [place.p0_id, "2025-06-19", 20, "培训", "协会", "全天培训"]  # the same record: unchanged
    extra = [place.p0_id, "2025-06-19", 4.5, "督导", "协会", "夜间督导"]
    job = await upload(anonymous, place.clerk, xlsx({"继续教育": [again, extra]}))
    assert [(p["row"], p["code"]) for p in job["problems"]] == [(3, "hours_day_exceeded")], job["problems"]
    assert "20.0" in job["problems"][0]["message"]
    fits = await upload(anonymous, place.clerk, xlsx({"继续教育": [again, [*extra[:2], 4, *extra[3:]]]}))
    assert fits["problems"] == []
    assert fits["summary"]["counts"] == {"ce": {"created": 1, "updated": 0, "unchanged": 1}}


def test_progress_by_stage() -> None:
    from registry.imports.service import progress_of

    job = ImportJob(phase="check", status="running", stage="checking", total_rows=100, processed_rows=50)
    assert progress_of(job) == 0.75
    job.phase, job.stage, job.processed_rows = "commit", "writing", 100
    assert progress_of(job) == 1.0
    job.status = "queued"
    assert progress_of(job) == 0.0


def _with_dimension(content: bytes, ref: str) -> bytes:
    """The XLSX with its first sheet's <dimension> rewritten, as some generators write it wrong."""
    import re
    import zipfile

    src, out = zipfile.ZipFile(io.BytesIO(content)), io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
            dst.writestr(item, data)
    return out.getvalue()


async def test_no_row_or_sheet_is_dropped_silently(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    ids = new_ids(3, "19920202")
    rows = [["丙" + "一二三"[i], ids[i], "本科", f"1380000010{i}", JIANGAN] for i in range(3)]
    # The sheet claims to end at row 2: every row is read all the same.
    wrong = _with_dimension(xlsx({"人员": rows}), "A1:E2")
    result = await upload(anonymous, place.clerk, wrong)
    assert result["problem_count"] == 0, result["problems"]
    assert result["summary"]["counts"]["practitioners"]["created"] == 3
    # A sheet whose name and headings the import does not know is a problem, not skipped.
    book = xlsx({"人员": rows})
    wb = openpyxl.load_workbook(io.BytesIO(book))
    odd = wb.create_sheet("Sheet2")
    odd.append(["证书号", "级"])
    odd.append(["X-1", "中级"])
    out = io.BytesIO()
    wb.save(out)
    result = await upload(anonymous, place.clerk, out.getvalue())
    assert [p["code"] for p in result["problems"]] == ["sheet_unrecognized"]
    assert result["problems"][0]["sheet"] == "Sheet2"


async def test_annual_pay_never_overwrites_monthly_pay(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    session.add(SalaryRecordRow(practitioner_id=place.p0, year=2025, amount=Decimal(6000), period="monthly"))
    await session.commit()
    before = await counts(session)
    result = await upload(anonymous, place.clerk, xlsx({"薪酬": [[place.p0_id, 2025, 72000]]}))
    assert [p["code"] for p in result["problems"]] == ["salary_period_conflict"]
    assert await counts(session) == before


async def test_an_import_touches_nobody_else(anonymous: httpx.AsyncClient, session: AsyncSession, place: Place) -> None:
    # Someone in Hunan whose stored jurisdiction is stale stays as they are after a Jiang'an import.
    stale = await session.scalar(select(Practitioner).where(Practitioner.id_number == place.q_id))
    assert stale is not None
    stale_id = stale.id
    await session.execute(update(Practitioner).where(Practitioner.id == stale_id).values(organization_id=None))
    await session.commit()
    ids = new_ids(1, "19930303")
    sheets = {
        "人员": [["丁一", ids[0], "本科", "13800000201", JIANGAN]],
        "任职": [[ids[0], place.org_credit, place.org_name, "社工机构专职人员", "2024-01-01"]],
    }
    checked = await upload(anonymous, place.clerk, xlsx(sheets))
    assert checked["problem_count"] == 0, checked["problems"]
    assert (await commit(anonymous, place.clerk, checked["id"]))["committed"]
    session.expire_all()
    assert await session.scalar(select(Practitioner.organization_id).where(Practitioner.id == stale_id)) is None
    new = await session.scalar(select(Practitioner).where(Practitioner.id_number == ids[0]))
    assert new is not None and new.organization_id == place.org


async def test_bank_accounts_come_in_with_the_people_sheet(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    """The 银行账号 and 开户银行 columns of the people sheet (registry/practitioners/bank.py):
    checked cell by cell, written as a new account only when it differs, masked in the trail."""
    new = new_ids(1, "19970303")[0]
    headings = {"人员": ["姓名", "公民身份号码", "学历", "户籍地区划代码", "银行账号", "开户银行"]}
    bad = xlsx(
        {
            "人员": [
                ["钱一", new, "本科", JIANGAN, "6222-02", "工商银行"],
                ["周文", place.p0_id, "本科", JIANGAN, 6222020200112233445, "工商银行"],
                ["吴二", new_ids(1, "19900101")[0], "硕士", JIANGAN, "6222020200112233445", None],
            ]
        },
        headings,
    )
    job = await upload(anonymous, place.clerk, bad)
    got = {(p["row"], p["column"], p["code"]) for p in job["problems"]}
    assert {(2, "银行账号", "account_number_invalid"), (3, "银行账号", "account_number_as_number")} <= got, job[
        "problems"
    ]
    assert (4, "开户银行", "bank_name_required") in got

    good = xlsx(
        {
            "人员": [
                ["钱一", new, "本科", JIANGAN, "6222 0202 0011 2233 445", "中国工商银行武汉江岸支行"],
                ["周文", place.p0_id, "本科", JIANGAN, "6217000010002000300", "中国建设银行武汉分行"],
            ]
        },
        headings,
    )
    job = await upload(anonymous, place.clerk, good)
    assert job["problems"] == [] and job["can_commit"], job["problems"]
    done = await commit(anonymous, place.clerk, job["id"])
    assert done["committed"] is True, done
    accounts = (
        await session.execute(
            text(
                "SELECT p.id_number, b.account_number, b.bank_name, b.source FROM bank_account b"
                " JOIN practitioner p ON p.id = b.practitioner_id ORDER BY b.id"
            )
        )
    ).all()
    assert [tuple(a) for a in accounts] == [
        (new, "6222020200112233445", "中国工商银行武汉江岸支行", "import"),
        (place.p0_id, "6217000010002000300", "中国建设银行武汉分行", "import"),
    ]
    trail = (
        await session.execute(text("SELECT after, detail FROM audit_event WHERE entity_type = 'bank_account'"))
    ).all()
    assert len(trail) == 2 and all(t[1]["import_id"] == job["id"] for t in trail)
    assert {t[0]["account_number_masked"] for t in trail} == {"6222***********3445", "6217***********0300"}
    assert "6222020200112233445" not in str(trail)

    # The same file again adds no account; a changed one is a new row, the old one kept.
    again = await upload(anonymous, place.clerk, good)
    assert (await commit(anonymous, place.clerk, again["id"]))["committed"] is True
    assert await session.scalar(text("SELECT count(*) FROM bank_account")) == 2
    moved = xlsx(
        {"人员": [["周文", place.p0_id, "本科", JIANGAN, "6217000010009999999", "中国建设银行武汉分行"]]}, headings
    )
    assert (await commit(anonymous, place.clerk, (await upload(anonymous, place.clerk, moved))["id"]))["committed"]
    numbers = (
        (
            await session.execute(
                text("SELECT account_number FROM bank_account WHERE practitioner_id = :p ORDER BY id"), {"p": place.p0}
            )
        )
        .scalars()
        .all()
    )
    assert numbers == ["6217000010002000300", "6217000010009999999"]


async def test_a_commit_uses_the_dry_runs_plan_only_while_what_it_checked_is_unchanged(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place, caplog: pytest.LogCaptureFixture
) -> None:
    n = new_ids(2, "19970303")
    rows = [["丙一", n[0], "本科", "13800000011", JIANGAN], ["丙二", n[1], "本科", "13800000012", JIANGAN]]
    content = xlsx({"人员": rows})
    first = await upload(anonymous, place.clerk, content)
    assert first["problems"] == [] and first["can_commit"] is True, first["problems"]
    stored = f"{first['id']}-{hashlib.sha256(content).hexdigest()[:16]}.xlsx"
    assert (import_dir(Settings()) / f"{stored}.plan.json").exists()  # the dry run's plan, beside the file

    # Meanwhile the second person is registered, and belongs to a county outside the clerk's.
    other = await create_practitioner(
        session, LOADER, PractitionerCreate(name="丙二", id_number=n[1], education="bachelor")
    )
    await session.execute(update(Practitioner).where(Practitioner.id == other.id).values(region_code=HETANG))
    await session.commit()
    before = await counts(session)
    with caplog.at_level(logging.DEBUG, logger="registry"):
        refused = await commit(anonymous, place.clerk, first["id"])
    assert "looked up again" in caplog.text and ", changed" in caplog.text
    assert refused["status"] == "failed" and refused["committed"] is False, refused
    assert [(p["row"], p["code"]) for p in refused["problems"]] == [(3, "out_of_scope")], refused["problems"]
    assert await counts(session) == before  # nothing written, not even the first row

    # Nothing the check looked at has changed: the commit writes the dry run's plan.
    second = await upload(anonymous, place.clerk, xlsx({"人员": rows[:1]}))
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="registry"):
        done = await commit(anonymous, place.clerk, second["id"])
    assert ", unchanged" in caplog.text
    assert done["status"] == "done" and done["committed"] is True, done
    after = await counts(session)
    assert after["practitioner"] == before["practitioner"] + 1 and after["audit_event"] == before["audit_event"] + 1
    person = (await session.scalars(select(Practitioner).where(Practitioner.id_number == n[0]))).one()
    assert person.phone == "13800000011" and "^^by" in person.name_tokens
    audit = (
        await session.scalars(
            select(AuditEvent).where(AuditEvent.entity_type == "practitioner", AuditEvent.entity_id == str(person.id))
        )
    ).one()
    assert audit.action == "create" and audit.detail == {"import_id": second["id"], "sheet": "人员", "row": 2}

    # The kept plan goes with the file once the retention period is over.
    plan_file = import_dir(Settings()) / f"{stored}.plan.json"
    assert plan_file.exists()
    await session.execute(
        update(ImportJob).where(ImportJob.id == first["id"]).values(finished_at=dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    )
    await session.commit()
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    assert await delete_expired_files(app.state.session_maker, Settings()) == 1
    assert not plan_file.exists() and not (import_dir(Settings()) / stored).exists()


ORG_HEADINGS = {"单位": ["单位名称", "统一社会信用代码", "单位类型", "所在区划代码"]}


async def test_a_new_employer_in_an_abolished_division_is_refused_as_the_form_refuses_it(
    anonymous: httpx.AsyncClient, session: AsyncSession, place: Place
) -> None:
    province = bearer(
        await make_token(
            session, await make_user(session, "imp-prov", {"role": "civil_affairs", "region_code": "420000"})
        )
    )
    abolished, current, later = (
        (
            await session.scalars(
                select(Region.code)
                .where(Region.code.between("420000", "429999"), Region.level == 3, Region.active.is_(False))
                .order_by(Region.code)
                .limit(1)
            )
        ).one(),
        JIANGAN,
        "420103",
    )  # 武汉市江汉区, abolished below
    await session.commit()
    before = await counts(session)
    organizations = int(await session.scalar(select(func.count()).select_from(Organization)) or 0)
    rows = [
        ["撤销区划里的新单位", None, "社会工作服务机构", abolished],
        ["现行区划里的新单位", None, "社会工作服务机构", current],
    ]
    job = await upload(anonymous, province, xlsx({"单位": rows}, ORG_HEADINGS))
    [problem] = job["problems"]
    assert (problem["row"], problem["column"], problem["code"]) == (2, "所在区划代码", "region_inactive"), problem
    assert abolished in problem["message"] and "已撤销" in problem["message"]
    assert job["can_commit"] is False

    # A division abolished between the dry run and the commit: the commit checks again and refuses.
    job = await upload(
        anonymous, province, xlsx({"单位": [["新设区划里的单位", None, "社会工作服务机构", later]]}, ORG_HEADINGS)
    )
    assert job["problems"] == [] and job["can_commit"] is True, job["problems"]
    await session.execute(update(Region).where(Region.code == later).values(active=False))
    await session.commit()
    refused = await commit(anonymous, province, job["id"])
    assert refused["status"] == "failed" and refused["committed"] is False, refused
    assert [(p["row"], p["code"]) for p in refused["problems"]] == [(2, "region_inactive")], refused["problems"]
    assert await counts(session) == before
    assert int(await session.scalar(select(func.count()).select_from(Organization)) or 0) == organizations
