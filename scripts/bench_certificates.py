"""Certificate rendering: the project's paths beside bare WeasyPrint on the same HTML, same run.

    .venv/bin/python scripts/bench_certificates.py [--count 200] [--workers N]

No database is needed: the certificates are signed snapshots made up here (names include
characters outside GB 2312), signed with a throw-away key. Rows:

- bare, separate documents: ``HTML(string=...).write_pdf()`` per certificate, one process;
- bare, one document: all certificates in one ``write_pdf()`` (font subsetting paid once);
- project, one download: ``render.render_one`` per certificate (what a holder's download costs:
  the same page plus the QR code made from the payload, the signed attachment, fixed metadata;
  the style sheet and font configuration are reused, as in the service's render workers),
  alternating with the bare row certificate by certificate;
- project, batch ZIP / merged PDF: ``registry.certificates.batch``'s way, in the worker pool.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import io
import json
import os
import platform
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from registry.certificates import content, pool, render
from registry.certificates.batch import RENDER_CHUNK, chunk_size
from registry.certificates.service import core_snapshot
from registry.certificates.signing import Signer, canonical, short_token
from registry.rules.catalogue import shipped_rules
from registry.rules.model import Cert, Facts, RuleBook, Spell

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = ["喆", "堃", "珺", "明", "芳", "伟", "秀英", "晓燕", "建国", "子涵", "昊天", "婧", "琪"]


def snapshots(count: int, signer: Signer) -> list[tuple[str, str, str]]:
    """Allowance certificates as ``service.issue_for`` builds them: the shipped catalogue, the
    real evaluator and ``core_snapshot``; only the people are made up."""
    book = RuleBook(shipped_rules())
    issuer = {"name": "武汉市江岸区民政局", "region_code": "420102"}
    issued = dt.datetime(2026, 11, 22, 9, 30, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    items = []
    for i in range(count):
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[i % len(GIVEN)] + GIVEN[(i * 7) % len(GIVEN)][:1]
        level = ("assistant", "intermediate", "senior")[i % 3]
        facts = Facts(
            practitioner_id=i + 1,
            birth_date=dt.date(1988, 1, 1),
            education="bachelor",
            region_code="420102",
            spells=(Spell(7, "420102", "community_worker", None, dt.date(2015, 1, 1), None),),
            certs=(Cert(i + 1, level, f"HB{i:08d}", "verified", dt.date(2025, 1, 1), dt.date(2027, 12, 31)),),
        )
        c = content.allowance(facts, book, 2026, 10, {7: "江岸区某某街道某某社区居民委员会"}, issued.date())
        person = SimpleNamespace(id=i + 1, name=name, id_number=f"42010219880101{i % 1000:03d}8")
        serial = f"SW2026-B{i:08d}X"
        snap = core_snapshot("allowance", "2026-10", person, issuer, c) | {
            "serial": serial,
            "issued_at": issued.isoformat(),
            "valid_until": str(c.valid_until),
            "supersedes": None,
            "key_id": signer.key_id,
            "verify_url": f"https://registry.example.gov.cn/verify/{serial}",
        }
        text = canonical(snap)
        token = short_token(signer, serial, str(c.valid_until))
        items.append((text, signer.sign(text), token))
    return items


def timed(fn: Any, *args: Any) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn(*args)
    return time.perf_counter() - start, result


async def pooled(fn: Any, chunks: list[Any]) -> list[Any]:
    loop = asyncio.get_running_loop()
    return list(await asyncio.gather(*(loop.run_in_executor(pool.pool(), fn, c) for c in chunks)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--count", type=int, default=200)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    from weasyprint import HTML

    signer = Signer(Ed25519PrivateKey.generate())
    items = snapshots(args.count, signer)
    htmls = [render.html_for([(s, token)]) for s, _, token in items]
    one_html = render.html_for([(s, token) for s, _, token in items])
    n = len(items)
    # Warm-up: fonts, imports, caches.
    HTML(string=htmls[0]).write_pdf()
    render.render_one(*items[0])
    pool.pool(args.workers)
    asyncio.run(pool.warm_up())

    t_qr, _ = timed(lambda: [render.qr_png(json.loads(s), t) for s, _, t in items])
    # Bare and project downloads alternate, certificate by certificate, so that a machine whose
    # load changes during the run slows both alike; CPU time of this process is kept beside the
    # wall-clock time (on a shared machine it is the steadier comparison).
    t_bare_sep = t_one = cpu_bare = cpu_one = 0.0
    pdfs = []
    for html, item in zip(htmls, items, strict=True):
        c0, w0 = time.process_time(), time.perf_counter()
        HTML(string=html).write_pdf()
        c1, w1 = time.process_time(), time.perf_counter()
        pdfs.append(render.render_one(*item))
        c2, w2 = time.process_time(), time.perf_counter()
        t_bare_sep, cpu_bare = t_bare_sep + w1 - w0, cpu_bare + c1 - c0
        t_one, cpu_one = t_one + w2 - w1, cpu_one + c2 - c1
    t_bare_one, bare_one = timed(lambda: HTML(string=one_html).write_pdf())

    def batch_zip() -> None:
        size = chunk_size(n, args.workers, RENDER_CHUNK["zip"])
        chunks = [items[i : i + size] for i in range(0, n, size)]
        results = asyncio.run(pooled(render.render_separately, chunks))
        import zipfile

        with zipfile.ZipFile(io.BytesIO(), "w") as archive:
            for chunk, datas in zip(chunks, results, strict=True):
                for (snapshot, _, _), data in zip(chunk, datas, strict=True):
                    archive.writestr(json.loads(snapshot)["serial"] + ".pdf", data)

    def batch_pdf() -> None:
        from pypdf import PdfWriter

        size = chunk_size(n, args.workers, RENDER_CHUNK["pdf"])
        chunks = [items[i : i + size] for i in range(0, n, size)]
        parts = asyncio.run(pooled(render.render_together, chunks))
        start = time.perf_counter()
        writer = PdfWriter()
        for data in parts:
            writer.append(io.BytesIO(data))
        writer.write(io.BytesIO())
        merge_seconds.append(time.perf_counter() - start)

    merge_seconds: list[float] = []
    t_zip, _ = timed(batch_zip)
    t_pdf, _ = timed(batch_pdf)
    pool.shutdown()

    def rate(seconds: float) -> float:
        return n / seconds

    rows = [
        ("bare WeasyPrint, separate documents (1 process)", rate(t_bare_sep), None),
        ("bare WeasyPrint, one document (1 process)", rate(t_bare_one), None),
        ("project: one download each (render_one, 1 process)", rate(t_one), rate(t_bare_sep)),
        (f"project: batch ZIP of separate PDFs ({args.workers} workers)", rate(t_zip), rate(t_bare_one)),
        (f"project: batch merged PDF ({args.workers} workers)", rate(t_pdf), rate(t_bare_one)),
    ]
    print(f"# certificate rendering, {n} certificates, {dt.date.today()}, {platform.node()}")
    print(
        f"# {os.cpu_count()} cores, Python {platform.python_version()}, WeasyPrint {__import__('weasyprint').__version__}"
    )
    print(f"# fonts: {', '.join(render._font_files())}")
    print(f"{'path':62} {'cert/s':>8} {'ms/cert':>8} {'vs bare':>8}")
    for label, r, bare in rows:
        ratio = f"{r / bare:7.2f}x" if bare else "   (bare)"
        print(f"{label:62} {r:8.1f} {1000 / r:8.1f} {ratio}")
    print(
        f"CPU time of this process, one download: project {1000 * cpu_one / n:.1f} ms, bare {1000 * cpu_bare / n:.1f} ms"
        f" ({cpu_bare / cpu_one:.2f}x)"
    )
    print(
        f"QR code (segno + PNG) alone: {1000 * t_qr / n:.1f} ms each; merging the parts with pypdf: {1000 * merge_seconds[0] / n:.1f} ms each"
    )
    print(
        f"sizes: one download {sum(map(len, pdfs)) / n / 1024:.0f} KiB each; bare one document {len(bare_one) / n / 1024:.0f} KiB per page"
    )


if __name__ == "__main__":
    main()
