"""Eligibility certificates: real WeasyPrint PDFs read back with pdftotext and pdffonts, the QR
code decoded from a rasterized page, signatures checked online and offline, revocation and
reissue, refusals that write nothing, and batch issuing through the worker processes."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
import subprocess
import zipfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import zxingcpp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from PIL import Image
from pypdf import PdfReader, PdfWriter
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from registry import clock
from registry.accounts.actor import Actor
from registry.certificates import batch as batches
from registry.certificates import offline, render
from registry.certificates.schemas import BatchCreate
from registry.certificates.service import SERIAL_ALPHABET, CertContext, new_serial, normalize_serial
from registry.certificates.signing import Signer, short_token
from registry.certifications.schemas import CertificationCreate
from registry.certifications.service import add_certification
from registry.cli import main as cli_main
from registry.config import Settings
from registry.models import (
    AuditEvent,
    AwardRow,
    CeRecordRow,
    Certification,
    IssuedCertificate,
    Practitioner,
)
from registry.organizations.schemas import OrganizationCreate
from registry.organizations.service import create_organization
from registry.practitioners.schemas import EmploymentCreate, PractitionerCreate
from registry.practitioners.service import add_employment, create_practitioner
from registry.rules.plain import plain
from tests.accounts import bearer, make_token, make_user
from tests.problems import assert_problem
from tests.scene import LOADER, id_number

JIANGAN = "420102"  # 武汉市江岸区
RARE = "李喆堃珺"  # 喆, 堃 and 珺 are outside GB 2312
EXT_A = "刘䶮"  # 䶮 (U+4DAE) is in CJK extension A: WenQuanYi lacks it, Noto has it


@dataclass
class Town:
    rare: int  # an intermediate community worker with 100 hours of CE in 2025
    ext_a: int
    bare: int  # no certificate: never eligible
    clerk: dict[str, str]  # civil affairs of Jiang'an
    payroll: dict[str, str]  # payroll clerk of Hubei
    holder: dict[str, str]  # the practitioner ``rare`` themself
    outsider: dict[str, str]  # civil affairs of a county in Hunan


async def _person(
    session: AsyncSession, org: int, name: str, *, level: str | None = "intermediate", ce_hours: int = 0
) -> int:
    p = await create_practitioner(
        session,
        LOADER,
        PractitionerCreate(name=name, id_number=id_number(JIANGAN, "19880101"), education="bachelor"),
    )
    await add_employment(
        session,
        LOADER,
        p.id,
        EmploymentCreate(organization_id=org, post_type="community_worker", in_post_from=dt.date(2015, 1, 1)),
    )
    if level:
        c = await add_certification(
            session,
            LOADER,
            p.id,
            CertificationCreate(
                level=level,
                certificate_number=f"HB{p.id:08d}",
                exam_year=2024,
                registration_valid_from=dt.date(2025, 1, 1),
            ),
        )
        await session.execute(
            update(Certification)
            .where(Certification.id == c.id)
            .values(verification_status="verified", verified_at=dt.datetime(2025, 1, 10, 2, tzinfo=dt.UTC))
        )
    for day in range(ce_hours // 20):
        session.add(
            CeRecordRow(
                practitioner_id=p.id,
                activity_date=dt.date(2025, 3, 1 + day),
                hours=Decimal(20),
                unit="小时",
                category="training",
                provider="武汉市社会工作协会",
                course="社会工作实务培训",
                status="verified",
            )
        )
    await session.flush()
    return p.id


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


async def build_town(session: AsyncSession) -> Town:
    org = await create_organization(
        session, LOADER, OrganizationCreate(name="江岸区某社区居委会", org_type="community", region_code=JIANGAN)
    )
    rare = await _person(session, org.id, RARE, ce_hours=100)
    ext_a = await _person(session, org.id, EXT_A)
    bare = await _person(session, org.id, "王芳", level=None)
    clerk = await make_user(session, "ja-civil", {"role": "civil_affairs", "region_code": JIANGAN})
    payroll = await make_user(session, "hb-pay", {"role": "payroll_clerk", "region_code": "420000"})
    holder = await make_user(session, "rare-self", {"role": "practitioner", "practitioner_id": rare})
    outsider = await make_user(session, "hn-civil", {"role": "civil_affairs", "region_code": "430202"})
    town = Town(
        rare=rare,
        ext_a=ext_a,
        bare=bare,
        clerk=bearer(await make_token(session, clerk)),
        payroll=bearer(await make_token(session, payroll)),
        holder=bearer(await make_token(session, holder)),
        outsider=bearer(await make_token(session, outsider)),
    )
    await session.commit()
    return town


async def issue(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    pid: int,
    kind: str = "allowance",
    period: str | None = "2026-10",
) -> dict[str, Any]:
    body: dict[str, Any] = {"practitioner_id": pid, "kind": kind, "period": period}
    response = await client.post("/api/certificates", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def download(client: httpx.AsyncClient, headers: dict[str, str], serial: str) -> bytes:
    response = await client.get(f"/api/certificates/{serial}/pdf", headers=headers)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    return response.content


def run_tool(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=True).stdout


def pdftotext(pdf: bytes, tmp_path: Path) -> str:
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True).stdout


def pdffonts(pdf: bytes, tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "f.pdf"
    path.write_bytes(pdf)
    out = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()[2:]]


def qr_texts(pdf: bytes, tmp_path: Path) -> list[str]:
    path = tmp_path / "q.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", "150", "-png", "-singlefile", str(path), str(tmp_path / "page")], check=True)
    with Image.open(tmp_path / "page.png") as image:
        return [r.text for r in zxingcpp.read_barcodes(image)]


def embedded_glyphs(pdf: bytes) -> dict[str, set[int]]:
    """Character → glyph ids, from the ToUnicode maps of the fonts embedded in the PDF."""
    found: dict[str, set[int]] = {}
    for page in PdfReader(io.BytesIO(pdf)).pages:
        for font in page["/Resources"]["/Font"].values():
            font = font.get_object()
            descendant = font["/DescendantFonts"][0].get_object() if "/DescendantFonts" in font else font
            if "/FontFile2" not in descendant["/FontDescriptor"] and "/FontFile3" not in descendant["/FontDescriptor"]:
                continue  # not embedded: its glyphs are no evidence
            cmap = font["/ToUnicode"].get_object().get_data().decode("latin-1")
            for block in re.findall(r"beginbfchar(.*?)endbfchar", cmap, re.S):
                for gid, chars in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                    found.setdefault(bytes.fromhex(chars).decode("utf-16-be"), set()).add(int(gid, 16))
            for block in re.findall(r"beginbfrange(.*?)endbfrange", cmap, re.S):
                for lo, hi, start in re.findall(r"<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>\s*<([0-9A-Fa-f]+)>", block):
                    first = ord(bytes.fromhex(start).decode("utf-16-be"))
                    for offset in range(int(hi, 16) - int(lo, 16) + 1):
                        found.setdefault(chr(first + offset), set()).add(int(lo, 16) + offset)
    return found


def current_keys() -> dict[str, Any]:
    return offline.keys_from([Signer.load_or_create(Settings().key_path).public_pem.encode()])


# --- the paper ------------------------------------------------------------------------------------


async def test_allowance_certificate_is_a_real_pdf_with_a_working_qr_code(
    anonymous: httpx.AsyncClient, town: Town, tmp_path: Path
) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    assert cert["status"] == "valid" and cert["kind_label"] == "职业津贴资格证明"
    amount = cert["decision"]["amount"]
    assert Decimal(amount) > 0
    pdf = await download(anonymous, town.clerk, cert["serial"])
    words = pdftotext(pdf, tmp_path)
    flat = "".join(words.split())
    assert RARE in flat
    assert f"每月津贴标准{amount}元" in flat
    assert cert["serial"] in flat
    assert "4201**********" in flat  # the ID number masked, never in full
    for finding in cert["decision"]["findings"]:
        # Each finding is printed with its document and clause in words (the rule's id and the
        # catalogue's notes on its sources stay in the signed data and staff views).
        for part in (plain(finding["text"]), plain(finding["citation"])):
            assert "".join(part.split()) in flat, part
        assert finding["rule_ref"] not in flat
    fonts = pdffonts(pdf, tmp_path)
    assert fonts, "no fonts in the PDF"
    assert all(row[-5] == "yes" for row in fonts), fonts  # every font embedded
    assert any("WenQuanYi" in row[0] or "Noto-Sans-CJK" in row[0] for row in fonts)

    [url] = qr_texts(pdf, tmp_path)
    origin = Settings().base_url.upper()
    assert url.startswith(f"{origin}/V/{cert['serial']}/")  # the short address, upper case
    answer = await anonymous.get(f"/api/verify/{cert['serial']}", params={"q": url})
    assert answer.status_code == 200, answer.text
    status = answer.json()
    assert status["status"] == "valid" and status["signature_valid"] and status["qr_valid"] is True
    assert status["holder"] == "李**珺" and status["serial"] == cert["serial"]
    # What a phone that scanned the code opens: the public page, which finds the serial in it.
    page = await anonymous.get(url.removeprefix(origin))
    assert page.status_code == 200 and cert["serial"] in page.text and "有效" in page.text
    assert "二维码内容与登记记录一致" in page.text


async def test_the_pdf_is_rendered_from_the_snapshot_byte_for_byte(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession
) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    first = await download(anonymous, town.clerk, cert["serial"])
    # The record changes after issue: the certificate still says what was decided then.
    await session.execute(update(Practitioner).where(Practitioner.id == town.rare).values(name="李改名"))
    await session.commit()
    again = await download(anonymous, town.holder, cert["serial"])
    assert first == again


async def test_names_outside_gb2312_and_in_extension_a_render_with_real_glyphs(
    anonymous: httpx.AsyncClient, town: Town, tmp_path: Path
) -> None:
    for pid, name, font in ((town.rare, RARE, "WenQuanYi"), (town.ext_a, EXT_A, "Noto-Sans-CJK")):
        cert = await issue(anonymous, town.clerk, pid)
        pdf = await download(anonymous, town.clerk, cert["serial"])
        assert name in "".join(pdftotext(pdf, tmp_path).split())
        assert any(font in row[0] for row in pdffonts(pdf, tmp_path)), name
        # Evidence from the file: an embedded font maps a real glyph (not .notdef, 0) to each
        # character of the name.
        drawn = embedded_glyphs(pdf)
        for ch in name:
            assert any(gid > 0 for gid in drawn.get(ch, ())), (ch, name)


async def test_a_character_no_font_can_print_is_refused_before_issue(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession
) -> None:
    # U+30000 (CJK extension G) is in no installed font: the paper would show an empty box.
    await session.execute(update(Practitioner).where(Practitioner.id == town.rare).values(name="李\U00030000"))
    await session.commit()
    before = await session.scalar(select(func.count()).select_from(IssuedCertificate))
    response = await anonymous.post(
        "/api/certificates",
        json={"practitioner_id": town.rare, "kind": "allowance", "period": "2026-10"},
        headers=town.clerk,
    )
    assert_problem(response, 422, "character_unprintable")
    assert await session.scalar(select(func.count()).select_from(IssuedCertificate)) == before


# --- decisions -----------------------------------------------------------------------------------


async def test_a_negative_decision_gives_409_with_the_reasons_and_writes_nothing(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession
) -> None:
    before = await session.scalar(select(func.count()).select_from(IssuedCertificate))
    events = await session.scalar(select(func.count()).select_from(AuditEvent))
    response = await anonymous.post(
        "/api/certificates",
        json={"practitioner_id": town.bare, "kind": "allowance", "period": "2026-10"},
        headers=town.clerk,
    )
    problem = assert_problem(response, 409, "not_eligible")
    assert "不符合职业津贴发放条件" in problem["detail"]
    reasons = {e["field"]: e for e in problem["errors"]}
    assert "MCA-REG-3Y v1" in reasons
    assert reasons["MCA-REG-3Y v1"]["code"] == "rule_not_met"
    assert "没有登记职业水平证书" in reasons["MCA-REG-3Y v1"]["message"]
    assert "民发〔2009〕44号" in reasons["MCA-REG-3Y v1"]["message"]  # the citation
    assert await session.scalar(select(func.count()).select_from(IssuedCertificate)) == before
    assert await session.scalar(select(func.count()).select_from(AuditEvent)) == events


TODAY = clock.today()


@pytest.mark.parametrize(
    ("kind", "period", "code"),
    [
        ("allowance", f"{TODAY:%Y-%m}", "period_invalid"),  # the month's cut-off has not passed
        ("allowance", "2026-13", "period_invalid"),
        ("ce", "26", "period_invalid"),
        ("salary", str(TODAY.year), "period_invalid"),  # the year is not over
        ("registration", str(TODAY + dt.timedelta(days=1)), "period_invalid"),
        ("award", None, "award_required"),
    ],
)
async def test_impossible_periods_are_refused(
    anonymous: httpx.AsyncClient, town: Town, kind: str, period: str | None, code: str
) -> None:
    response = await anonymous.post(
        "/api/certificates", json={"practitioner_id": town.rare, "kind": kind, "period": period}, headers=town.clerk
    )
    assert_problem(response, 422, code)


async def test_ce_registration_and_award_certificates(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession, tmp_path: Path
) -> None:
    ce = await issue(anonymous, town.holder, town.rare, "ce", "2025")
    assert ce["decision"]["outcome"] is True
    assert ("已核验培训", "100.0 小时") in [tuple(f) for f in ce["facts"]]
    reg = await issue(anonymous, town.clerk, town.rare, "registration", "2026-11-01")
    assert reg["valid_until"] <= "2027-12-31"
    assert "HB" in reg["headline"]
    # An approved award gets a certificate; a nomination does not (yet).
    session.add_all(
        [
            AwardRow(
                practitioner_id=town.rare,
                programme="outstanding_social_worker",
                round=2025,
                rule_id="ZZ-AWARD",
                rule_version=1,
                amount=Decimal("5000.00"),
                status=status,
                nominated_on=dt.date(2025, 12, 1),
                approved_on=dt.date(2025, 12, 20) if status == "approved" else None,
            )
            for status in ("approved",)
        ]
    )
    await session.commit()
    award_id = await session.scalar(select(AwardRow.id).where(AwardRow.practitioner_id == town.rare))
    response = await anonymous.post(
        "/api/certificates",
        json={"practitioner_id": town.rare, "kind": "award", "award_id": award_id},
        headers=town.clerk,
    )
    assert response.status_code == 201, response.text
    award = response.json()
    assert award["period"] == f"award-{award_id}" and "5,000.00" in award["headline"]
    pdf = await download(anonymous, town.clerk, award["serial"])
    assert "优秀社工" in "".join(pdftotext(pdf, tmp_path).split())
    # The same CE request again returns the certificate already issued, not a second one.
    again = await anonymous.post(
        "/api/certificates", json={"practitioner_id": town.rare, "kind": "ce", "period": "2025"}, headers=town.holder
    )
    assert again.status_code == 200 and again.json()["serial"] == ce["serial"]
    listed = (await anonymous.get(f"/api/practitioners/{town.rare}/certificates", headers=town.holder)).json()
    assert {c["serial"] for c in listed} == {ce["serial"], reg["serial"], award["serial"]}


async def test_who_may_issue(anonymous: httpx.AsyncClient, town: Town) -> None:
    # The holder certifies their registration as of today; another day is for staff.
    past = {"practitioner_id": town.rare, "kind": "registration", "period": "2026-01-05"}
    assert_problem(await anonymous.post("/api/certificates", json=past, headers=town.holder), 422, "period_invalid")
    assert (await anonymous.post("/api/certificates", json=past, headers=town.clerk)).status_code == 201
    body = {"practitioner_id": town.rare, "kind": "allowance", "period": "2026-10"}
    assert (await anonymous.post("/api/certificates", json=body, headers=town.payroll)).status_code == 201
    ce = {"practitioner_id": town.rare, "kind": "ce", "period": "2025"}
    assert_problem(await anonymous.post("/api/certificates", json=ce, headers=town.payroll), 403, "forbidden")
    assert_problem(
        await anonymous.post("/api/certificates", json=body, headers=town.outsider), 404, "practitioner_not_found"
    )
    other = {"practitioner_id": town.ext_a, "kind": "allowance", "period": "2026-10"}
    assert_problem(
        await anonymous.post("/api/certificates", json=other, headers=town.holder), 404, "practitioner_not_found"
    )
    assert_problem(await anonymous.post("/api/certificates", json=body), 401, "not_authenticated")


# --- integrity -------------------------------------------------------------------------------------


def _retampered(pdf: bytes, change: Any) -> bytes:
    """The PDF with its embedded certificate JSON replaced by ``change(json)``."""
    reader = PdfReader(io.BytesIO(pdf))
    [blob] = reader.attachments[render.ATTACHMENT]
    embedded = json.loads(blob)
    writer = PdfWriter()
    for page in reader.pages:
        writer.add_page(page)
    writer.add_attachment(render.ATTACHMENT, json.dumps(change(embedded), ensure_ascii=False).encode())
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


async def test_offline_verification_catches_a_changed_byte_and_a_forged_payload(
    anonymous: httpx.AsyncClient, town: Town, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    pdf = await download(anonymous, town.clerk, cert["serial"])
    keys = current_keys()
    [good] = offline.check_pdf(pdf, keys)
    assert good.ok and good.serial == cert["serial"], good.problems

    amount = cert["decision"]["amount"]

    def raise_amount(embedded: dict[str, Any]) -> dict[str, Any]:
        assert amount in embedded["snapshot"]
        return dict(embedded, snapshot=embedded["snapshot"].replace(amount, "9" + amount[1:], 1))

    [bad] = offline.check_pdf(_retampered(pdf, raise_amount), keys)
    assert not bad.ok and any("签名不符" in p for p in bad.problems)

    # The QR payload: a changed field, or a payload signed by another key claiming ours.
    [url] = qr_texts(pdf, tmp_path)
    assert offline.check_payload(url, keys).ok
    head, digits = url.rsplit("/", 1)
    assert head.endswith(cert["serial"]) and digits[:8] == cert["valid_until"].replace("-", "")
    # A later valid-until date with the genuine signature; another serial; another key's signature.
    later = str(int(digits[:4]) + 5) + digits[4:]
    assert not offline.check_payload(f"{head}/{later}", keys).ok
    assert not offline.check_payload(url.replace(cert["serial"], new_serial(2026)), keys).ok
    impostor = Signer(Ed25519PrivateKey.generate())
    forged_token = short_token(impostor, cert["serial"], cert["valid_until"])
    forged = offline.check_payload(forged_token, keys)
    assert not forged.ok and "签名不符" in forged.problems[0]
    online = (await anonymous.get(f"/api/verify/{cert['serial']}", params={"q": forged_token})).json()
    assert online["qr_valid"] is False
    scanned = await anonymous.get("/verify", params={"q": forged_token})
    assert scanned.status_code == 404 and "签名不符" in scanned.text

    # The command line: exit 0 for the real file, 1 for the tampered one, offline.
    good_file, bad_file, pem = tmp_path / "good.pdf", tmp_path / "bad.pdf", tmp_path / "key.pem"
    good_file.write_bytes(pdf)
    bad_file.write_bytes(_retampered(pdf, raise_amount))
    pem.write_text((await anonymous.get("/.well-known/registry-signing-key.pem")).text)
    assert cli_main(["certificates", "verify", str(good_file), "--public-key", str(pem)]) == 0
    assert "签名有效" in capsys.readouterr().out
    assert cli_main(["certificates", "verify", str(bad_file), "--public-key", str(pem)]) == 1
    assert "签名不符" in capsys.readouterr().out
    image = tmp_path / "page.png"  # written by qr_texts: a "scan" of the paper
    assert cli_main(["certificates", "verify", str(image), "--public-key", str(pem)]) == 0


async def test_a_changed_snapshot_in_the_database_shows_invalid(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession, as_owner: Any
) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    change = update(IssuedCertificate).where(IssuedCertificate.serial == cert["serial"]).values(period="2026-09")
    # The service's role may not change the table, and the table refuses changes even from its owner...
    with pytest.raises(DBAPIError, match="permission denied"):
        async with session.begin_nested():
            await session.execute(change)
    async with as_owner():
        with pytest.raises(DBAPIError, match="never changed"):
            async with session.begin_nested():
                await session.execute(change)
        # ...so only the owner switching the guard off can; the signature tells.
        await session.execute(text("ALTER TABLE issued_certificate DISABLE TRIGGER issued_certificate_immutable"))
        await session.execute(
            update(IssuedCertificate)
            .where(IssuedCertificate.serial == cert["serial"])
            .values(snapshot=func.replace(IssuedCertificate.snapshot, "李喆堃珺", "张三"))
        )
        await session.execute(text("ALTER TABLE issued_certificate ENABLE TRIGGER issued_certificate_immutable"))
    await session.commit()
    status = (await anonymous.get(f"/api/verify/{cert['serial']}")).json()
    assert status["status"] == "invalid" and status["signature_valid"] is False
    page = await anonymous.get(f"/verify/{cert['serial']}")
    assert "签名无效" in page.text and "可能被篡改" in page.text


async def test_revoked_and_superseded_certificates_say_so(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession
) -> None:
    first = await issue(anonymous, town.clerk, town.rare)
    second = await issue(anonymous, town.clerk, town.rare, "ce", "2025")
    # Nothing changed: no new certificate (download the same one again instead).
    path = f"/api/certificates/{first['serial']}/reissue"
    assert_problem(
        await anonymous.post(path, json={"reason": "补办纸质证明"}, headers=town.holder), 409, "certificate_unchanged"
    )
    # The name was corrected: the holder gets a certificate with the right one, superseding the old.
    await session.execute(update(Practitioner).where(Practitioner.id == town.rare).values(name="李喆堃"))
    await session.commit()
    reissued = await anonymous.post(path, json={"reason": "姓名更正"}, headers=town.holder)
    assert reissued.status_code == 201, reissued.text
    new = reissued.json()
    assert new["supersedes"] == first["serial"] and new["serial"] != first["serial"]
    old = (await anonymous.get(f"/api/verify/{first['serial']}")).json()
    assert old["status"] == "superseded" and old["superseded_by"] == new["serial"]
    assert_problem(
        await anonymous.post(
            f"/api/certificates/{first['serial']}/reissue", json={"reason": "再办"}, headers=town.clerk
        ),
        409,
        "certificate_not_current",
    )
    # Revoke: only civil-affairs staff, with a reason; the public page shows it.
    path = f"/api/certificates/{second['serial']}/revoke"
    assert_problem(await anonymous.post(path, json={"reason": "本人申请"}, headers=town.holder), 403, "forbidden")
    assert_problem(await anonymous.post(path, json={"reason": " "}, headers=town.clerk), 422, "validation_error")
    revoked = await anonymous.post(path, json={"reason": "继续教育记录经复核不实"}, headers=town.clerk)
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert_problem(await anonymous.post(path, json={"reason": "再次撤销"}, headers=town.clerk), 409, "already_revoked")
    public = (await anonymous.get(f"/api/verify/{second['serial'].lower()}")).json()  # any case
    assert public["status"] == "revoked" and public["revoked_on"] == str(clock.today())
    page = await anonymous.get(f"/verify/{second['serial']}")
    assert page.status_code == 200 and "已撤销" in page.text
    # Why is for staff: not on the public page, but on the record.
    assert "继续教育记录经复核不实" not in page.text and "继续教育记录经复核不实" not in str(public)
    staff = (await anonymous.get(f"/api/certificates/{second['serial']}", headers=town.clerk)).json()
    assert staff["revoked_reason"] == "继续教育记录经复核不实"
    actions = (
        await session.scalars(
            select(AuditEvent.action).where(AuditEvent.entity_type == "certificate").order_by(AuditEvent.id)
        )
    ).all()
    assert actions == ["issue", "issue", "reissue", "supersede", "revoke"]


async def test_unknown_and_mistyped_serials(anonymous: httpx.AsyncClient) -> None:
    assert_problem(await anonymous.get("/api/verify/SW2026-0000000000"), 404, "serial_invalid")
    body = "K7M3Q9X2H"
    from stdnum.iso7064 import mod_37_36

    serial = f"SW2026-{body}{mod_37_36.calc_check_digit('2026' + body)}"
    assert normalize_serial(serial.lower().replace("-", " ")) == serial
    # Serials never hold I, L, O or U, so those typed for 1 and 0 still find the certificate.
    drawn = [new_serial(2026) for _ in range(300)]
    assert all(set(d[7:]) <= set(SERIAL_ALPHABET) for d in drawn)
    with_digits = next(d for d in drawn if "0" in d[7:] and "1" in d[7:])
    typed = with_digits[:7] + with_digits[7:].replace("0", "o").replace("1", "l")
    assert normalize_serial(typed) == with_digits
    assert_problem(await anonymous.get(f"/api/verify/{serial}"), 404, "certificate_not_found")
    page = await anonymous.get("/verify/SW2026-0000000000")
    assert page.status_code == 404 and "校验位" in page.text


async def test_public_keys_are_published(anonymous: httpx.AsyncClient, town: Town) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    keys = (await anonymous.get("/.well-known/registry-signing-keys.json")).json()["keys"]
    current = [k for k in keys if k["current"]]
    assert len(current) == 1 and current[0]["algorithm"] == "Ed25519"
    status = (await anonymous.get(f"/api/verify/{cert['serial']}")).json()
    assert status["key_id"] == current[0]["key_id"]
    assert offline.keys_from([json.dumps({"keys": keys}).encode()])


# --- batches -------------------------------------------------------------------------------------


async def test_batch_issues_everyone_eligible_into_a_zip_and_a_merged_pdf(
    session_maker: async_sessionmaker[AsyncSession], session: AsyncSession, town: Town, tmp_path: Path
) -> None:
    actor = Actor.system("test")
    ctx = CertContext(Settings(data_dir=tmp_path, signing_key_path=Settings().key_path))
    seen: list[tuple[int, int]] = []

    def progress(b: Any) -> None:
        seen.append((b.judged, b.rendered))

    async with session_maker() as s:
        job = await batches.create_batch(s, actor, BatchCreate(region_code=JIANGAN, kind="allowance", period="2026-10"))
        await s.commit()
    done = await batches.run_batch(session_maker, actor, ctx, job.id, progress)
    assert done.status == "done", done.error
    assert (done.total, done.issued, done.reused, done.not_eligible) == (3, 2, 0, 1)
    assert seen[-1] == (3, 2) and len(seen) >= 3
    with zipfile.ZipFile(batches.batch_file(ctx, done)) as archive:
        names = sorted(archive.namelist())
        assert len([n for n in names if n.endswith(".pdf")]) == 2 and "清单.csv" in names
        manifest = archive.read("清单.csv").decode("utf-8-sig")
        assert RARE in manifest and EXT_A in manifest and "王芳" not in manifest
        one = archive.read(next(n for n in names if n.endswith(".pdf")))
        [check] = offline.check_pdf(one, current_keys())
        assert check.ok

    # The same batch as one merged PDF: the certificates already issued are reused.
    async with session_maker() as s:
        job2 = await batches.create_batch(
            s, actor, BatchCreate(region_code=JIANGAN, kind="allowance", period="2026-10", format="pdf")
        )
        await s.commit()
    merged = await batches.run_batch(session_maker, actor, ctx, job2.id)
    assert (merged.issued, merged.reused, merged.rendered) == (0, 2, 2), merged.error
    path = batches.batch_file(ctx, merged)
    info = run_tool("pdfinfo", str(path))
    assert re.search(r"^Pages:\s+2$", info, re.M), info
    text_all = "".join(run_tool("pdftotext", str(path), "-").split())
    assert RARE in text_all and EXT_A in text_all
    assert await session.scalar(select(func.count()).select_from(IssuedCertificate)) == 2
    # The merged file carries every signed snapshot: it checks offline like a single one.
    checks = offline.check_pdf(path.read_bytes(), current_keys())
    assert len(checks) == 2 and all(c.ok for c in checks), [c.problems for c in checks]


async def test_one_persons_problem_does_not_stop_the_batch(
    session_maker: async_sessionmaker[AsyncSession], session: AsyncSession, town: Town, tmp_path: Path
) -> None:
    actor = Actor.system("test")
    ctx = CertContext(Settings(data_dir=tmp_path, signing_key_path=Settings().key_path))
    async with session_maker() as s:
        first = await batches.create_batch(s, actor, BatchCreate(region_code=JIANGAN, kind="ce", period="2025"))
        await s.commit()
    assert (await batches.run_batch(session_maker, actor, ctx, first.id)).issued == 1
    # More hours verified since: the CE certificate already issued no longer says the same.
    session.add(
        CeRecordRow(
            practitioner_id=town.rare,
            activity_date=dt.date(2025, 9, 1),
            hours=Decimal(10),
            unit="小时",
            category="supervision",
            provider="武汉市社会工作协会",
            course="个案督导",
            status="verified",
        )
    )
    await session.commit()
    async with session_maker() as s:
        again = await batches.create_batch(s, actor, BatchCreate(region_code=JIANGAN, kind="ce", period="2025"))
        await s.commit()
    done = await batches.run_batch(session_maker, actor, ctx, again.id)
    assert done.status == "done", done.error
    assert (done.issued, done.reused, done.skipped) == (0, 0, 1)
    assert done.skipped_detail[0]["code"] == "certificate_outdated" and done.skipped_detail[0]["name"] == RARE
    with zipfile.ZipFile(batches.batch_file(ctx, done)) as archive:
        manifest = archive.read("清单.csv").decode("utf-8-sig")
    assert f",{RARE},,继续教育达标证明,2025,,未出具：" in manifest


async def test_qr_codes_still_verify_after_the_key_is_rotated(
    anonymous: httpx.AsyncClient, town: Town, tmp_path: Path
) -> None:
    old = await issue(anonymous, town.clerk, town.rare)
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    # A new key from now on (the old one stays published, in the database).
    app.state.certificates = CertContext(Settings(signing_key_path=tmp_path / "new-key.pem"))
    new = await issue(anonymous, town.clerk, town.ext_a)
    keys_json = (await anonymous.get("/.well-known/registry-signing-keys.json")).content
    keys = offline.keys_from([keys_json])
    assert len(keys) == 2
    for cert in (old, new):
        pdf = await download(anonymous, town.clerk, cert["serial"])
        [check] = offline.check_pdf(pdf, keys)
        assert check.ok, check.problems
        [url] = qr_texts(pdf, tmp_path)
        assert offline.check_payload(url, keys).ok
        status = (await anonymous.get(f"/api/verify/{cert['serial']}", params={"q": url})).json()
        assert status["status"] == "valid" and status["qr_valid"] is True
    assert old["serial"] != new["serial"]


async def test_offline_check_compares_the_printed_text_with_the_signed_content(
    anonymous: httpx.AsyncClient, town: Town
) -> None:
    # A genuine signed attachment moved into another person's PDF: the signature holds, the
    # paper does not say what it signs.
    a = await issue(anonymous, town.clerk, town.rare)
    b = await issue(anonymous, town.clerk, town.ext_a)
    pdf_a = await download(anonymous, town.clerk, a["serial"])
    pdf_b = await download(anonymous, town.clerk, b["serial"])
    [from_a] = PdfReader(io.BytesIO(pdf_a)).attachments[render.ATTACHMENT]
    swapped = _retampered(pdf_b, lambda _: json.loads(from_a))
    [check] = offline.check_pdf(swapped, current_keys())
    assert not check.ok
    assert any(RARE in p and "纸面上找不到" in p for p in check.problems), check.problems


async def test_batch_api_runs_as_a_job_with_progress(anonymous: httpx.AsyncClient, town: Town) -> None:
    response = await anonymous.post(
        "/api/certificate-batches",
        json={"region_code": JIANGAN, "kind": "registration", "period": "2026-11-01", "format": "zip"},
        headers=town.clerk,
    )
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["status"] == "queued"
    queued = (await anonymous.get(f"/api/certificate-batches/{job['id']}", headers=town.clerk)).json()
    assert queued["status"] == "queued" and queued["progress"] == 0.0
    assert_problem(
        await anonymous.get(f"/api/certificate-batches/{job['id']}/download", headers=town.clerk),
        409,
        "batch_not_ready",
    )
    # The server's worker runs queued jobs; here the test runs it (the test has one connection).
    app: Any = anonymous._transport.app  # type: ignore[attr-defined]
    assert await app.state.batch_worker.drain() == 1
    polled = (await anonymous.get(f"/api/certificate-batches/{job['id']}", headers=town.clerk)).json()
    assert polled["status"] == "done" and polled["progress"] == 1.0, polled
    assert polled["issued"] == 2 and polled["not_eligible"] == 1
    file = await anonymous.get(polled["download_url"], headers=town.clerk)
    assert file.status_code == 200 and file.headers["content-type"] == "application/zip"
    assert len(zipfile.ZipFile(io.BytesIO(file.content)).namelist()) == 3
    # Out of scope: another region's clerk neither sees the job nor may start one here.
    assert_problem(
        await anonymous.get(f"/api/certificate-batches/{job['id']}", headers=town.outsider), 404, "batch_not_found"
    )
    refused = await anonymous.post(
        "/api/certificate-batches", json={"region_code": JIANGAN, "kind": "ce", "period": "2025"}, headers=town.payroll
    )
    assert_problem(refused, 403, "forbidden")


def test_chinese_dates() -> None:
    assert render.chinese_date(dt.date(2026, 11, 22)) == "二〇二六年十一月二十二日"
    assert render.chinese_date(dt.date(2030, 1, 10)) == "二〇三〇年一月十日"
    assert render.chinese_date(dt.date(2025, 10, 30)) == "二〇二五年十月三十日"
