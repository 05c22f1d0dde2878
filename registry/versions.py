"""Record versions for optimistic concurrency: ``ETag`` on reads, ``If-Match`` on writes.

The version is PostgreSQL's ``xmin`` of the row: the id of the transaction that last wrote it,
so any write (the ORM's, a bulk ``UPDATE``, an import) gives a new version, and a write that
changes nothing (no ``UPDATE`` issued) keeps it. A client that sends ``If-Match`` with a version
that is no longer current gets 412 and nothing is written; a page's form carries the version in
a hidden field and says the same in Chinese.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

from litestar import Response
from litestar.params import HeaderParameter
from sqlalchemy import literal_column, select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.errors import RegistryError

T = TypeVar("T")


class PreconditionFailed(RegistryError):
    status_code = 412
    default_code = "version_stale"
    title = "记录已被修改"


STALE_MESSAGE = "该记录在您读取之后已被他人修改，请刷新页面或重新读取后再修改。"


async def current(session: AsyncSession, model: Any, record_id: int) -> str | None:
    xmin = await session.scalar(
        select(literal_column("xmin::text")).select_from(model.__table__).where(model.id == record_id)
    )
    return None if xmin is None else tag(model, record_id, xmin)


def tag(model: Any, record_id: int, xmin: str) -> str:
    """The ``ETag`` of a record version, from its ``xmin`` read as text."""
    return f'"{model.__tablename__}.{record_id}.{xmin}"'


def _given(if_match: str) -> list[str]:
    return [tag.strip().removeprefix("W/") for tag in if_match.split(",") if tag.strip()]


async def require(session: AsyncSession, model: Any, record_id: int, if_match: str | None) -> None:
    """Raises 412 when ``if_match`` names a version other than the current one (no header: no check)."""
    if if_match is None or not if_match.strip():
        return
    tags = _given(if_match)
    if "*" in tags:
        return
    now = await current(session, model, record_id)
    if now is None or now not in tags:
        raise PreconditionFailed(STALE_MESSAGE)


async def tagged(session: AsyncSession, model: Any, record_id: int, content: T) -> Response[T]:
    """``content`` with the record's current version as its ``ETag``."""
    tag = await current(session, model, record_id)
    return Response(content, headers={"ETag": tag} if tag else None)


# The If-Match header as a handler parameter (documented in the OpenAPI document).
IfMatch = Annotated[
    str | None,
    HeaderParameter(name="If-Match", required=False, max_length=300, description="上次读取时的 ETag；已过期则 412"),
]
