"""Hostile uploads against the running service, measured: the service's peak memory and the
size of the status answer.

    REGISTRY_EMBEDDED_PG_PORT=... .venv/bin/python scripts/measure_upload_memory.py [--rows 600000]

Starts the embedded PostgreSQL (or uses REGISTRY_TEST_ADMIN_URL), makes a fresh database, runs
the service in its own process, logs in a county clerk with an API token, then uploads

1. a CSV of ``--rows`` rows, every one of them wrong (9.6 MB at 600,000 rows), and
2. a 0.5 MB XLSX whose one sheet unpacks to about 450 MB (one cell repeated),

waits for each check to end and prints the service's peak resident memory (VmHWM from /proc)
after each, the problem count, the problems stored and the size of ``GET /api/imports/{id}``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import socket
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.conftest import TestDatabases


def bad_csv(rows: int) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["姓名", "公民身份号码", "学历", "手机号码", "户籍地区划代码"])
    for n in range(rows):
        writer.writerow([f"某{n}", f"X{n:012d}", "博士后", "1", "9"])
    return ("\ufeff" + out.getvalue()).encode()


def bomb_xlsx(target_bytes: int) -> bytes:
    """A valid workbook whose sheet XML is ``target_bytes`` of identical rows (deflates ~1000:1)."""
    row = '<row><c t="inlineStr"><is><t>{}</t></is></c></row>'.format("无" * 40)
    repeat = target_bytes // len(row.encode())
    files = {
        "[Content_Types].xml": '<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>',
        "_rels/.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>',
        "xl/workbook.xml": '<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="人员" sheetId="1" r:id="rId1"/></sheets></workbook>',
        "xl/_rels/workbook.xml.rels": '<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/></Relationships>',
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
        with archive.open("xl/worksheets/sheet1.xml", "w") as sheet:
            sheet.write(
                b'<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><sheetData>'
            )
            chunk = (row * 1000).encode()
            for _ in range(repeat // 1000):
                sheet.write(chunk)
            sheet.write(b"</sheetData></worksheet>")
    return buffer.getvalue()


def peak_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def _token(url: str) -> str:
    from registry.db import create_engine, create_session_maker
    from tests.accounts import make_token, make_user

    engine = create_engine(url, pool_size=1)
    try:
        async with create_session_maker(engine)() as session, session.begin():
            user = await make_user(session, "measure-clerk", {"role": "civil_affairs", "region_code": "420102"})
            return await make_token(session, user)
    finally:
        await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=600_000)
    parser.add_argument("--xlsx-mb", type=int, default=450)
    args = parser.parse_args()

    databases = TestDatabases()
    url = databases.fresh("registry_measure")
    from registry.cli import migrate

    migrate(url)
    token = asyncio.run(_token(url))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = int(s.getsockname()[1])
    data_dir = Path(tempfile.mkdtemp(prefix="measure-"))
    server = (
        "import uvicorn\n"
        "from registry.app import create_app\n"
        "from registry.config import Settings\n"
        f"settings = Settings(port={port}, data_dir={str(data_dir)!r})\n"
        f"uvicorn.run(create_app(settings, database_url={url!r}), host='127.0.0.1', port={port}, log_level='warning')\n"
    )
    process = subprocess.Popen([sys.executable, "-c", server], env={**os.environ})
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(150):
            try:
                httpx.get(f"{base}/health", timeout=1)
                break
            except httpx.HTTPError:
                time.sleep(0.2)
        print(f"service started: {rss_mib(process.pid):.0f} MiB resident")
        uploads = [
            (f"bad-{args.rows}.csv", bad_csv(args.rows)),
            ("bomb.xlsx", bomb_xlsx(args.xlsx_mb * 2**20)),
        ]
        for name, content in uploads:
            started = time.monotonic()
            answer = httpx.post(f"{base}/api/imports", files={"file": (name, content)}, headers=headers, timeout=600)
            answer.raise_for_status()
            job_id = answer.json()["id"]
            while True:
                status = httpx.get(f"{base}/api/imports/{job_id}", headers=headers, timeout=60)
                job = status.json()
                if job["status"] in ("done", "failed"):
                    break
                time.sleep(1)
            first = job["problems"][0]["message"] if job["problems"] else job.get("error")
            print(
                f"{name}: {len(content) / 2**20:.1f} MB uploaded, {job['status']} in {time.monotonic() - started:.0f} s;"
                f" problems {job['problem_count']:,} (stored {job['problems_stored']:,});"
                f" status answer {len(status.content) / 1024:.1f} KB; service peak {peak_mib(process.pid):.0f} MiB,"
                f" now {rss_mib(process.pid):.0f} MiB; first: {first}"
            )
    finally:
        process.terminate()
        process.wait(timeout=30)
        databases.close()


if __name__ == "__main__":
    main()
