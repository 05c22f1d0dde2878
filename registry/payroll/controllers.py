from __future__ import annotations

from typing import Any

from litestar import Controller, Request, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody, Parameter
from litestar.response import File, Response, Stream
from sqlalchemy.ext.asyncio import AsyncSession

from registry.accounts.actor import Actor
from registry.payroll import bank_list, export, service
from registry.payroll.schemas import AdjustmentCreate, ChainCheck, LineRead, RunCreate, RunDiff, RunRead, RunReturn
from registry.schemas import Page


async def _read(session: AsyncSession, run: Any) -> RunRead:
    read = RunRead.model_validate(run)
    read.region_name = await service.region_name(session, run.region_code)
    return read


class PayrollController(Controller):
    path = "/api/payroll-runs"
    tags = ["津贴发放 payroll"]

    @post("/", summary="创建并计算发放批次（区划 + 月份）")
    async def create(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], data: JSONBody[RunCreate]
    ) -> RunRead:
        return await _read(db_session, await service.create_run(db_session, actor, data))

    @get("/", summary="发放批次列表（本辖区）")
    async def list_runs(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        region: str | None = Parameter(default=None, min_length=6, max_length=6),
        status: str | None = Parameter(default=None, max_length=10),
    ) -> list[RunRead]:
        return [
            await _read(db_session, r) for r in await service.list_runs(db_session, actor, region=region, status=status)
        ]

    @get("/verify-chain", summary="校验区划已关闭批次的哈希链")
    async def verify_chain(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        region: str = Parameter(min_length=6, max_length=6),
    ) -> ChainCheck:
        return await service.verify_chain(db_session, actor, region)

    @get("/{run_id:int}", summary="发放批次")
    async def get_run(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> RunRead:
        return await _read(db_session, await service.get_run(db_session, actor, run_id))

    @delete("/{run_id:int}", status_code=204, summary="删除草稿批次")
    async def delete_run(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> None:
        await service.delete_run(db_session, actor, run_id)

    @get("/{run_id:int}/lines", summary="发放明细（身份证号已遮蔽）")
    async def lines(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        cursor: FromQuery[int | None] = None,
        limit: int = Parameter(default=100, ge=1, le=1000),
    ) -> Page[LineRead]:
        items, next_cursor = await service.list_lines(db_session, actor, run_id, cursor=cursor, limit=limit)
        run = await service.get_run(db_session, actor, run_id)
        return Page[LineRead](
            items=items, next_cursor=str(next_cursor) if next_cursor else None, total=run.line_count, total_exact=True
        )

    @get("/{run_id:int}/diff", summary="与上一已关闭批次的差异（新增、减少、金额变化及原因）")
    async def diff(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> RunDiff:
        return await service.diff(db_session, actor, run_id)

    @post("/{run_id:int}/compute", status_code=200, summary="重新计算草稿")
    async def compute(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> RunRead:
        return await _read(db_session, await service.compute(db_session, actor, run_id))

    @post("/{run_id:int}/adjustments", summary="补发或扣回以往已关闭月份（金额由规则计算）")
    async def adjust(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        data: JSONBody[AdjustmentCreate],
    ) -> LineRead:
        return service.line_read(await service.add_adjustment(db_session, actor, run_id, data))

    @post("/{run_id:int}/submit", status_code=200, summary="提交审批")
    async def submit(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> RunRead:
        return await _read(db_session, await service.submit(db_session, actor, run_id))

    @post("/{run_id:int}/approve", status_code=200, summary="审批（不能由编制人审批）")
    async def approve(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> RunRead:
        return await _read(db_session, await service.approve(db_session, actor, run_id))

    @post("/{run_id:int}/return", status_code=200, summary="退回修改")
    async def return_run(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        data: JSONBody[RunReturn],
    ) -> RunRead:
        return await _read(db_session, await service.return_run(db_session, actor, run_id, data))

    @post("/{run_id:int}/close", status_code=200, summary="关闭（生成哈希，之后不可更改）")
    async def close(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> RunRead:
        return await _read(db_session, await service.close(db_session, actor, run_id))

    @get("/{run_id:int}/export.csv", summary="导出 CSV（UTF-8 带 BOM 或 GBK；完整身份证号须写明用途）")
    async def export_csv(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        full_ids: FromQuery[bool] = False,
        reason: str | None = Parameter(default=None, max_length=200),
        encoding: str = Parameter(default="utf-8", max_length=10),
        total: FromQuery[bool] = False,
    ) -> Stream:
        return await export.csv_response(
            db_session,
            request.app.state.session_maker,
            actor,
            run_id,
            full_ids=full_ids,
            reason=reason,
            encoding=encoding.lower(),
            total=total,
        )

    @get("/{run_id:int}/export.xlsx", summary="导出可打印的发放表 XLSX（完整身份证号须写明用途）")
    async def export_xlsx(
        self,
        request: Request[Any, Any, Any],
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        full_ids: FromQuery[bool] = False,
        reason: str | None = Parameter(default=None, max_length=200),
    ) -> File:
        return await export.xlsx_response(
            db_session, request.app.state.session_maker, actor, run_id, full_ids=full_ids, reason=reason
        )

    @get("/{run_id:int}/bank-list/missing", summary="代发名单中没有银行账户的人员（导出前列出）")
    async def bank_list_missing(
        self, db_session: NamedDependency[AsyncSession], actor: NamedDependency[Actor], run_id: FromPath[int]
    ) -> list[bank_list.MissingAccount]:
        return await bank_list.missing_accounts(db_session, actor, run_id)

    @get("/{run_id:int}/bank-list.csv", summary="导出代发名单 CSV（完整证件号和账号，须写明用途，留痕）")
    async def bank_list_csv(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        reason: str | None = Parameter(default=None, max_length=200),
        layout: str = Parameter(default="default", max_length=40),
        encoding: str = Parameter(default="utf-8", max_length=10),
    ) -> Response[bytes] | File:
        return await bank_list.bank_response(
            db_session, actor, run_id, "csv", layout=layout, reason=reason, encoding=encoding.lower()
        )

    @get("/{run_id:int}/bank-list.xlsx", summary="导出代发名单 XLSX（完整证件号和账号，须写明用途，留痕）")
    async def bank_list_xlsx(
        self,
        db_session: NamedDependency[AsyncSession],
        actor: NamedDependency[Actor],
        run_id: FromPath[int],
        reason: str | None = Parameter(default=None, max_length=200),
        layout: str = Parameter(default="default", max_length=40),
    ) -> Response[bytes] | File:
        return await bank_list.bank_response(db_session, actor, run_id, "xlsx", layout=layout, reason=reason)
