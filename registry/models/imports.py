from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Identity, Integer, String, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Mapped, mapped_column

from registry.models.base import Base, Timestamps, in_check

IMPORT_PHASES = ("check", "commit")
IMPORT_STATUSES = ("queued", "running", "done", "failed")
IMPORT_FORMATS = ("xlsx", "csv")


class ImportJob(Base, Timestamps):
    """A spreadsheet import: first checked (a dry run that lists every problem and what would
    change), then, if clean and asked for, committed in one transaction. Both phases are jobs
    run by the server's import worker (or by the command line), with progress."""

    __tablename__ = "import_job"
    __table_args__ = (
        CheckConstraint(in_check("phase", IMPORT_PHASES), name="phase_known"),
        CheckConstraint(in_check("status", IMPORT_STATUSES), name="status_known"),
        CheckConstraint(in_check("file_format", IMPORT_FORMATS), name="file_format_known"),
    )

    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    file_name: Mapped[str] = mapped_column(String(200))  # as uploaded
    stored_name: Mapped[str] = mapped_column(String(200))  # under data_dir/imports/
    file_format: Mapped[str] = mapped_column(String(4))
    file_size: Mapped[int] = mapped_column(BigInteger)
    sha256: Mapped[str] = mapped_column(String(64))
    phase: Mapped[str] = mapped_column(String(10), server_default=text("'check'"))
    status: Mapped[str] = mapped_column(String(10), server_default=text("'queued'"))
    # What the job is doing now (reading, checking, writing) and how far it is.
    stage: Mapped[str | None] = mapped_column(String(10))
    total_rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    processed_rows: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    problem_count: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    problems: Mapped[list[dict[str, Any]] | None] = mapped_column(JSONB)
    summary: Mapped[dict[str, Any] | None] = mapped_column(JSONB)
    error: Mapped[str | None] = mapped_column(Text)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    committed_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    # Written by the runner every few seconds (registry.jobs): a running job whose heartbeat is
    # old was cut off and is queued again.
    heartbeat_at: Mapped[datetime | None]
