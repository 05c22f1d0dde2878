"""The ``registry`` command."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from registry.config import Settings
from registry.db import create_engine, create_session_maker, database_url


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
        grant["organization_id"] = int(scope) if scope.isdigit() else None
    elif role == "practitioner":
        grant["practitioner_id"] = int(scope) if scope.isdigit() else None
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


def _demo_logins(url: str) -> list[str]:
    from registry.demo import demo_logins

    return list(_run_in_session(url, demo_logins))


def serve(settings: Settings) -> None:
    import signal

    import uvicorn

    # uvicorn re-raises the signal that stopped it; as an exception it unwinds through
    # database_url() below, which stops the embedded server we started.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))

    from registry.app import create_app

    with database_url(settings) as url:
        migrate(url)
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
                    *(["", "演示账户 demo accounts（用户名 密码 角色）:", *logins] if logins else []),
                    "",
                    "  按 Ctrl+C 停止 / press Ctrl+C to stop",
                    "",
                ]
            ),
            flush=True,
        )
        uvicorn.run(create_app(settings, database_url=url), host=settings.host, port=settings.port, log_level="info")


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
    db = sub.add_parser("db", help="embedded database helpers")
    db.add_argument("action", choices=["start", "stop", "url"])
    args = parser.parse_args(argv)
    settings = Settings()

    if args.command == "serve":
        serve(settings)
        return 0
    if args.command == "db":
        return _db(settings, args.action)
    with database_url(settings) as url:
        if args.command == "migrate":
            migrate(url)
            print("数据库已迁移到最新版本，行政区划已载入。")
        elif args.command == "seed-demo":
            migrate(url)
            print(seed_demo(url, args.practitioners, args.seed, only_if_empty=args.if_empty))
        elif args.command == "users":
            migrate(url)
            return users_command(url, args)
        elif args.command == "regions":
            from registry.regions.service import load_regions

            print(f"已载入 {_run_in_session(url, load_regions)} 个行政区划代码。")
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
        print(server.url())
    elif action == "stop":
        server.stop()
    else:
        print(server.url())
    return 0


if __name__ == "__main__":
    sys.exit(main())
