"""The ``registry`` command."""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.bounds import digits
from registry.config import Settings
from registry.db import DatabaseUrls, create_engine, create_session_maker, database_urls


def _run_in_session(url: str, work: Callable[[AsyncSession], Awaitable[Any]]) -> Any:
    async def runner() -> Any:
        engine = create_engine(url, pool_size=2)
        try:
            async with create_session_maker(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(runner())


def migrate(url: str) -> None:
    """Schema to head, then the region table (an upsert, so every start may run it)."""
    from registry import migrate as mig
    from registry.regions.service import load_regions
    from registry.rules.service import load_catalogue

    mig.upgrade(url)
    _run_in_session(url, load_regions)
    _run_in_session(url, load_catalogue)


def seed_demo(url: str, practitioners: int, seed: int, *, only_if_empty: bool) -> str:
    from registry import clock
    from registry.demo import practitioner_count, seed_demo_accounts, user_count
    from registry.demo import seed_demo as seed_fn

    async def work(session: AsyncSession) -> str:
        if only_if_empty and await practitioner_count(session) > 0:
            if await user_count(session) == 0:
                # Data from before accounts existed: give it the demo logins.
                await seed_demo_accounts(session, today=clock.today())
                return "演示数据已存在，已补建演示账户。"
            return "演示数据已存在，跳过。"
        started = time.perf_counter()
        summary = await seed_fn(session, practitioners=practitioners, seed=seed)
        return (
            f"已生成演示数据：{summary.practitioners} 名社工、{summary.organizations} 家单位、"
            f"{summary.certifications} 张证书、{summary.employments} 条在岗记录"
            f"（{time.perf_counter() - started:.1f} 秒）。"
        )

    return str(_run_in_session(url, work))


def _parse_grant(text: str) -> dict[str, Any]:
    """``admin``, ``civil_affairs:420102``, ``payroll_clerk:4201``, ``org_hr:12``, ``practitioner:345``."""
    role, _, scope = text.partition(":")
    grant: dict[str, Any] = {"role": role}
    if role in ("civil_affairs", "payroll_clerk"):
        grant["region_code"] = scope.ljust(6, "0") if scope else None
    elif role == "org_hr":
        grant["organization_id"] = int(scope) if digits(scope) else None
    elif role == "practitioner":
        grant["practitioner_id"] = int(scope) if digits(scope) else None
    return grant


def users_command(url: str, args: argparse.Namespace) -> int:
    import getpass
    import os

    from registry.accounts import service
    from registry.accounts.actor import Actor
    from registry.accounts.schemas import GrantCreate, TokenCreate, UserCreate, UserUpdate
    from registry.errors import RegistryError

    actor = Actor.system(f"cli:{os.environ.get('USER') or getpass.getuser()}")
    try:
        if args.action == "create":
            if args.password_stdin:
                password = sys.stdin.readline().rstrip("\n")
            else:
                password = getpass.getpass("密码 password: ")
                if getpass.getpass("再次输入 again: ") != password:
                    print("两次输入的密码不一致。", file=sys.stderr)
                    return 2
            data = UserCreate(
                username=args.username,
                display_name=args.name or args.username,
                password=password,
                grants=[GrantCreate(**_parse_grant(g)) for g in args.role or []],
            )

            async def create(session: AsyncSession) -> str:
                user = await service.create_user(session, actor, data)
                return f"已创建用户 {user.username}（id {user.id}）。"

            print(_run_in_session(url, create))
        elif args.action == "token":

            async def token(session: AsyncSession) -> str:
                user = await service.user_by_username(session, args.username)
                _, plain = await service.create_token(session, actor, user.id, TokenCreate(name=args.token_name))
                return plain

            print(_run_in_session(url, token))
        elif args.action == "unlock":

            async def unlock(session: AsyncSession) -> str:
                user = await service.user_by_username(session, args.username)
                await service.update_user(session, actor, user.id, UserUpdate(), unlock=True)
                return f"已解除 {user.username} 的登录锁定。"

            print(_run_in_session(url, unlock))
    except RegistryError as exc:
        print(f"错误 [{exc.code}]：{exc.message}", file=sys.stderr)
        for err in exc.errors[1:]:
            print(f"  {err.field}: {err.message}", file=sys.stderr)
        return 1
    return 0


def payroll_command(url: str, args: argparse.Namespace) -> int:
    """The same service calls as the API, acting as a named user (separation of duties holds)."""
    from registry.accounts.service import actor_for_user, user_by_username
    from registry.db import create_session_maker
    from registry.errors import RegistryError
    from registry.models import PayrollRun
    from registry.payroll import export, service
    from registry.payroll.schemas import RunCreate

    async def as_user(session: AsyncSession) -> Any:
        if not args.user:
            raise RegistryError("请用 --user 指定以哪个账户的身份操作。", code="user_required")
        user = await user_by_username(session, args.user)
        return await actor_for_user(session, user.id, request_id="cli", client_ip=None)

    broken = False

    async def work(session: AsyncSession) -> str:
        nonlocal broken
        if args.action == "verify-chain":
            from registry.accounts.actor import Actor

            result = await service.verify_chain(session, Actor.system("cli"), args.target)
            broken = not result.ok
            return (
                "哈希链完整" if result.ok else f"哈希链断裂：{result.problem}"
            ) + f"（已检查 {result.runs_checked} 个批次）"
        actor = await as_user(session)
        if args.action == "run":
            run = await service.create_run(session, actor, RunCreate(region_code=args.target, month=args.month))
            return f"批次 {run.id}：{run.line_count} 人，合计 {run.total_amount} 元（草稿）。"
        run_id = int(args.target)
        if args.action in ("submit", "approve", "close"):
            run = await getattr(service, args.action)(session, actor, run_id)
            return f"批次 {run.id} 状态：{run.status}" + (f"，哈希 {run.content_hash}" if run.content_hash else "")
        if args.action == "export":
            run = await service.prepare_export(
                session, actor, run_id, args.format, full_ids=args.full_ids, reason=args.reason
            )
            if (
                args.format == "csv"
                and args.encoding == "gbk"
                and (problems := await export.gbk_problems(session, run.id))
            ):
                raise export.gbk_refusal(problems)
            return f"__export__{run.id}"
        raise RegistryError(f"未知操作 {args.action}")

    try:
        message = str(_run_in_session(url, work))
    except RegistryError as exc:
        print(f"错误 [{exc.code}]：{exc.message}", file=sys.stderr)
        return 1
    if not message.startswith("__export__"):
        print(message)
        return 1 if broken else 0
    run_id = int(message.removeprefix("__export__"))

    async def write() -> str:
        engine = create_engine(url, pool_size=2)
        maker = create_session_maker(engine)
        try:
            out_path = str(args.out)
            if args.format == "csv":
                # A command-line tool writing its one output file: blocking writes are fine here.
                with open(out_path, "wb") as out:  # noqa: ASYNC230
                    async for chunk in export.csv_chunks(maker, run_id, full_ids=args.full_ids, encoding=args.encoding):
                        out.write(chunk)
                return out_path
            async with maker() as session:
                run = await session.get(PayrollRun, run_id)
                assert run is not None
                info = await export.sheet_info(session, run, full_ids=args.full_ids)
            path = await export.write_xlsx(maker, run_id, info, full_ids=args.full_ids)
            shutil.move(path, out_path)
            return out_path
        finally:
            await engine.dispose()

    print(f"已导出 {asyncio.run(write())}")
    return 0


def certificates_verify(settings: Settings, args: argparse.Namespace) -> int:
    """Offline: no database, no network; the keys from files, else the local issuer key."""
    from pathlib import Path

    from registry.certificates import offline
    from registry.certificates.signing import Signer

    pems = [Path(p).read_bytes() for p in args.public_key or []]
    if not pems:
        if not settings.key_path.exists():
            print(
                "请用 --public-key 指定公钥文件（可从 /.well-known/registry-signing-keys.json 下载）。", file=sys.stderr
            )
            return 2
        pems = [Signer.load_or_create(settings.key_path).public_pem.encode()]
    try:
        checks = offline.check_target(args.target, offline.keys_from(pems))
    except ImportError:
        print("读取图片中的二维码需要 zxing-cpp：pip install zxing-cpp", file=sys.stderr)
        return 2
    for check in checks:
        print("\n".join(check.lines()))
    return 0 if all(c.ok for c in checks) else 1


def certificates_batch(settings: Settings, url: str, args: argparse.Namespace) -> int:
    """The same job as the API's batch, with a progress bar; the file is copied to --out."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from registry.accounts.service import actor_for_user, user_by_username
    from registry.certificates import batch as batches
    from registry.certificates.schemas import BatchCreate
    from registry.certificates.service import CertContext
    from registry.errors import RegistryError
    from registry.jobs import heartbeat
    from registry.models import CertificateBatch

    ctx = CertContext(settings)

    async def go() -> CertificateBatch:
        engine = create_engine(url, pool_size=2)
        maker = create_session_maker(engine)
        try:
            async with maker() as session, session.begin():
                if not args.user:
                    raise RegistryError("请用 --user 指定以哪个账户的身份操作。", code="user_required")
                user = await user_by_username(session, args.user)
                actor = await actor_for_user(session, user.id, request_id="cli", client_ip=None)
                job = await batches.create_batch(
                    session,
                    actor,
                    BatchCreate(region_code=args.region, kind=args.kind, period=args.period, format=args.format),
                    run_here=True,
                )
            with Progress(
                TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()
            ) as bar:
                judging = bar.add_task("判定 judging", total=None)
                rendering = bar.add_task("生成 PDF rendering", total=None)

                def show(b: CertificateBatch) -> None:
                    bar.update(judging, total=b.total or None, completed=b.judged)
                    bar.update(rendering, total=(b.issued + b.reused) or None, completed=b.rendered)

                async with heartbeat(maker, CertificateBatch, job.id, settings.job_heartbeat_seconds):
                    return await batches.run_batch(maker, actor, ctx, job.id, show)
        finally:
            await engine.dispose()

    try:
        job = asyncio.run(go())
    except RegistryError as exc:
        print(f"错误 [{exc.code}]：{exc.message}", file=sys.stderr)
        return 1
    if job.status != "done":
        print(f"任务 {job.id} 失败：{job.error}", file=sys.stderr)
        return 1
    path = batches.batch_dir(ctx) / str(job.file_name)
    if args.out:
        shutil.copyfile(path, args.out)
        path = args.out
    print(
        f"任务 {job.id}：{job.total} 人中新出具 {job.issued} 份、沿用 {job.reused} 份、不符合条件 {job.not_eligible} 人；"
        f"文件 {path}"
    )
    return 0


def import_command(settings: Settings, url: str, args: argparse.Namespace) -> int:
    """The same jobs as the API's imports (a dry run, then with --commit the commit), with a
    progress bar; every problem is printed with its sheet, row and column."""
    from pathlib import Path

    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from registry.accounts.service import actor_for_user, user_by_username
    from registry.errors import RegistryError
    from registry.imports import service
    from registry.jobs import heartbeat
    from registry.models import ImportJob

    console = Console(stderr=True)
    path = Path(args.file)
    if not path.is_file():
        print(f"错误：找不到文件 {path}", file=sys.stderr)
        return 2
    labels = {"reading": "读取 reading", "checking": "检查 checking", "writing": "写入 writing"}
    content = path.read_bytes()

    async def go() -> tuple[ImportJob, ImportJob | None]:
        engine = create_engine(url, pool_size=2)
        maker = create_session_maker(engine)
        try:
            async with maker() as session, session.begin():
                if not args.user:
                    raise RegistryError("请用 --user 指定以哪个账户的身份操作。", code="user_required")
                user = await user_by_username(session, args.user)
                actor = await actor_for_user(session, user.id, request_id="cli-import", client_ip=None)
                job = await service.create_import(session, actor, settings, path.name, content, run_here=True)
            with Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=console,
            ) as bar:
                task = bar.add_task("排队 queued", total=None)

                def show(j: ImportJob) -> None:
                    bar.update(
                        task,
                        description=labels.get(j.stage or "", j.stage or ""),
                        total=j.total_rows or None,
                        completed=j.processed_rows,
                    )

                async with heartbeat(maker, ImportJob, job.id, settings.job_heartbeat_seconds):
                    checked = await service.run_import(maker, actor, settings, job.id, show)
                if not args.commit or checked.status != "done" or checked.problem_count:
                    return checked, None
                async with maker() as session, session.begin():
                    await service.request_commit(session, actor, settings, job.id, run_here=True)
                async with heartbeat(maker, ImportJob, job.id, settings.job_heartbeat_seconds):
                    committed = await service.run_import(maker, actor, settings, job.id, show)
                return checked, committed
        finally:
            await engine.dispose()

    try:
        checked, committed = asyncio.run(go())
    except RegistryError as exc:
        print(f"错误 [{exc.code}]：{exc.message}", file=sys.stderr)
        return 1
    final = committed or checked
    for p in final.problems or []:
        print(f"{p['sheet']} 第 {p['row']} 行 [{p['column']}] {p['code']}：{p['message']}")
    if final.status == "failed" and not final.problems:
        print(f"导入 {final.id} 失败：{final.error}", file=sys.stderr)
        return 1
    for line in service.summary_lines(final):
        print(line)
    if final.problems:
        print(f"导入 {final.id}：发现 {len(final.problems)} 处问题，未写入任何数据。", file=sys.stderr)
        return 1
    if committed is None:
        print(f"导入 {final.id}：检查无误（试运行，未写入）。加 --commit 写入。")
    else:
        print(f"导入 {final.id}：已提交。")
    return 0


def _requeue_batches(url: str) -> None:
    from registry.certificates.batch import requeue_interrupted
    from registry.imports.service import requeue_interrupted as requeue_imports

    async def work() -> None:
        engine = create_engine(url, pool_size=1)
        try:
            await requeue_interrupted(create_session_maker(engine))
            await requeue_imports(create_session_maker(engine))
        finally:
            await engine.dispose()

    asyncio.run(work())


def dataset_command(url: str, args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from registry.dataset import generate

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()) as bar:
        task = bar.add_task("生成 generating", total=args.practitioners)

        def show(_: str, done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        out = asyncio.run(
            generate(
                url.replace("postgresql+asyncpg://", "postgresql://"), args.practitioners, seed=args.seed, progress=show
            )
        )
    print(
        f"{out.seconds:.0f} s：社工 {out.practitioners:,}，单位 {out.organizations:,}，在岗经历 {out.employments:,}，"
        f"证书 {out.certifications:,}，继续教育 {out.ce_records:,}，薪酬 {out.salaries:,}；"
        f"表中共有 {', '.join(f'{k} {v:,}' for k, v in out.tables.items())}"
    )
    return 0


def _demo_logins(url: str) -> list[str]:
    from registry.demo import demo_logins

    return list(_run_in_session(url, demo_logins))


def serve(settings: Settings) -> int:
    import signal

    import uvicorn

    # uvicorn re-raises the signal that stopped it; as an exception it unwinds through
    # database_urls() below, which stops the embedded server we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    from registry.app import create_app
    from registry.privileges import UnsafeServiceRole, check_service_role

    with database_urls(settings) as urls:
        migrate(urls.owner)
        url = urls.service
        try:
            asyncio.run(check_service_role(url))
        except UnsafeServiceRole as exc:
            print(str(exc), file=sys.stderr)
            return 1
        _requeue_batches(url)
        if settings.seed_demo:
            print(seed_demo(url, 3000, 20261122, only_if_empty=True), flush=True)
        logins = _demo_logins(url)
        base = f"http://{settings.host}:{settings.port}"
        where = "REGISTRY_DATABASE_URL"
        if settings.embedded:
            from registry.db import EmbeddedPostgres

            where = f"内置 PostgreSQL（数据目录 {EmbeddedPostgres.from_settings(settings).pgdata}）"
        print(
            "\n".join(
                [
                    "",
                    "社会工作人才库已启动 / the registry is up",
                    f"  登录 log in:      {base}/login",
                    f"  首页 home:        {base}/",
                    f"  接口文档 API:     {base}/schema",
                    f"  检索 search:      {base}/api/practitioners?name=王",
                    f"  健康检查 health:  {base}/health",
                    f"  数据库 database:  {where}",
                    f"  证明二维码 QR:    {settings.base_url}/verify"
                    + ("" if settings.public_url else "（正式使用请设置 REGISTRY_PUBLIC_URL / set it for real use）"),
                    *(["", "演示账户 demo accounts（用户名 密码 角色）:", *logins] if logins else []),
                    "",
                    "  按 Ctrl+C 停止 / press Ctrl+C to stop",
                    "",
                ]
            ),
            flush=True,
        )
        uvicorn.run(create_app(settings, database_url=url), host=settings.host, port=settings.port, log_level="info")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="registry", description="社会工作人才库 — social-work talent registry")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="start the web service (embedded PostgreSQL unless REGISTRY_DATABASE_URL is set)")
    sub.add_parser("migrate", help="apply database migrations and load the region table")
    seed = sub.add_parser("seed-demo", help="load reproducible demo data")
    seed.add_argument("--practitioners", type=int, default=3000)
    seed.add_argument("--seed", type=int, default=20261122)
    seed.add_argument("--if-empty", action="store_true", help="do nothing when practitioners exist")
    regions = sub.add_parser("regions", help="region (GB/T 2260) reference data")
    regions.add_argument("action", choices=["load"])
    users = sub.add_parser("users", help="accounts: create (e.g. the first admin), token, unlock")
    users.add_argument("action", choices=["create", "token", "unlock"])
    users.add_argument("username")
    users.add_argument("--name", help="显示名 display name")
    users.add_argument(
        "--role",
        action="append",
        help="admin | civil_affairs:REGION | payroll_clerk:REGION | org_hr:ORG_ID | practitioner:PRACTITIONER_ID",
    )
    users.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    users.add_argument("--token-name", default="命令行创建", help="name of the API token (token action)")
    payroll = sub.add_parser("payroll", help="monthly allowance runs")
    payroll.add_argument("action", choices=["run", "submit", "approve", "close", "export", "verify-chain"])
    payroll.add_argument("target", help="region code (run, verify-chain) or run id")
    payroll.add_argument("month", nargs="?", help="YYYY-MM (run)")
    payroll.add_argument("--user", help="act as this user (required except for verify-chain)")
    payroll.add_argument("--format", choices=["csv", "xlsx"], default="xlsx")
    payroll.add_argument("--out", help="file to write (export)")
    payroll.add_argument("--full-ids", action="store_true", help="full ID numbers (audited; role must allow)")
    payroll.add_argument("--reason", help="why full ID numbers are needed (required with --full-ids; audited)")
    payroll.add_argument("--encoding", choices=["utf-8", "gbk"], default="utf-8", help="CSV encoding")
    certs = sub.add_parser("certificates", help="eligibility certificates: verify offline, batch issue")
    certs_sub = certs.add_subparsers(dest="action", required=True)
    verify = certs_sub.add_parser("verify", help="check a PDF, a QR photo or a scanned QR text offline")
    verify.add_argument("target", help="FILE.pdf, an image of the QR code, or the scanned text")
    verify.add_argument("--public-key", action="append", help="PEM or the /.well-known JSON (default: local key)")
    batch = certs_sub.add_parser("batch", help="issue one kind for everyone eligible in a region")
    batch.add_argument("region", help="region code, e.g. 420102")
    batch.add_argument("kind", choices=["allowance", "ce", "salary", "registration"])
    batch.add_argument("period", nargs="?", help="YYYY-MM (allowance), YYYY (ce, salary), YYYY-MM-DD")
    batch.add_argument("--user", help="act as this user")
    batch.add_argument("--format", choices=["zip", "pdf"], default="zip")
    batch.add_argument("--out", help="copy the result here")
    imp = sub.add_parser("import", help="import a spreadsheet (XLSX or CSV): a dry run unless --commit")
    imp.add_argument("file", help="FILE.xlsx or FILE.csv")
    imp.add_argument("--user", help="act as this user (civil_affairs or org_hr)")
    imp.add_argument("--commit", action="store_true", help="write the rows when the check finds no problem")
    dataset = sub.add_parser("dataset", help="synthetic data at national scale, for benchmarks")
    dataset.add_argument("action", choices=["generate"])
    dataset.add_argument("--practitioners", type=int, default=2_000_000)
    dataset.add_argument("--seed", type=int, default=20261122)
    summary = sub.add_parser("summary", help="the dashboard's summary per region: refresh it now")
    summary.add_argument("action", choices=["refresh"])
    db = sub.add_parser("db", help="embedded database helpers; backup and restore (any server)")
    db.add_argument("action", choices=["start", "stop", "url", "owner-url", "backup", "restore"])
    db.add_argument("file", nargs="?", help="the backup file (backup, restore): pg_dump's custom format")
    db.add_argument("--replace", action="store_true", help="restore over a database that has data (drops it)")
    args = parser.parse_args(argv)
    settings = Settings()

    if args.command == "serve":
        return serve(settings)
    if args.command == "db" and args.action in ("backup", "restore"):
        return _backup_or_restore(settings, args)
    if args.command == "db":
        return _db(settings, args.action)
    if args.command == "certificates" and args.action == "verify":
        return certificates_verify(settings, args)
    # Migrations and bulk loads run as the owner; what the service does, as the service's role.
    urls: DatabaseUrls
    with database_urls(settings) as urls:
        url = urls.service
        if args.command == "migrate":
            migrate(urls.owner)
            print("数据库已迁移到最新版本，行政区划已载入。")
        elif args.command == "seed-demo":
            migrate(urls.owner)
            print(seed_demo(url, args.practitioners, args.seed, only_if_empty=args.if_empty))
        elif args.command == "users":
            migrate(urls.owner)
            return users_command(url, args)
        elif args.command == "payroll":
            migrate(urls.owner)
            return payroll_command(url, args)
        elif args.command == "certificates":
            migrate(urls.owner)
            return certificates_batch(settings, url, args)
        elif args.command == "import":
            migrate(urls.owner)
            return import_command(settings, url, args)
        elif args.command == "dataset":
            migrate(urls.owner)
            return dataset_command(urls.owner, args)
        elif args.command == "summary":
            migrate(urls.owner)
            return summary_command(url)
        elif args.command == "regions":
            from registry.regions.service import load_regions

            print(f"已载入 {_run_in_session(urls.owner, load_regions)} 个行政区划代码。")
    return 0


def summary_command(url: str) -> int:
    """A full refresh of the dashboard's summary now, through the worker's own queue (what the
    server's worker does once a day), as the service's role."""
    from registry.models import SummaryRefresh
    from registry.reports.jobs import SummaryWorker
    from registry.reports.summary import queue_refresh

    async def work() -> tuple[int, list[SummaryRefresh], float]:
        engine = create_engine(url, pool_size=2)
        try:
            maker = create_session_maker(engine)
            async with maker() as session:
                await queue_refresh(session, kind="full")
                await session.commit()
            started = time.perf_counter()
            ran = await SummaryWorker(maker).drain()
            seconds = time.perf_counter() - started
            async with maker() as session:
                full = (
                    await session.scalars(
                        select(SummaryRefresh).where(SummaryRefresh.kind == "full").order_by(SummaryRefresh.id.desc())
                    )
                ).first()
            return ran, [full] if full else [], seconds
        finally:
            await engine.dispose()

    ran, fulls, seconds = asyncio.run(work())
    for job in fulls:
        if job.status != "done":
            print(f"汇总刷新失败：{job.error}", file=sys.stderr)
            return 1
        print(
            f"已刷新工作台汇总：{job.people:,} 名社工、{job.regions:,} 个区划，用时 {seconds:.1f} 秒（共运行 {ran} 个任务）。"
        )
    return 0


def _backup_or_restore(settings: Settings, args: argparse.Namespace) -> int:
    from pathlib import Path

    from registry import backup

    if not args.file:
        print(f"请指定备份文件：registry db {args.action} FILE", file=sys.stderr)
        return 2
    file = Path(args.file)
    with database_urls(settings) as urls:
        try:
            if args.action == "backup":
                backup.backup(urls.owner, file, settings.pg_bin_dir)
                print(f"已备份到 {file}（{file.stat().st_size:,} 字节）。")
            else:
                backup.restore(urls.owner, file, settings.pg_bin_dir, replace=args.replace)
                migrate(urls.owner)  # a backup of an older version is brought up to this one
                print(f"已从 {file} 恢复。")
        except backup.BackupError as exc:
            print(f"错误：{exc}", file=sys.stderr)
            return 1
    return 0


def _db(settings: Settings, action: str) -> int:
    from registry.db import EmbeddedPostgres

    if settings.database_url:
        print("REGISTRY_DATABASE_URL is set; there is no embedded server to manage.", file=sys.stderr)
        return 2
    server = EmbeddedPostgres.from_settings(settings)
    if action == "start":
        server.start()
        server.ensure_database()
        print(server.service_url())
    elif action == "stop":
        server.stop()
    elif action == "owner-url":
        print(server.url())
    else:
        print(server.service_url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
