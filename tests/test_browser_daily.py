"""Issue 16 in Chromium, as the role that does each part: the holder submits CE hours with a
file on a phone, the clerk finds the record through the queue's filters past the first page and
verifies it while the inbox counts follow; the dashboard's charts are drawn by ECharts with bars
in proportion to the data."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import update

from registry import clock
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.db import create_engine, create_session_maker
from registry.models import CeRecordRow, Certification, PayrollRun
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from tests.accounts import PASSWORD, make_user
from tests.conftest import TestDatabases
from tests.scene import LOADER, id_number
from tests.test_browser import serve
from tests.test_crawl import _axe

JIANGAN = "420102"
HOLDER = "司马霁"
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1366, "height": 768}
# Two months of allowance: 2,000 and 6,000 yuan.
MONTHS = ((dt.date(2026, 8, 1), Decimal(2000)), (dt.date(2026, 9, 1), Decimal(6000)))


@dataclass
class Live:
    base: str
    holder_id: int


async def _seed(url: str) -> int:
    engine = create_engine(url, pool_size=2)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            org = await create_organization(
                session,
                LOADER,
                OrganizationCreate(name="江岸区百步亭社区居委会", org_type="community", region_code=JIANGAN),
            )
            p = await create_practitioner(
                session,
                LOADER,
                PractitionerCreate(name=HOLDER, id_number=id_number(JIANGAN, "19900101"), education="bachelor"),
            )
            await add_employment(
                session,
                LOADER,
                p.id,
                EmploymentCreate(
                    organization_id=org.id, post_type="community_worker", in_post_from=dt.date(2018, 3, 1)
                ),
            )
            c = await add_certification(
                session,
                LOADER,
                p.id,
                CertificationCreate(
                    level="assistant",
                    certificate_number=f"WB{p.id:08d}",
                    exam_year=2024,
                    registration_valid_from=dt.date(2025, 1, 1),
                ),
            )
            await session.execute(
                update(Certification).where(Certification.id == c.id).values(verification_status="verified")
            )
            # Sixty older "academic" records ahead of the holder's: theirs is on the second page.
            for i in range(60):
                session.add(
                    CeRecordRow(
                        practitioner_id=p.id,
                        activity_date=dt.date(2025, 1, 1) + dt.timedelta(days=i),
                        hours=Decimal(1),
                        unit="学时",
                        category="academic",
                        provider="协会",
                        course=f"读书会第{i + 1}期",
                        status="pending",
                    )
                )
            for month, total in MONTHS:
                session.add(
                    PayrollRun(
                        region_code=JIANGAN,
                        month=month,
                        cutoff=month.replace(day=28),
                        status="approved",
                        line_count=10,
                        total_amount=total,
                    )
                )
            await make_user(session, "d-clerk", {"role": "civil_affairs", "region_code": JIANGAN})
            await make_user(session, "d-holder", {"role": "practitioner", "practitioner_id": p.id})
            await make_user(session, "d-city", {"role": "civil_affairs", "region_code": "420100"})
            await make_user(session, "d-admin", {"role": "admin"})
        return int(p.id)
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def live(databases: TestDatabases, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    url = databases.migrated("registry_browser_daily")
    holder = asyncio.run(_seed(url))
    with serve(databases.service(url), tmp_path_factory) as base:
        yield Live(base, holder)


def _login(page: Page, live: Live, username: str) -> None:
    page.goto(f"{live.base}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")


def _count(page: Page, key: str) -> int:
    return int(page.locator(f"#count-{key}").inner_text())


def test_holder_submits_ce_on_a_phone_and_the_clerk_verifies_it_past_the_first_page(
    live: Live, browser: Browser, tmp_path: Path
) -> None:
    clerk = browser.new_context(viewport=DESKTOP).new_page()
    _login(clerk, live, "d-clerk")
    clerk.wait_for_url(f"{live.base}/work")  # staff land on their inbox
    waiting = _count(clerk, "ce")
    assert waiting == 60

    phone = browser.new_context(viewport=PHONE, is_mobile=True).new_page()
    _login(phone, live, "d-holder")
    phone.wait_for_url(f"{live.base}/me")
    phone.click("#ce-new")
    photo = tmp_path / "结业证书.png"
    photo.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4)
    phone.fill("#f-activity_date", f"{clock.today() - dt.timedelta(days=3)}")
    phone.fill("#f-hours", "3.5")
    phone.select_option("#f-category", "academic")
    phone.fill("#f-provider", "武汉市社会工作协会")
    phone.fill("#f-course", "社区治理专题讲座")
    phone.set_input_files("#f-evidence", str(photo))
    assert phone.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    phone.click("#ce-form button[type=submit]")
    expect(phone.locator("#message")).to_contain_text("等待核验")
    expect(phone.locator("#ce")).to_contain_text("社区治理专题讲座")

    clerk.reload()
    assert _count(clerk, "ce") == waiting + 1
    clerk.click("#inbox-ce")
    clerk.select_option("#q-category", "academic")
    clerk.fill("#q-from", "2025-01-01")
    clerk.click("#ce-filters button[type=submit]")
    expect(clerk.locator("#ce-total")).to_contain_text("61")
    expect(clerk.locator("#ce-bulk")).not_to_contain_text("社区治理专题讲座")
    clerk.click("#next-page")
    row = clerk.locator("tr", has_text="社区治理专题讲座")
    expect(row).to_contain_text(HOLDER)
    expect(row).to_contain_text("本人提交")
    with clerk.expect_download() as download:
        row.locator("a", has_text="结业证书").click()
    assert Path(download.value.path()).read_bytes() == photo.read_bytes()
    row.locator("input[name=ids]").check()
    clerk.click("#bulk-verify")
    expect(clerk.locator("#message")).to_contain_text("已核验通过 1 条")
    expect(clerk.locator("#ce-total")).to_contain_text("60")
    clerk.goto(f"{live.base}/work")
    assert _count(clerk, "ce") == waiting


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1366", "390"])
def test_allowance_chart_bars_are_in_proportion_to_the_amounts(
    live: Live, browser: Browser, viewport: dict[str, int]
) -> None:
    page = browser.new_context(viewport=viewport).new_page()
    _login(page, live, "d-clerk")
    page.goto(f"{live.base}/dashboard?region={JIANGAN}")
    page.wait_for_function("() => window.echarts && echarts.getInstanceByDom(document.getElementById('chart-months'))")
    drawn = page.evaluate(
        """() => {
        const chart = echarts.getInstanceByDom(document.getElementById('chart-months'));
        const data = chart.getModel().getSeriesByIndex(0).getData();
        const bars = [];
        for (let i = 0; i < data.count(); i++) {
            const layout = data.getItemLayout(i);
            const box = data.getItemGraphicEl(i).getBoundingRect();
            bars.push({value: chart.getOption().series[0].data[i], height: Math.abs(layout.height), drawn: box.height});
        }
        const el = document.getElementById('chart-months');
        return {bars, labels: chart.getOption().xAxis[0].data, height: el.clientHeight, width: el.scrollWidth,
                svgBars: el.querySelectorAll('svg path').length};
    }"""
    )
    assert [b["value"] for b in drawn["bars"]] == [2000, 6000]
    assert drawn["labels"] == ["2026-08", "2026-09"]  # whole months, not "26-08"
    low, high = drawn["bars"]
    assert low["height"] > 10 and abs(high["height"] / low["height"] - 3) < 0.02, drawn
    assert abs(high["drawn"] / low["drawn"] - 3) < 0.02, drawn
    assert drawn["height"] <= 400  # the card keeps its size at every width
    assert drawn["width"] <= viewport["width"]


def _levels(page: Page) -> list[tuple[str, str]]:
    """The level-by-level choosers: each one's label and chosen name."""
    drawn = page.evaluate(
        """() => Array.from(document.querySelectorAll('#q-region-levels select')).map(s =>
            [document.querySelector('label[for=' + s.id + ']').textContent, s.selectedOptions[0].textContent])"""
    )
    return [(label, name) for label, name in drawn]


def test_region_chooser_cascades_finds_pinyin_by_keyboard_and_keeps_the_code_in_the_url(
    live: Live, browser: Browser
) -> None:
    page = browser.new_context(viewport=PHONE, is_mobile=True, bypass_csp=True).new_page()
    _login(page, live, "d-admin")
    page.goto(f"{live.base}/practitioners")
    # Level by level: province, then its cities, then the city's counties.
    page.select_option("#q-region-level-0", label="湖北省")
    page.select_option("#q-region-level-1", label="武汉市")
    page.select_option("#q-region-level-2", label="江岸区")
    assert _levels(page) == [
        ("省（自治区、直辖市）", "湖北省"),
        ("市（地区、州）", "武汉市"),
        ("区县", "江岸区"),
    ]
    assert page.input_value("#q-region") == "湖北省武汉市江岸区"
    assert page.locator("input[type=hidden][name=region]").input_value() == JIANGAN
    # Typed: whole pinyin, then initials, chosen with the arrow keys and Enter, no mouse.
    for typed, expected in (("jiangan", "湖北省武汉市江岸区"), ("hubei", "湖北省"), ("jaq", "湖北省武汉市江岸区")):
        page.fill("#q-region", "")
        page.locator("#q-region").press_sequentially(typed)
        expect(page.locator("#q-region-list [role=option]").first).to_be_visible()
        options = page.locator("#q-region-list [role=option]").all_inner_texts()
        assert expected in options, (typed, options)
        page.keyboard.press("ArrowDown")
        for _ in range(options.index(expected)):
            page.keyboard.press("ArrowDown")
        active = page.get_attribute("#q-region", "aria-activedescendant")
        assert active and page.locator(f"#{active}").inner_text() == expected
        page.keyboard.press("Enter")
        assert page.input_value("#q-region") == expected
        assert page.get_attribute("#q-region", "aria-expanded") == "false"
    assert _levels(page)[-1] == ("区县", "江岸区")
    # In Chinese, part of a name.
    page.fill("#q-region", "")
    page.locator("#q-region").press_sequentially("江岸")
    expect(page.locator("#q-region-list [role=option]").first).to_have_text("湖北省武汉市江岸区")
    page.keyboard.press("Enter")
    # The search sends the code: the URL is bookmarkable and opens with the choice shown again.
    page.fill("#q-name", "司马")
    page.click("#search-form button[type=submit]")
    page.wait_for_url(lambda url: f"region={JIANGAN}" in url and "name=" in url)
    expect(page.locator("#results")).to_contain_text(HOLDER)
    page.goto(page.url)
    assert page.input_value("#q-region") == "湖北省武汉市江岸区"
    assert [name for _, name in _levels(page)] == ["湖北省", "武汉市", "江岸区"]
    assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]
    page.locator("#q-region").press_sequentially("x")  # the list of matches open, too
    assert _axe(page) == []


def test_region_chooser_offers_only_the_regions_in_scope(live: Live, browser: Browser) -> None:
    page = browser.new_context(viewport=DESKTOP).new_page()
    _login(page, live, "d-city")
    page.goto(f"{live.base}/practitioners")
    # A city clerk starts at their city; its counties below; nothing of another city or province.
    assert _levels(page) == [("市（地区、州）", "全部")]
    cities = page.locator("#q-region-level-0 option").all_inner_texts()
    assert cities == ["全部", "武汉市"]
    page.select_option("#q-region-level-0", label="武汉市")
    counties = page.locator("#q-region-level-1 option").all_inner_texts()
    assert "江岸区" in counties and "洪山区" in counties and len(counties) > 10
    page.locator("#q-region").press_sequentially("zhuzhou")  # 株洲 is in Hunan: not offered
    assert page.locator("#q-region-list [role=option]").count() == 0
    data = page.evaluate("JSON.parse(document.getElementById('q-region-picker').dataset.regions).map(r => r[0])")
    assert data and all(code.startswith("4201") for code in data)
    clerk = browser.new_context(viewport=DESKTOP).new_page()
    _login(clerk, live, "d-clerk")
    clerk.goto(f"{live.base}/ce-queue")
    assert _levels(clerk) == [("区县", "全部")]
    assert clerk.locator("#q-region-level-0 option").all_inner_texts() == ["全部", "江岸区"]
