"""The certificate's QR code survives paper: rendered at 150 dpi by poppler, degraded the way
photocopies, phone photos and scanners degrade it, decoded by two independent readers (zxing-cpp
and zbar's zbarimg), and verified offline with the published key. Certificates issued in the
long format before keep verifying, online and offline."""

from __future__ import annotations

import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import zxingcpp
from PIL import Image, ImageFilter
from pypdf import PdfReader
from sqlalchemy import select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from registry.certificates import offline, render
from registry.certificates.signing import PAYLOAD_PREFIX, Signer, compact_payload, encode_payload
from registry.cli import main as cli_main
from registry.config import Settings
from registry.identity import mask_name
from registry.models import IssuedCertificate
from tests.test_certificates import Town, build_town, current_keys, download, issue


@pytest.fixture
async def town(session: AsyncSession) -> Town:
    return await build_town(session)


def _blur(image: Image.Image) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(0.8))


def _downscale(image: Image.Image) -> Image.Image:
    return image.resize((round(image.width * 0.6), round(image.height * 0.6)), Image.Resampling.BILINEAR)


def _jpeg(image: Image.Image) -> Image.Image:
    out = io.BytesIO()
    image.convert("RGB").save(out, "JPEG", quality=40)
    return Image.open(io.BytesIO(out.getvalue()))


def _rotate(image: Image.Image) -> Image.Image:
    return image.convert("L").rotate(5, resample=Image.Resampling.BILINEAR, expand=True, fillcolor=255)


DEGRADATIONS: dict[str, Callable[[Image.Image], Image.Image]] = {
    "clean": lambda image: image,
    "blur 0.8 px": _blur,
    "downscale 60 %": _downscale,
    "JPEG q40": _jpeg,
    "rotated 5°": _rotate,
}


def raster(pdf: bytes, tmp_path: Path, dpi: int = 150) -> Image.Image:
    path = tmp_path / "c.pdf"
    path.write_bytes(pdf)
    subprocess.run(["pdftoppm", "-r", str(dpi), "-png", "-singlefile", str(path), str(tmp_path / "r")], check=True)
    with Image.open(tmp_path / "r.png") as image:
        return image.copy()


def zbar(path: Path) -> list[str]:
    run = subprocess.run(
        ["zbarimg", "--quiet", "--raw", "-Sdisable", "-Sqrcode.enable", str(path)], capture_output=True
    )
    return [line for line in run.stdout.decode().splitlines() if line]


def zxing(image: Image.Image) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(image, formats=zxingcpp.BarcodeFormat.QRCode)]


async def test_the_qr_code_survives_blur_downscaling_jpeg_and_rotation_in_both_readers(
    anonymous: httpx.AsyncClient, town: Town, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keys = current_keys()
    certs = [await issue(anonymous, town.clerk, who) for who in (town.rare, town.ext_a)]
    results: dict[tuple[str, str], list[str]] = {}
    for cert in certs:
        pdf = await download(anonymous, town.clerk, cert["serial"])
        page = raster(pdf, tmp_path)
        assert page.width in range(1230, 1245)  # A4 at 150 dpi
        for name, degrade in DEGRADATIONS.items():
            image = degrade(page)
            photo = tmp_path / f"{cert['serial']}-{len(results)}.png"
            image.save(photo)
            for reader, found in (("zxing-cpp", zxing(image)), ("zbar", zbar(photo))):
                # The certificate's code, read exactly once. A reader may also see a short
                # spurious "code" in a degraded raster (zxing-cpp once read '6342' beside it at
                # 60 %, the serial being new each run): that is no certificate and is let be.
                ours = [t for t in found if t.upper().startswith(Settings().base_url.upper() + "/V/")]
                results[(cert["serial"], f"{name} / {reader}")] = ours
                assert len(ours) == 1, f"{name}: {reader} read {found}"
                assert all(len(t) < 16 for t in found if t not in ours), f"{name}: {reader} read {found}"
                check = offline.check_payload(ours[0], keys)
                assert check.ok and check.serial == cert["serial"], (name, reader, check.problems)
                assert check.summary["有效期至"] == cert["valid_until"]
        # The command line on the worst photo: offline, from the image file alone.
        pem = tmp_path / "key.pem"
        pem.write_text(Signer.load_or_create(Settings().key_path).public_pem)
        assert cli_main(["certificates", "verify", str(photo), "--public-key", str(pem)]) == 0
        assert "签名有效" in capsys.readouterr().out
    assert len(results) == 2 * len(DEGRADATIONS) * 2
    snap = json.loads((await anonymous.get(f"/api/certificates/{certs[0]['serial']}", headers=town.clerk)).text)
    token = results[(certs[0]["serial"], "clean / zbar")][0]
    assert token.startswith(Settings().base_url.upper() + "/V/")
    stored = await _stored_payload(anonymous, town, certs[0]["serial"])
    code = render.qr_code({"verify_url": snap["verify_url"]}, stored)
    with capsys.disabled():
        print(
            f"\nQR code: version {code.version} ({code.symbol_size(border=0)[0]}×{code.symbol_size(border=0)[0]}"
            f" modules, error correction {code.error}), {len(token)} characters; decoded by zxing-cpp and zbar"
            f" from: {', '.join(DEGRADATIONS)}"
        )
    assert code.version <= 7  # was 13 in the long format


async def _stored_payload(anonymous: httpx.AsyncClient, town: Town, serial: str) -> str:
    pdf = await download(anonymous, town.clerk, serial)
    [blob] = PdfReader(io.BytesIO(pdf)).attachments[render.ATTACHMENT]
    return str(json.loads(blob)["payload"])


async def test_a_certificate_issued_with_the_long_code_still_verifies(
    anonymous: httpx.AsyncClient, town: Town, session: AsyncSession, tmp_path: Path, as_owner: Any
) -> None:
    cert = await issue(anonymous, town.clerk, town.rare)
    row = (await session.scalars(select(IssuedCertificate).where(IssuedCertificate.serial == cert["serial"]))).one()
    snap = json.loads(row.snapshot)
    signer = Signer.load_or_create(Settings().key_path)
    old = encode_payload(signer, compact_payload(snap, row.snapshot, mask_name(snap["holder"]["name"])))
    assert old.startswith(PAYLOAD_PREFIX)
    # What a certificate issued before the short code holds (the table refuses changes; this is
    # the state such a row was written in).
    async with as_owner():
        await session.execute(text("ALTER TABLE issued_certificate DISABLE TRIGGER issued_certificate_immutable"))
        await session.execute(
            update(IssuedCertificate).where(IssuedCertificate.serial == cert["serial"]).values(qr_payload=old)
        )
        await session.execute(text("ALTER TABLE issued_certificate ENABLE TRIGGER issued_certificate_immutable"))
    await session.commit()
    pdf = await download(anonymous, town.clerk, cert["serial"])
    [url] = zxing(raster(pdf, tmp_path))
    assert "/verify?q=" + PAYLOAD_PREFIX in url
    keys = current_keys()
    assert offline.check_payload(url, keys).ok
    [check] = offline.check_pdf(pdf, keys)
    assert check.ok, check.problems
    status = (await anonymous.get(f"/api/verify/{cert['serial']}", params={"q": url.split("q=")[1]})).json()
    assert status["status"] == "valid" and status["qr_valid"] is True
    # The short code of another certificate does not pass for this one.
    other = await issue(anonymous, town.clerk, town.ext_a)
    other_url = await _stored_payload(anonymous, town, other["serial"])
    status = (await anonymous.get(f"/api/verify/{cert['serial']}", params={"q": other_url})).json()
    assert status["qr_valid"] is False
