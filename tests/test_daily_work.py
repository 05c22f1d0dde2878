"""Daily work without holes (issue 16): the administrator's dashboard, plain language outward,
CE on pages and the queue that reaches every record, the work inbox."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from registry.config import Settings
from registry.rules.plain import plain
from tests.accounts import as_user
from tests.test_certificates import Town, build_town, download, issue, pdftotext, qr_texts


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


async def test_admin_dashboard_without_region_shows_the_country_by_province(
    anonymous: httpx.AsyncClient, session: AsyncSession, town: Town
) -> None:
    admin = await as_user(anonymous, session, "dash-admin", {"role": "admin"})
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
