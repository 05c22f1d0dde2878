"""Checking a certificate with no network and no database: the PDF's embedded signed snapshot,
or the payload of its QR code (as scanned text, or read from a photo or scan of the paper),
against the issuer's public keys.

What offline checking cannot know is whether the certificate was revoked or superseded later:
the result says so, and gives the address where that is answered.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from registry.certificates.render import ATTACHMENT
from registry.certificates.signing import PayloadError, decode_payload, key_id, payload_matches, signature_ok


@dataclass
class Check:
    ok: bool
    problems: list[str] = field(default_factory=list)
    serial: str | None = None
    summary: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        head = f"证明 {self.serial or '（未知编号）'}：" + ("签名有效" if self.ok else "核验不通过")
        body = [f"  {k}：{v}" for k, v in self.summary.items()]
        return [head, *body, *(f"  问题：{p}" for p in self.problems)]


def keys_from(pems: list[bytes]) -> dict[str, Ed25519PublicKey]:
    from registry.certificates.signing import load_public_pem

    keys = {}
    for pem in pems:
        text = pem.decode()
        if text.lstrip().startswith("{"):  # the /.well-known JSON list of keys
            for entry in json.loads(text)["keys"]:
                key = load_public_pem(entry["public_key_pem"])
                keys[key_id(key)] = key
        else:
            key = load_public_pem(pem)
            keys[key_id(key)] = key
    return keys


def _squeeze(text: str) -> str:
    return "".join(text.split())


def check_paper(snapshot: dict[str, Any], page_text: str) -> list[str]:
    """What the signed snapshot says that the printed pages do not: a PDF whose visible text was
    edited (an amount, a name) keeps its genuine attachment, so the text is compared too."""
    printed = _squeeze(page_text)
    wanted = [snapshot.get("serial", ""), snapshot.get("holder", {}).get("name", "")]
    wanted += [str(value) for _, value in snapshot.get("facts", [])]
    missing = [w for w in wanted if w and _squeeze(w) not in printed]
    return [f"纸面上找不到签名内容中的“{w}”：PDF 的文字被改动过，以签名内容为准。" for w in missing]


def check_snapshot(snapshot: str, signature: str, keys: dict[str, Ed25519PublicKey], payload: str | None) -> Check:
    try:
        snap = json.loads(snapshot)
    except ValueError:
        return Check(False, ["嵌入的证明内容不是有效的 JSON（已损坏或被改动）。"])
    check = Check(True, serial=snap.get("serial"))
    key = keys.get(str(snap.get("key_id")))
    if key is None:
        check.ok = False
        check.problems.append(f"没有密钥 {snap.get('key_id')} 的公钥。")
    elif not signature_ok(key, snapshot, signature):
        check.ok = False
        check.problems.append("签名不符：证明内容被改动，或不是人才库签发的。")
    if payload:
        try:
            compact = decode_payload(payload, keys)
            if not payload_matches(compact, str(snap.get("serial")), snapshot, str(snap.get("valid_until"))):
                check.ok = False
                check.problems.append("二维码与证明内容不一致。")
        except PayloadError as exc:
            check.ok = False
            check.problems.append(f"二维码：{exc}")
    holder = snap.get("holder", {})
    check.summary = {
        "种类": snap.get("kind_label"),
        "持证人": f"{holder.get('name')}（{holder.get('id_masked')}）",
        "内容": snap.get("headline"),
        "结论": snap.get("decision", {}).get("summary"),
        "出具机关": snap.get("issuer", {}).get("name"),
        "出具时间": snap.get("issued_at"),
        "有效期至": snap.get("valid_until"),
        "是否已撤销": f"离线无法得知，请访问 {snap.get('verify_url')}",
    }
    return check


def check_pdf(data: bytes, keys: dict[str, Ed25519PublicKey]) -> list[Check]:
    from pypdf import PdfReader

    try:
        reader = PdfReader(io.BytesIO(data))
        attachments = reader.attachments
        page_text = "\n".join(page.extract_text() or "" for page in reader.pages)
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        return [Check(False, [f"无法读取 PDF：{exc}"])]
    checks = []
    for name, contents in attachments.items():
        if not (name == ATTACHMENT or name.endswith(".json")):
            continue
        for blob in contents:
            try:
                embedded = json.loads(blob)
                snapshot, signature = embedded["snapshot"], embedded["signature"]
            except (ValueError, KeyError, TypeError):
                checks.append(Check(False, [f"附件 {name} 已损坏。"]))
                continue
            check = check_snapshot(snapshot, signature, keys, embedded.get("payload"))
            if check.ok:
                problems = check_paper(json.loads(snapshot), page_text)
                check.ok = not problems
                check.problems += problems
            checks.append(check)
    return checks or [Check(False, ["PDF 中没有人才库签名的证明内容（不是人才库出具的 PDF，或已被重新生成）。"])]


def check_payload(text: str, keys: dict[str, Ed25519PublicKey]) -> Check:
    try:
        compact = decode_payload(text, keys)
    except PayloadError as exc:
        return Check(False, [str(exc)])
    if compact.get("v") == "2":
        return Check(
            True,
            serial=compact.get("s"),
            summary={
                "签发": f"人才库（密钥 {compact.get('kid')}）签发的证明编号",
                "有效期至": compact.get("u"),
                "内容": "二维码只含编号和有效期；纸面内容请在线核验或以 PDF 核对",
                "是否已撤销": "离线无法得知，请在线核验",
            },
        )
    return Check(
        True,
        serial=compact.get("s"),
        summary={
            "种类": compact.get("k"),
            "持证人": compact.get("n"),
            "期间": compact.get("p"),
            "内容": compact.get("f"),
            "出具日期": compact.get("i"),
            "有效期至": compact.get("u"),
            "是否已撤销": "离线无法得知，请在线核验",
        },
    )


def read_qr_image(path: Path) -> list[str]:
    """QR texts found in a photo or scan (needs the optional zxing-cpp package)."""
    import zxingcpp
    from PIL import Image

    with Image.open(path) as image:
        return [r.text for r in zxingcpp.read_barcodes(image) if r.text]


def check_target(target: str, keys: dict[str, Ed25519PublicKey]) -> list[Check]:
    path = Path(target)
    if path.is_file():
        data = path.read_bytes()
        if data.startswith(b"%PDF"):
            return check_pdf(data, keys)
        if path.suffix.lower() in (".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"):
            texts = read_qr_image(path)
            return [check_payload(t, keys) for t in texts] or [Check(False, ["图片中没有找到二维码。"])]
        return [check_payload(data.decode("utf-8", "replace"), keys)]
    return [check_payload(target, keys)]
