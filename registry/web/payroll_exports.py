"""The export controls of a payroll run's page: the printable sheet and the CSV (UTF-8 or GBK,
total line optional), full ID numbers with a reason for roles that may reveal them, and the
bank-transfer list with who still lacks an account. The files come from the same functions as
the API; a refusal comes back to the run page as a message in Chinese."""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Controller, Request, get
from litestar.di import NamedDependency
from litestar.params import FromPath, QueryParameter
from litestar.response import File, Redirect, Response, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.errors import RegistryError
from registry.models import PayrollRun
from registry.payroll import bank_list, export

Text = Annotated[str | None, QueryParameter(max_length=200)]
Short = Annotated[str | None, QueryParameter(max_length=40)]


async def page_context(session: AsyncSession, actor: Actor, run: PayrollRun) -> dict[str, Any]:
    """What the run page's export card shows."""
    payable = run.status in ("approved", "closed")
    return {
        "may_reveal": actor.may_on("reveal", region_code=run.region_code),
        "bank_ready": payable,
        "missing_accounts": await bank_list.missing_accounts(session, actor, run.id) if payable else [],
        "layouts": [(layout.key, layout.label) for layout in bank_list.layouts().values()],
    }


class PayrollExportPages(Controller):
    include_in_schema = False

    @get("/payroll/{run_id:int}/download")
    async def download(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        kind: Short = None,
        format: Short = None,
        encoding: Short = None,
        total: Short = None,
        full_ids: Short = None,
        reason: Text = None,
        layout: Short = None,
    ) -> Stream | File | Response[bytes] | Redirect:
        maker = request.app.state.session_maker
        try:
            if kind == "bank":
                return await bank_list.bank_response(
                    db_session,
                    actor,
                    run_id,
                    "xlsx" if format == "xlsx" else "csv",
                    layout=layout or "default",
                    reason=reason,
                    encoding=(encoding or "utf-8").lower(),
                )
            full = full_ids in ("1", "true", "on")
            if format == "csv":
                return await export.csv_response(
                    db_session,
                    maker,
                    actor,
                    run_id,
                    full_ids=full,
                    reason=reason,
                    encoding=(encoding or "utf-8").lower(),
                    total=total in ("1", "true", "on"),
                )
            return await export.xlsx_response(db_session, maker, actor, run_id, full_ids=full, reason=reason)
        except RegistryError as exc:
            await db_session.rollback()
            message = exc.message if len(exc.message) <= 1900 else exc.message[:1900] + "……"
            return Redirect(path=f"/payroll/{run_id}", query_params={"problem": message}, status_code=303)
