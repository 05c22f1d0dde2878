from __future__ import annotations

from typing import Any

from litestar import Controller, MediaType, Request, Response, get
from litestar.di import NamedDependency
from litestar.response import Template
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.auth import authenticate
from registry.config import REPO_ROOT, Settings
from registry.errors import RegistryError


class SystemController(Controller):
    include_in_schema = False

    @get("/health", media_type=MediaType.JSON)
    async def health(
        self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]
    ) -> Response[dict[str, Any]]:
        settings: Settings = request.app.state.settings
        try:
            version = await db_session.scalar(text("SHOW server_version"))
            regions = await db_session.scalar(text("SELECT count(*) FROM region"))
            database = {
                "ok": True,
                "server_version": version,
                "embedded": settings.embedded,
                "regions": regions,
            }
            status = 200
        except Exception as exc:
            database = {
                "ok": False,
                "error": f"{type(exc).__name__}: {exc}"[:300],
                "embedded": settings.embedded,
            }
            status = 503
        return Response({"status": "ok" if status == 200 else "degraded", "database": database}, status_code=status)

    @get("/favicon.ico", media_type="image/x-icon", opt={"public": True})
    async def favicon(self) -> Response[bytes]:
        return Response((REPO_ROOT / "static" / "favicon.ico").read_bytes(), media_type="image/x-icon")

    @get("/", media_type=MediaType.HTML)
    async def index(self, request: Request[Any, Any, Any], db_session: NamedDependency[AsyncSession]) -> Template:
        # Public, but whoever is logged in sees their menu and a way on to their work.
        try:
            actor = await authenticate(request, db_session)
        except RegistryError:
            actor = None
        return Template(template_name="index.html", context={"actor": actor})
