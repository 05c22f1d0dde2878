"""PDF rendering of certificates from their signed snapshots: nothing else goes onto the paper.

Everything here is a plain function of its arguments, so that it can run in worker processes
(``registry.certificates.pool``). The same snapshot always gives the same bytes: the PDF's dates
and identifier come from the snapshot, never from the clock.

Fonts: WenQuanYi Micro Hei first (its TrueType outlines subset about twice as fast as the CFF
outlines of Noto Sans CJK, and the file is a tenth of the size), Noto Sans CJK SC for what it
lacks (CJK extension A and B characters found in names, such as 䶮 or 𠮷).
"""

from __future__ import annotations

import base64
import datetime as dt
import functools
import io
import json
import subprocess
from typing import Any

import jinja2
import segno

from registry.certificates.content import KIND_LABELS
from registry.certificates.signing import SHORT_PREFIX, short_url, short_url_parts
from registry.config import REPO_ROOT
from registry.rules.plain import plain

FONTS = ("WenQuanYi Micro Hei", "Noto Sans CJK SC")
FONT_FAMILY = ", ".join(f'"{f}"' for f in FONTS) + ", sans-serif"
ATTACHMENT = "certificate.json"
__all__ = ["KIND_LABELS"]

_DIGITS = "〇一二三四五六七八九"


def chinese_date(day: dt.date) -> str:
    """2026-11-22 → 二〇二六年十一月二十二日, as official documents date themselves."""

    def number(n: int) -> str:
        if n < 10:
            return _DIGITS[n]
        tens, ones = divmod(n, 10)
        return ("" if tens == 1 else _DIGITS[tens]) + "十" + (_DIGITS[ones] if ones else "")

    year = "".join(_DIGITS[int(d)] for d in str(day.year))
    return f"{year}年{number(day.month)}月{number(day.day)}日"


@functools.cache
def _templates() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(REPO_ROOT / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters["plain"] = plain
    return env


def qr_code(snapshot: dict[str, Any], token: str) -> Any:
    """The QR code. Error correction M survives a crease or a poor scan. The mask is fixed:
    segno's search for the best of the eight costs 13 ms a code in pure Python, and any mask is
    valid for a reader (the tests decode every code they print). Certificates issued before the
    short format keep their long code (their stored payload is signed as it is)."""
    content: Any = verification_url(snapshot, token)
    if token.startswith(SHORT_PREFIX):
        content = short_url_parts(_origin(snapshot), token)
    return segno.make(content, error="m", micro=False, mask=4, boost_error=False)


# Module value 1 (dark) → black, 0 (light) → white.
_QR_LEVELS = [255] + [0] * 255


def qr_png(snapshot: dict[str, Any], token: str) -> str:
    """The QR code as a PNG data URI, one pixel per module: the page scales it to 42 mm with
    ``image-rendering: pixelated`` (the PDF image is not interpolated, so the modules stay
    sharp at any print size). WeasyPrint draws an image at no cost, where an SVG path of the
    ~2,700 numbers of a code cost about 24 ms a page to parse and draw."""
    from PIL import Image, ImageOps

    matrix = qr_code(snapshot, token).matrix
    size = len(matrix)
    image = Image.frombytes("L", (size, size), b"".join(matrix)).point(_QR_LEVELS)
    out = io.BytesIO()
    ImageOps.expand(image, border=2, fill=255).save(out, "PNG")
    return "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()


def _origin(snapshot: dict[str, Any]) -> str:
    return str(snapshot["verify_url"]).rsplit("/verify/", 1)[0]


def verification_url(snapshot: dict[str, Any], token: str) -> str:
    """The address the QR code holds: the short one, or for format 1 the page with the payload."""
    if token.startswith(SHORT_PREFIX):
        return short_url(_origin(snapshot), token)
    return f"{_origin(snapshot)}/verify?q={token}"


def html_for(items: list[tuple[str, str]], inline_style: bool = True) -> str:
    """One document holding each (snapshot text, QR payload) as its own page. With
    ``inline_style=False`` the style sheet is left out: ``_layout`` passes it parsed once."""
    pages = []
    for snapshot_text, token in items:
        snap = json.loads(snapshot_text)
        issued = dt.datetime.fromisoformat(snap["issued_at"])
        view = dict(snap, issued_on_label=chinese_date(issued.date()))
        pages.append((view, qr_png(snap, token)))
    first = pages[0][0]
    return (
        _templates()
        .get_template("certificates/certificate.html")
        .render(
            certificates=pages,
            inline_style=inline_style,
            font_family=FONT_FAMILY,
            title=first["kind_label"] + ("" if len(pages) == 1 else f"等 {len(pages)} 份"),
            author=first["issuer"]["name"],
            created=first["issued_at"],
        )
    )


def _attachment(item: tuple[str, str, str], name: str) -> Any:
    from weasyprint import Attachment

    snapshot, signature, token = item
    issued = dt.datetime.fromisoformat(json.loads(snapshot)["issued_at"])
    return Attachment(
        string=json.dumps({"snapshot": snapshot, "signature": signature, "payload": token}, ensure_ascii=False),
        name=name,
        description="签名的证明内容（可离线核验）",
        created=issued,
        modified=issued,
    )


def _metadata(snap: dict[str, Any], count: int = 1) -> Any:
    from weasyprint.document import DocumentMetadata

    return DocumentMetadata(
        title=snap["kind_label"] + ("" if count == 1 else f"等 {count} 份"),
        authors=[snap["issuer"]["name"]],
        generator="社会工作人才库",
        created=snap["issued_at"],
        modified=snap["issued_at"],
        lang="zh-CN",
    )


@functools.cache
def _fonts() -> Any:
    """One font configuration per process (rendering runs in single-threaded worker processes,
    ``registry.certificates.pool``): plain WeasyPrint makes a new one for every document, and
    with it Pango's font map and shaping caches; reusing it saves about a sixth of a page's
    CPU time."""
    from weasyprint.text.fonts import FontConfiguration

    return FontConfiguration()


@functools.cache
def _stylesheet() -> Any:
    """The certificate's style sheet, parsed once per process (plain WeasyPrint parses a
    document's ``<style>`` again for every document)."""
    from weasyprint import CSS

    text = _templates().get_template("certificates/certificate.css").render(font_family=FONT_FAMILY)
    return CSS(string=text, base_url=str(REPO_ROOT / "templates"), font_config=_fonts())


def _layout(items: list[tuple[str, str, str]]) -> Any:
    from weasyprint import HTML

    html = html_for([(s, token) for s, _, token in items], inline_style=False)
    return HTML(string=html, base_url=str(REPO_ROOT / "templates")).render(
        stylesheets=[_stylesheet()], font_config=_fonts()
    )


def _write(document: Any, items: list[tuple[str, str, str]], snaps: list[dict[str, Any]]) -> bytes:
    document.metadata = _metadata(snaps[0], len(items))
    attachments = [
        _attachment(item, ATTACHMENT if len(items) == 1 else f"{snap['serial']}.json")
        for item, snap in zip(items, snaps, strict=True)
    ]
    identifier = "|".join(snap["serial"] for snap in snaps).encode()
    return bytes(document.write_pdf(attachments=attachments, pdf_identifier=identifier))


def render_one(snapshot_text: str, signature: str, token: str) -> bytes:
    """The certificate as its holder downloads it (byte for byte the same each time)."""
    item = (snapshot_text, signature, token)
    return _write(_layout([item]), [item], [json.loads(snapshot_text)])


def render_separately(items: list[tuple[str, str, str]]) -> list[bytes]:
    """One PDF per certificate, laid out together (parsing, styles and fonts are set up once)
    and written apart: each file embeds the subset of the glyphs its own pages use."""
    document = _layout(items)
    snaps = [json.loads(s) for s, _, _ in items]
    first_page: dict[str, int] = {}
    for number, page in enumerate(document.pages):
        for anchor in page.anchors:
            first_page.setdefault(anchor, number)
    bounds = [first_page[f"c-{snap['serial']}"] for snap in snaps] + [len(document.pages)]
    return [
        _write(document.copy(document.pages[bounds[k] : bounds[k + 1]]), [item], [snap])
        for k, (item, snap) in enumerate(zip(items, snaps, strict=True))
    ]


def render_together(items: list[tuple[str, str, str]]) -> bytes:
    """Several certificates as one document: fonts are subset once for all of them."""
    return _write(_layout(items), items, [json.loads(s) for s, _, _ in items])


# --- can the fonts show every character? ------------------------------------------------------


@functools.cache
def _font_files() -> tuple[str, ...]:
    files = []
    for family in FONTS:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}\n%{family}", family], capture_output=True, text=True, check=False
        ).stdout.split("\n")
        if len(found) == 2 and family in found[1]:
            files.append(found[0])
    return tuple(files)


@functools.cache
def _covered() -> frozenset[int]:
    from fontTools.ttLib import TTCollection, TTFont

    codes: set[int] = set()
    for path in _font_files():
        fonts = TTCollection(path, lazy=True).fonts if path.endswith((".ttc", ".otc")) else [TTFont(path, lazy=True)]
        for font in fonts:
            codes.update(font.getBestCmap() or {})
    return frozenset(codes)


def fonts_installed() -> bool:
    return bool(_font_files())


def missing_characters(text: str) -> list[str]:
    """Characters of ``text`` that no certificate font can draw (they would print as boxes)."""
    covered = _covered()
    return sorted({ch for ch in text if not ch.isspace() and ord(ch) >= 0x80 and ord(ch) not in covered})
