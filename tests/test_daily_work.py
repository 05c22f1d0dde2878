"""Daily work without holes (issue 16): the administrator's dashboard, plain language outward,
CE on pages and the queue that reaches every record, the work inbox."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry import clock
from registry.config import Settings
from registry.models import CeRecordRow, Certification, CertificationPeriod
from registry.rules.plain import plain
from tests.accounts import as_user
from tests.test_certificates import EXT_A, JIANGAN, Town, build_town, download, issue, pdftotext, qr_texts


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


async def test_admin_dashboard_without_region_shows_the_country_by_province(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    admin = await as_user(anonymous, session, "dash-admin", {"role": "admin"})
    # The first visit queues the summary (tests/test_dashboard_summary.py); the worker makes it.
    assert "数据正在准备中" in (await anonymous.get("/dashboard", headers=admin)).text
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    assert await app.state.summary_worker.drain() >= 1  # with the town's own writes, merged
    page = await anonymous.get("/dashboard", headers=admin)
    assert page.status_code == 200, page.text
    assert 'id="provinces"' in page.text and "湖北省" in page.text
    assert 'href="/dashboard?region=420000"' in page.text
    # Three registered in Hubei, all in post, two certified: numerator and denominator shown.
    assert "2/3" in page.text
    # A clerk without ?region= still lands on their own county.
    own = await anonymous.get("/dashboard", headers=town.clerk)
    assert own.status_code == 200 and 'id="provinces"' not in own.text and "江岸区" in own.text


RULE_ID = re.compile(r"[A-Z]{2,}-[A-Z0-9-]+ v\d")
TRUST = ("待核", "二手资料")


def _outward_clean(text: str) -> None:
    assert not RULE_ID.search(text), RULE_ID.search(text)
    for word in TRUST:
        assert word not in text, word


def test_plain_drops_rule_ids_and_trust_notes_and_keeps_the_document() -> None:
    basis = "HB-ALW-100-200 v2（HB-ALW-SENIOR）：符合。湖北省《关于加强城市社区工作者队伍建设的意见》（文号待核，二手资料）职业津贴条款（条次待核）"
    assert plain(basis) == "符合。湖北省《关于加强城市社区工作者队伍建设的意见》职业津贴条款"
    assert (
        plain("〔HN-SAL-1.2 v1〕湖南省《方案》（湘民发〔2021〕3号）三（二）")
        == "湖南省《方案》（湘民发〔2021〕3号）三（二）"
    )


async def test_pages_the_holder_and_the_public_read_name_rules_in_words(
    anonymous: httpx.AsyncClient, town: Town, tmp_path: Path
) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    assert any("待核" in f["citation"] for f in cert["decision"]["findings"])  # the data has them
    me = await anonymous.get("/me", headers=town.holder)
    assert me.status_code == 200 and 'id="decisions"' in me.text and "湖北省《" in me.text
    # A summary at the top: this calendar year's verified CE in the unit recorded (the town's 100).
    summary = me.text.split('id="summary"', 1)[1].split("</div>", 1)[0]
    assert f"{clock.today().year} 年继续教育" in summary and "职业津贴" in summary
    _outward_clean(me.text)
    verify = await anonymous.get(f"/verify/{cert['serial']}")
    assert verify.status_code == 200 and "《" in verify.text
    _outward_clean(verify.text)
    _outward_clean(str((await anonymous.get(f"/api/verify/{cert['serial']}")).json()))
    pdf = pdftotext(await download(anonymous, town.clerk, cert["serial"]), tmp_path)
    assert "认定依据" in pdf
    _outward_clean(pdf)
    # Staff keep the ids and the notes: that is how a clerk finds and checks the rule.
    staff = await anonymous.get(f"/practitioners/{town.rare}", headers=town.clerk)
    assert RULE_ID.search(staff.text) and "待核" in staff.text


async def test_full_width_serials_and_revoked_pages(anonymous: httpx.AsyncClient, town: Town, tmp_path: Path) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    [url] = qr_texts(await download(anonymous, town.clerk, cert["serial"]), tmp_path)
    scanned = url.removeprefix(Settings().base_url)
    assert "签名有效" in (await anonymous.get(scanned)).text
    wide = cert["serial"].translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})
    assert wide != cert["serial"]
    found = await anonymous.get("/verify", params={"serial": wide}, follow_redirects=True)
    assert found.status_code == 200 and cert["serial"] in found.text and 'data-status="valid"' in found.text
    revoked = await anonymous.post(
        f"/api/certificates/{cert['serial']}/revoke", json={"reason": "复核不实"}, headers=town.clerk
    )
    assert revoked.status_code == 200
    # The code on the paper is genuine, the certificate is not valid any more: never "签名有效".
    page = await anonymous.get(scanned)
    assert "已撤销" in page.text and "签名有效" not in page.text and "不能作为有效凭证" in page.text


async def test_the_audit_trail_on_a_record_reads_in_chinese(anonymous: httpx.AsyncClient, town: Town) -> None:
    made = await anonymous.post(f"/api/practitioners/{town.rare}/ce-records", json=CE_FORM, headers=town.holder)
    assert made.status_code == 201, made.text
    verified = await anonymous.post(f"/api/ce-records/{made.json()['id']}/verify", headers=town.clerk)
    assert verified.status_code == 200, verified.text
    page = await anonymous.get(f"/practitioners/{town.rare}", headers=town.clerk)
    trail = page.text.split('id="audit"', 1)[1]
    assert "核验通过继续教育记录" in trail and "登记继续教育记录" in trail
    assert "继续教育记录（2026-03-02 个案管理进阶 6" in trail and "ja-civil" in trail
    assert "ce_record" not in trail and "| verify |" not in trail


PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 200
NO_FILE = {"evidence": ("", b"", "application/octet-stream")}
CE_FORM = {
    "activity_date": "2026-03-02",
    "hours": "6",
    "unit": "学时",
    "category": "training",
    "provider": "武汉市社会工作协会",
    "course": "个案管理进阶",
}


async def _ce_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(CeRecordRow)) or 0)


async def test_the_holder_submits_ce_with_a_file_that_staff_in_scope_download(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    me = await anonymous.get("/me", headers=town.holder)
    assert f'href="/practitioners/{town.rare}/ce-records/new"' in me.text
    form = await anonymous.get(f"/practitioners/{town.rare}/ce-records/new", headers=town.holder)
    assert form.status_code == 200 and 'id="ce-form"' in form.text
    sent = await anonymous.post(
        f"/practitioners/{town.rare}/ce-records/new",
        data=CE_FORM,
        files={"evidence": ("结业证书.png", PNG, "image/png")},
        headers=town.holder,
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith("/me?message=")
    row = (await session.scalars(select(CeRecordRow).order_by(CeRecordRow.id.desc()).limit(1))).one()
    assert (row.course, row.status, row.practitioner_id) == ("个案管理进阶", "pending", town.rare)
    got = await anonymous.get(f"/ce-records/{row.id}/evidence", headers=town.clerk)
    assert got.status_code == 200 and got.content == PNG and got.headers["content-type"].startswith("image/png")
    assert "attachment" in got.headers["content-disposition"]
    assert (await anonymous.get(f"/ce-records/{row.id}/evidence", headers=town.outsider)).status_code == 404
    # Someone else's record is not the holder's to add to.
    other = await anonymous.post(
        f"/practitioners/{town.ext_a}/ce-records/new",
        data=CE_FORM,
        files={"evidence": ("a.png", PNG)},
        headers=town.holder,
    )
    assert other.status_code == 404


async def test_the_ce_form_reports_every_problem_at_once_and_writes_nothing(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    before = await _ce_count(session)
    bad = CE_FORM | {"activity_date": "2026-02-30", "hours": "abc", "course": ""}
    page = await anonymous.post(
        f"/practitioners/{town.rare}/ce-records/new",
        data=bad,
        files={"evidence": ("note.txt", b"just text", "text/plain")},
        headers=town.holder,
    )
    assert page.status_code == 422
    for key in ("activity_date", "hours", "course", "evidence"):
        assert f'id="error-{key}"' in page.text, key
    assert "PDF、JPG 或 PNG" in page.text and 'value="武汉市社会工作协会"' in page.text  # kept what was right
    # A good form with a file too large: the record is not written without its file.
    big = b"%PDF-" + b"0" * (5 * 1024 * 1024)
    page = await anonymous.post(
        f"/practitioners/{town.rare}/ce-records/new",
        data=CE_FORM,
        files={"evidence": ("big.pdf", big, "application/pdf")},
        headers=town.holder,
    )
    assert page.status_code == 422 and 'id="error-evidence"' in page.text and "5 MB" in page.text
    # The holder must attach the evidence (a browser sends an empty file part when none is chosen).
    page = await anonymous.post(
        f"/practitioners/{town.rare}/ce-records/new", data=CE_FORM, files=NO_FILE, headers=town.holder
    )
    assert page.status_code == 422 and 'id="error-evidence"' in page.text
    assert await _ce_count(session) == before


async def test_a_clerk_records_ce_on_someones_behalf(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    page = await anonymous.get(f"/practitioners/{town.ext_a}", headers=town.clerk)
    assert f'href="/practitioners/{town.ext_a}/ce-records/new"' in page.text and "代为登记" in page.text
    sent = await anonymous.post(
        f"/practitioners/{town.ext_a}/ce-records/new", data=CE_FORM, files=NO_FILE, headers=town.clerk
    )
    assert sent.status_code == 303 and sent.headers["location"].startswith(f"/practitioners/{town.ext_a}?message=")
    queue = await anonymous.get("/ce-queue", params={"submitted_by": "staff"}, headers=town.clerk)
    assert "工作人员代录" in queue.text and EXT_A in queue.text


async def test_the_queue_reaches_every_record_through_filters_pages_and_bulk_decisions(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    for i in range(130):
        session.add(
            CeRecordRow(
                practitioner_id=town.ext_a if i % 2 else town.bare,
                activity_date=dt.date(2026, 1, 1) + dt.timedelta(days=i),
                hours=Decimal(2),
                unit="学时",
                category="supervision" if i % 5 == 0 else "training",
                provider="协会",
                course=f"课程{i:03d}",
                status="pending",
            )
        )
    await session.commit()
    first = await anonymous.get("/ce-queue", headers=town.clerk)
    assert first.status_code == 200 and 'id="ce-total"' in first.text
    assert re.search(r"共 <strong>130</strong>", first.text)
    assert EXT_A in first.text and "王芳" in first.text  # names, not ids
    # Training only, from March: past the first page of 50.
    params = {"category": "training", "date_from": "2026-03-01"}
    page = await anonymous.get("/ce-queue", params=params, headers=town.clerk)
    total = int(re.search(r"共 <strong>(\d+)</strong>", page.text).group(1))  # type: ignore[union-attr]
    expected = sum(1 for i in range(130) if i % 5 and dt.date(2026, 1, 1) + dt.timedelta(days=i) >= dt.date(2026, 3, 1))
    assert total == expected > 50
    seen: list[str] = []
    url: str | None = "/ce-queue?" + urlencode(params)
    while url:
        page = await anonymous.get(url, headers=town.clerk)
        seen += re.findall(r'name="ids" value="(\d+)"', page.text)
        nxt = re.search(r'href="([^"]+)" id="next-page"', page.text)
        url = html.unescape(nxt.group(1)) if nxt else None
    assert len(seen) == len(set(seen)) == total
    last_ids = seen[-3:]
    # Bulk: reject needs a reason; then verify the last three of the filtered list.
    back = "/ce-queue?" + urlencode(params)
    refused = await anonymous.post(
        "/ce-queue", data={"ids": last_ids, "decision": "reject", "reason": "", "back": back}, headers=town.clerk
    )
    assert refused.status_code == 303 and "problem=" in refused.headers["location"]
    done = await anonymous.post(
        "/ce-queue", data={"ids": last_ids, "decision": "verify", "back": back}, headers=town.clerk
    )
    assert done.status_code == 303 and done.headers["location"].startswith(back + "&message=")
    statuses = (await session.scalars(select(CeRecordRow.status).where(CeRecordRow.id.in_(map(int, last_ids))))).all()
    assert set(statuses) == {"verified"}
    after = await anonymous.get("/ce-queue", params=params, headers=town.clerk)
    assert f"共 <strong>{total - 3}</strong>" in after.text
    rejected = await anonymous.post(
        "/ce-queue", data={"ids": seen[:2], "decision": "reject", "reason": "证明材料不清晰"}, headers=town.clerk
    )
    assert "message=" in rejected.headers["location"]
    # Out of scope: a Hunan clerk sees none of them, and cannot decide them.
    other = await anonymous.get("/ce-queue", headers=town.outsider)
    assert "共 <strong>0</strong>" in other.text
    tried = await anonymous.post("/ce-queue", data={"ids": seen[2:4], "decision": "verify"}, headers=town.outsider)
    assert "problem=" in tried.headers["location"]


async def test_the_inbox_counts_what_waits_and_changes_as_work_is_done(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    def count(page: httpx.Response, key: str) -> int:
        found = re.search(rf'id="count-{key}">(\d+)<', page.text)
        assert found, key
        return int(found.group(1))

    box = await anonymous.get("/work", headers=town.clerk)
    assert box.status_code == 200 and 'href="/ce-queue"' in box.text
    before = count(box, "ce")
    made = await anonymous.post(f"/api/practitioners/{town.rare}/ce-records", json=CE_FORM, headers=town.holder)
    assert made.status_code == 201
    assert count(await anonymous.get("/work", headers=town.clerk), "ce") == before + 1
    await anonymous.post(f"/api/ce-records/{made.json()['id']}/verify", headers=town.clerk)
    assert count(await anonymous.get("/work", headers=town.clerk), "ce") == before
    # Registrations running out within 90 days, with the list behind the link.
    soon = clock.today() + dt.timedelta(days=30)
    # A correction of the period (periods are never updated): it now ends in 30 days.
    old = (
        await session.scalars(
            select(CertificationPeriod)
            .join(Certification, Certification.id == CertificationPeriod.certification_id)
            .where(Certification.practitioner_id == town.ext_a)
        )
    ).one()
    session.add(
        CertificationPeriod(
            certification_id=old.certification_id,
            kind=old.kind,
            start_date=old.start_date,
            end_date=soon,
            replaces_id=old.id,
            note="登记期限更正",
        )
    )
    await session.commit()
    box = await anonymous.get("/work", headers=town.clerk)
    assert count(box, "expiring") == 1
    listing = await anonymous.get("/work/expiring", headers=town.clerk)
    assert EXT_A in listing.text and str(soon) in listing.text
    # A payroll clerk verifies nothing: no CE line, but the runs to close.
    pay = await anonymous.get("/work", headers=town.payroll)
    assert 'id="count-ce"' not in pay.text and 'id="count-close"' in pay.text
    # The holder has no inbox: their own record.
    own = await anonymous.get("/work", headers=town.holder)
    assert own.status_code == 303 and own.headers["location"] == "/me"


async def test_regions_and_organizations_are_chosen_by_name_and_codes_stay_in_the_url(
    anonymous: httpx.AsyncClient, town: Town
) -> None:
    form = await anonymous.get("/practitioners", headers=town.clerk)
    # The clerk's county in the chooser's data by name with its pinyin (initials and whole), and
    # nothing outside the clerk's scope; post type among the filters.
    data = json.loads(html.unescape(form.text.split("data-regions='", 1)[1].split("'", 1)[0]))
    assert data == [[JIANGAN, "江岸区", "湖北省武汉市江岸区", "420100", 3, "jaq", "jianganqu"]]
    assert 'name="post_type"' in form.text and "江岸区某社区居委会" in form.text
    chosen = await anonymous.get(
        "/practitioners", params={"region": "湖北省武汉市江岸区", "name": "李"}, headers=town.clerk
    )
    assert chosen.status_code == 303
    assert chosen.headers["location"] == "/practitioners?" + urlencode({"region": JIANGAN, "name": "李"})
    found = await anonymous.get(chosen.headers["location"], headers=town.clerk)
    assert 'value="湖北省武汉市江岸区"' in found.text  # the name shown back, the code in the URL
    unknown = await anonymous.get("/practitioners", params={"region": "不存在区"}, headers=town.clerk)
    assert unknown.status_code == 200 and "找不到名为“不存在区”的区划" in unknown.text
    queue = await anonymous.get("/ce-queue", params={"region": "江岸区"}, headers=town.clerk)
    assert queue.status_code == 303 and queue.headers["location"] == f"/ce-queue?region={JIANGAN}"
    # The dashboard too: chosen by name, the code in the URL; an unknown name said in Chinese.
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    await app.state.summary_worker.drain()
    dash = await anonymous.get("/dashboard", params={"region": "江岸区"}, headers=town.clerk)
    assert dash.status_code == 303 and dash.headers["location"] == f"/dashboard?region={JIANGAN}"
    board = await anonymous.get(dash.headers["location"], headers=town.clerk)
    assert board.status_code == 200 and 'data-region-picker="region"' in board.text
    assert 'value="湖北省武汉市江岸区"' in board.text and "区划代码" not in board.text
    lost = await anonymous.get("/dashboard", params={"region": "不存在区"}, headers=town.clerk)
    assert lost.status_code == 400 and "找不到名为“不存在区”的区划" in lost.text


async def test_home_favicon_and_error_pages_speak_to_people(anonymous: httpx.AsyncClient, town: Town) -> None:
    home = await anonymous.get("/")
    assert home.status_code == 200 and 'href="/verify"' in home.text
    assert "/api/practitioners" not in home.text and "/health" not in home.text and "<code>" not in home.text
    icon = await anonymous.get("/favicon.ico")
    assert (
        icon.status_code == 200
        and icon.headers["content-type"].startswith("image/")
        and icon.content[:4] == b"\0\0\1\0"
    )
    missing = await anonymous.get("/practitioners/999999", headers=town.clerk)
    assert missing.status_code == 404 and "不存在" in missing.text
    assert "practitioner_not_found" not in missing.text and "HTTP 404" not in missing.text
    api = await anonymous.get("/api/practitioners/999999", headers=town.clerk)
    assert api.json()["code"] == "practitioner_not_found"  # the code stays in the API
