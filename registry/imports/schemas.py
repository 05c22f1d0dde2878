from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator


class ImportProblem(BaseModel):
    sheet: str
    row: int  # as the clerk sees it in Excel (the header is row 1)
    column: str  # the heading as written in the file
    code: str
    message: str


class ImportRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    file_name: str
    file_format: Literal["xlsx", "csv"]
    file_size: int
    sha256: str
    phase: Literal["check", "commit"]
    status: Literal["queued", "running", "done", "failed"]
    stage: str | None
    progress: float = 0.0
    total_rows: int
    processed_rows: int
    # Every problem found; at most 1,000 are kept (``problems_stored``) and one page of them is
    # in ``problems``, from ``problems_offset`` (ask for others with ?problems_offset=).
    problem_count: int
    problems: list[ImportProblem] = []
    problems_stored: int = 0
    problems_offset: int = 0
    # rows, sheets, counts per kind (created, updated, unchanged) and a few sample rows
    summary: dict[str, Any] | None
    error: str | None
    can_commit: bool = False
    committed: bool = False
    created_at: datetime
    finished_at: datetime | None
    committed_at: datetime | None

    @field_validator("problems", mode="before")
    @classmethod
    def _none_is_empty(cls, value: Any) -> Any:
        return [] if value is None else value
