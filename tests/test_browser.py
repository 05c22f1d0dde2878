"""The pages in a real browser: headless Chromium (Debian's, driven by Playwright) against the
service running in its own process on a database of its own, with committed data.

A county clerk logs in, searches by part of a Chinese name as they type, opens the record, issues
an allowance certificate and downloads it; anyone checks it on the public page; the holder sees
their own record on a phone-sized screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import openpyxl
import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from registry import clock
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.db import create_engine, create_session_maker
from registry.models import Certification
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import PASSWORD, make_user
from tests.conftest import TestDatabases
from tests.scene import LOADER, id_number

CHROMIUM = os.environ.get("REGISTRY_CHROMIUM", "/usr/bin/chromium")
JIANGAN = "420102"
NAME = "欧阳喆"  # 喆 is outside GB 2312
# Last month: the default period for a certificate and a month whose cut-off has passed.
LAST_MONTH = f"{clock.today().replace(day=1) - dt.timedelta(days=1):%Y-%m}"


@dataclass
class Live:
    base: str
    person_id: int


async def _seed(url: str) -> int:
    engine = create_engine(url, pool_size=2)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            org = await create_organization(
                session,
                LOADER,
                OrganizationCreate(name="江岸区百步亭社区居委会", org_type="community", region_code=JIANGAN),
            )
            for name, level in ((NAME, "intermediate"), ("欧阳明", None)):
                p = await create_practitioner(
                    session,
                    LOADER,
                    PractitionerCreate(name=name, id_number=id_number(JIANGAN, "19900101"), education="bachelor"),
                )
                await add_employment(
                    session,
                    LOADER,
                    p.id,
                    EmploymentCreate(
                        organization_id=org.id, post_type="community_worker", in_post_from=dt.date(2018, 3, 1)
                    ),
                )
                if level:
                    person_id = p.id
                    c = await add_certification(
                        session,
                        LOADER,
                        p.id,
                        CertificationCreate(
                            level=level,
                            certificate_number=f"WB{p.id:08d}",
                            exam_year=2024,
                            registration_valid_from=dt.date(2025, 1, 1),
                        ),
                    )
                    await session.execute(
                        update(Certification)
                        .where(Certification.id == c.id)
                        .values(verification_status="verified", verified_at=dt.datetime(2025, 1, 5, tzinfo=dt.UTC))
                    )
            await make_user(session, "browser-clerk", {"role": "civil_affairs", "region_code": JIANGAN})
            await make_user(session, "browser-payroll", {"role": "payroll_clerk", "region_code": JIANGAN})
            await make_user(session, "browser-holder", {"role": "practitioner", "practitioner_id": person_id})
        return person_id
    finally:
        await engine.dispose()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def serve(url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The service in its own process on the database at ``url`` (the service's role's URL);
    yields its base address."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    server = (
        "import uvicorn\n"
        "from registry.app import create_app\n"
        "from registry.config import Settings\n"
        f"settings = Settings(port={port}, public_url={base!r})\n"
        f"uvicorn.run(create_app(settings, database_url={url!r}), host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    log = tmp_path_factory.mktemp("server") / "server.log"
    with log.open("w") as out:
        process = subprocess.Popen([sys.executable, "-c", server], stdout=out, stderr=subprocess.STDOUT)
    try:
        for _ in range(100):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                if process.poll() is not None:
                    raise RuntimeError(log.read_text()) from None
                time.sleep(0.2)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)


@pytest.fixture(scope="module")
def live(databases: TestDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = databases.migrated("registry_browser")
    person_id = asyncio.run(_seed(url))
    with serve(databases.service(url), tmp_path_factory) as base:
        yield Live(base, person_id)


def login(page: Page, live: Live, username: str, next_url: str) -> None:
    page.goto(f"{live.base}/login?next={next_url}")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live.base}{next_url}")


def test_clerk_finds_a_record_issues_a_certificate_and_anyone_can_verify_it(
    live: Live, browser: Browser, tmp_path: Path
) -> None:
    clerk = browser.new_context(accept_downloads=True).new_page()
    # The CSP allows scripts from /static only: any inline script left behind would be refused.
    refused: list[str] = []
    clerk.on("console", lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None)
    login(clerk, live, "browser-clerk", "/practitioners")
    expect(clerk.locator("h1")).to_have_text("社工检索")

    # Results as you type: a fragment of the name, no button pressed.
    clerk.fill("#q-name", "喆")
    row = clerk.locator("table.results tbody tr")
    expect(row).to_have_count(1)
    expect(row).to_contain_text(NAME)
    expect(row).to_contain_text("4201**********")  # masked in the list
    clerk.fill("#q-name", "欧阳")
    expect(row).to_have_count(2)
    assert "name=%E6%AC%A7%E9%98%B3" in clerk.url  # the address follows, for a bookmark or a colleague

    clerk.click(f"text={NAME}")
    expect(clerk.locator("#person h2")).to_contain_text(NAME)
    allowance = clerk.locator('#decisions .decision[data-question="allowance"]')
    expect(allowance).to_contain_text("MCA-REG-3Y")  # the reasons, with their rules

    # Correct the phone number: a wrong one is refused next to its field, then fixed.
    clerk.click("#edit-link")
    clerk.fill("#f-phone", "1380013")
    clerk.click("form.edit-form button[type=submit]")
    expect(clerk.locator("#error-phone")).to_be_visible()
    expect(clerk.locator("#f-phone")).to_have_value("1380013")  # what was typed stays
    clerk.fill("#f-phone", "13800138000")
    clerk.click("form.edit-form button[type=submit]")
    expect(clerk.locator("#message")).to_have_text("已保存。")
    expect(clerk.locator("#person")).to_contain_text("138****8000")

    # Issue last month's allowance certificate: the period is filled in, and follows the kind.
    expect(clerk.locator("#period")).to_have_value(LAST_MONTH)
    clerk.select_option("#kind", "registration")
    expect(clerk.locator("#period")).to_have_value(clock.today().isoformat())
    clerk.select_option("#kind", "allowance")
    expect(clerk.locator("#period")).to_have_value(LAST_MONTH)
    clerk.click("#issue-form button[type=submit]")
    message = clerk.locator("#message")
    expect(message).to_contain_text("已出具职业津贴资格证明")
    serial = message.inner_text().split("编号 ")[1].rstrip("。")
    listed = clerk.locator(f'#certificates tr[data-serial="{serial}"]')
    expect(listed).to_contain_text("有效")
    with clerk.expect_download() as download:
        listed.locator("text=下载 PDF").click()
    pdf = tmp_path / "certificate.pdf"
    download.value.save_as(pdf)
    text = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True, check=True).stdout
    assert NAME in "".join(text.split())

    # Anyone, not logged in, checks the serial on the public page.
    public = browser.new_context().new_page()
    public.goto(f"{live.base}/verify")
    public.fill("#serial", serial.lower())
    public.click("button[type=submit]")
    expect(public.locator("#verify-status")).to_have_text("有效")
    expect(public.locator("#verify-result")).to_contain_text("欧*喆")
    expect(public.locator("#verify-result")).not_to_contain_text(NAME)  # masked for the public

    # The clerk revokes it with a reason; the public page says so.
    listed.locator("summary").click()
    listed.locator("input[name=reason]").fill("证书信息有误，重新核验")
    listed.locator("text=确认撤销").click()
    expect(clerk.locator("#message")).to_contain_text("已撤销")
    public.reload()
    expect(public.locator("#verify-status")).to_have_text("已撤销")
    expect(public.locator("#verify-result")).not_to_contain_text("证书信息有误")  # the reason is for staff
    assert refused == []


def test_the_holder_sees_their_own_record_on_a_phone(live: Live, browser: Browser) -> None:
    context = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    page = context.new_page()
    login(page, live, "browser-holder", "/me")
    expect(page.locator("h1")).to_have_text("我的档案")
    expect(page.locator("#person h2")).to_contain_text(NAME)
    expect(page.locator("#decisions")).to_contain_text("职业津贴")
    expect(page.locator("header nav")).not_to_contain_text("检索")  # no registry search for a practitioner
    # Nothing wider than the phone: no sideways scrolling.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    # The holder issues their own registration certificate.
    page.select_option("#kind", "registration")
    page.click("#issue-form button[type=submit]")
    expect(page.locator("#message")).to_contain_text("已出具职业水平证书登记证明")
    expect(page.locator("#certificates")).to_contain_text("职业水平证书登记证明")
    # Another person's page is not theirs to see.
    response = page.goto(f"{live.base}/practitioners/{live.person_id + 1}")
    assert response is not None and response.status == 404


def test_payroll_is_run_by_one_clerk_approved_by_another_and_exported(
    live: Live, browser: Browser, tmp_path: Path
) -> None:
    prep = browser.new_context(accept_downloads=True).new_page()
    login(prep, live, "browser-payroll", "/payroll")
    expect(prep.locator("#run-region")).to_have_value(JIANGAN)
    prep.fill("#run-month", LAST_MONTH)
    prep.click("#new-run button[type=submit]")
    expect(prep.locator("#message")).to_contain_text("已创建并计算")
    expect(prep.locator("#run-count")).to_have_text("1")
    expect(prep.locator("#diff-added")).to_contain_text(NAME)  # new against no earlier run
    expect(prep.locator("#lines")).to_contain_text("HB-ALW-100-200")  # each line with its basis
    prep.click("#do-submit")
    expect(prep.locator("#run-status")).to_have_text("待审批")
    # A payroll clerk may not approve or return a run: no such buttons for them.
    expect(prep.locator("#do-approve")).to_have_count(0)
    expect(prep.locator("#run-actions")).not_to_contain_text("退回")
    expect(prep.locator("#run-status")).to_have_text("待审批")

    approver = browser.new_context().new_page()
    login(approver, live, "browser-clerk", "/payroll")
    approver.click("#runs a >> nth=0")
    approver.click("#do-approve")
    expect(approver.locator("#run-status")).to_have_text("已批准")

    prep.reload()
    expect(prep.locator("#run-status")).to_have_text("已批准")
    with prep.expect_download() as download:
        prep.click("#export-xlsx")
    path = tmp_path / "run.xlsx"
    download.value.save_as(path)
    sheet = openpyxl.load_workbook(path, read_only=True).worksheets[0]
    cells = [str(c) for row in sheet.iter_rows(values_only=True) for c in row if c is not None]
    assert NAME in cells
