from __future__ import annotations

import functools
from collections.abc import Sequence

from pypinyin import Style, pinyin
from sqlalchemy import false, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from registry.errors import InvalidInput, NotFound
from registry.models import Region
from registry.regions.codes import CODE_RE, subtree_bounds
from registry.regions.dataset import load_rows


async def load_regions(session: AsyncSession) -> int:
    """Upsert the national division list; safe to run on every start."""
    rows = [r.__dict__ for r in load_rows()]
    # Parents first so the self-reference holds within the statement batch.
    rows.sort(key=lambda r: r["level"])
    stmt = insert(Region)
    stmt = stmt.on_conflict_do_update(
        index_elements=[Region.code],
        set_={c: stmt.excluded[c] for c in ("name", "full_name", "level", "parent_code", "active")},
    )
    for start in range(0, len(rows), 2000):
        await session.execute(stmt, rows[start : start + 2000])
    return len(rows)


async def region_count(session: AsyncSession) -> int:
    return int(await session.scalar(select(func.count()).select_from(Region)) or 0)


async def get_region(session: AsyncSession, code: str) -> Region:
    region = await session.get(Region, code) if CODE_RE.match(code) else None
    if region is None:
        raise NotFound(f"行政区划代码 {code} 不存在。", code="region_not_found")
    return region


async def children(session: AsyncSession, parent: str | None, *, include_inactive: bool = False) -> Sequence[Region]:
    stmt = select(Region).order_by(Region.code)
    stmt = stmt.where(Region.parent_code.is_(None)) if parent is None else stmt.where(Region.parent_code == parent)
    if not include_inactive:
        stmt = stmt.where(Region.active)
    return (await session.scalars(stmt)).all()


async def require_active_region(session: AsyncSession, code: str | None, field: str) -> Region:
    """The region a record is placed in must be a current division, not an abolished code."""
    region = await session.get(Region, code) if code and CODE_RE.match(code) else None
    if region is None:
        raise InvalidInput.on_field(field, "region_unknown", f"行政区划代码 {code} 不存在，请选择有效的区划。")
    if not region.active:
        raise InvalidInput.on_field(
            field,
            "region_inactive",
            f"行政区划 {region.full_name}（{code}）已撤销或不是具体地区，请选择现行区划。",
        )
    return region


async def require_region(session: AsyncSession, code: str | None, field: str) -> Region:
    region = await session.get(Region, code) if code and CODE_RE.match(code) else None
    if region is None:
        raise InvalidInput.on_field(field, "region_unknown", f"行政区划代码 {code} 不存在，请选择有效的区划。")
    return region


@functools.lru_cache(maxsize=8192)
def _pinyin(name: str) -> tuple[str, str]:
    """The name's pinyin initials and its whole pinyin without tones or spaces (江岸区: jaq,
    jianganqu), for a chooser typed into in pinyin."""
    syllables = [p[0] for p in pinyin(name, style=Style.NORMAL, errors="ignore")]
    return "".join(s[:1] for s in syllables), "".join(syllables)


async def region_options(
    session: AsyncSession, roots: list[str] | None
) -> list[tuple[str, str, str, str, int, str, str]]:
    """Regions within ``roots`` (every region when None) for the province → city → county
    chooser: (code, name, full name, parent code, level, pinyin initials, whole pinyin)."""
    stmt = (
        select(Region.code, Region.name, Region.full_name, Region.parent_code, Region.level)
        .where(Region.active)
        .order_by(Region.code)
    )
    if roots is not None:
        bounds = [subtree_bounds(r) for r in roots]
        stmt = stmt.where(or_(false(), *(Region.code.between(lo, hi) for lo, hi in bounds)))
    rows = (await session.execute(stmt)).all()
    return [
        (str(code), str(name), str(full), str(parent or ""), int(level), *_pinyin(str(name)))
        for code, name, full, parent, level in rows
    ]


async def resolve_region(session: AsyncSession, typed: str) -> str | None:
    """A six-digit code as typed, or the code of the one active region of that full or short name."""
    typed = typed.strip()
    if CODE_RE.match(typed):
        return typed
    found = (
        await session.scalars(
            select(Region.code).where(Region.active, or_(Region.full_name == typed, Region.name == typed)).limit(2)
        )
    ).all()
    return str(found[0]) if len(found) == 1 else None
