from __future__ import annotations

import asyncio
from typing import Any

from alembic import context
from sqlalchemy.engine import Connection

from registry.db import create_engine
from registry.models import Base

config = context.config
target_metadata = Base.metadata


def _url() -> str:
    url = config.attributes.get("url")
    if url:
        return str(url)
    from registry.config import Settings
    from registry.db import EmbeddedPostgres

    settings = Settings()
    if settings.database_url:
        return settings.database_url
    server = EmbeddedPostgres.from_settings(settings)
    server.start()
    server.ensure_database()
    return server.url()


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection, target_metadata=target_metadata, compare_type=True, include_object=_compared
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async(url: str) -> None:
    engine = create_engine(url, pool_size=1)
    async with engine.connect() as connection:
        await connection.run_sync(_configure)
    await engine.dispose()


# Indexes on expressions over functions of our own, made and kept by hand in migrations (autogenerate
# cannot compare their reflected text): 0008's province-qualified name tokens.
HAND_MADE_INDEXES = {"ix_practitioner_province_name_tokens"}


def _compared(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
    return not (type_ == "index" and name in HAND_MADE_INDEXES)


def run_migrations_online() -> None:
    connection: Any = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_async(_url()))


if context.is_offline_mode():
    context.configure(url=_url(), target_metadata=target_metadata, literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
