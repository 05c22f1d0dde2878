"""The start-up check of the service's database role: it refuses to serve when the role could
switch off what the database guarantees (append-only trails, immutable certificates, closed
payroll runs): a superuser, a role that owns (or can become the owner of) a table, one with the
TRIGGER privilege, one that may set ``session_replication_role``, or one that may change an
append-only table. docs/operations.md explains the two roles."""

from __future__ import annotations

from typing import Any

# Append-only tables (migration 0010 revokes UPDATE and DELETE on them). A migration that adds one
# revokes the same and adds its name here.
APPEND_ONLY = (
    "audit_event",
    "issued_certificate",
    "certificate_revocation",
    "signing_key",
    "ce_audit_sample",  # 0013
    "ce_audit_outcome",  # 0013
)


class UnsafeServiceRole(RuntimeError):
    def __init__(self, role: str, problems: list[str]) -> None:
        self.role = role
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(
            f"拒绝启动：服务使用的数据库角色 {role} 权限过大，仅追加的记录可能被改写或删除。\n{lines}\n"
            "请让 REGISTRY_DATABASE_URL 使用只有授权的服务角色（见 README“使用真实的 PostgreSQL 服务器”），"
            "迁移用 REGISTRY_OWNER_DATABASE_URL。"
        )


async def service_role_problems(conn: Any) -> tuple[str, list[str]]:
    """What the connected role (an asyncpg connection) could do that the service must not."""
    role = str(await conn.fetchval("SELECT current_user"))
    problems: list[str] = []
    if await conn.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
        problems.append(f"{role} 是超级用户 (superuser)")
    for (name,) in await conn.fetch(
        "SELECT rolname FROM pg_roles WHERE rolsuper AND rolname <> current_user"
        " AND pg_has_role(current_user, oid, 'MEMBER')"
    ):
        problems.append(f"{role} 可以切换为超级用户 {name} (SET ROLE)")
    owned = await conn.fetch(
        "SELECT c.relname, pg_get_userbyid(c.relowner) AS owner FROM pg_class c"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND pg_has_role(current_user, c.relowner, 'MEMBER')"
        " ORDER BY c.relname"
    )
    if owned:
        tables = ", ".join(r["relname"] for r in owned[:8]) + ("…" if len(owned) > 8 else "")
        problems.append(f"{role} 是 {len(owned)} 张表的所有者或可成为其所有者（可停用触发器）：{tables}")
    triggers = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND has_table_privilege(current_user, c.oid, 'TRIGGER')"
        " ORDER BY c.relname"
    )
    if triggers and not owned:
        problems.append(f"{role} 有 TRIGGER 权限：{', '.join(r['relname'] for r in triggers)}")
    for table in APPEND_ONLY:
        if not await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", f"public.{table}"):
            continue
        writes = [
            p
            for p in ("UPDATE", "DELETE", "TRUNCATE")
            if await conn.fetchval("SELECT has_table_privilege(current_user, $1, $2)", f"public.{table}", p)
        ]
        if writes and not owned:
            problems.append(f"{role} 可以对仅追加的表 {table} 执行 {'/'.join(writes)}")
    # The parameter's own privilege (GRANT SET ON PARAMETER, PostgreSQL 15) as well as
    # superuser: only trying it tells.
    import asyncpg

    tr = conn.transaction()
    await tr.start()
    try:
        await conn.execute("SET LOCAL session_replication_role = replica")
        problems.append(f"{role} 可以设置 session_replication_role（触发器将不再执行）")
    except asyncpg.InsufficientPrivilegeError:
        pass  # refused: as it must be
    finally:
        await tr.rollback()
    return role, problems


async def check_service_role(url: str) -> None:
    """Raise ``UnsafeServiceRole`` when the role of ``url`` could undo the database's guarantees."""
    import asyncpg

    conn = await asyncpg.connect(url.replace("postgresql+asyncpg://", "postgresql://"))
    try:
        role, problems = await service_role_problems(conn)
    finally:
        await conn.close()
    if problems:
        raise UnsafeServiceRole(role, problems)
