"""Domain errors carry their HTTP status, a stable code, and a message a clerk understands.

One handler (``registry.web.errors``) renders them as RFC 9457 problem details under ``/api``
and as an error page elsewhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar


@dataclass(frozen=True)
class FieldError:
    field: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"field": self.field, "code": self.code, "message": self.message}


class RegistryError(Exception):
    status_code: ClassVar[int] = 400
    default_code: ClassVar[str] = "bad_request"
    title: ClassVar[str] = "请求无法处理"

    def __init__(self, message: str, *, code: str | None = None, errors: list[FieldError] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code or self.default_code
        self.errors = errors or []

    @classmethod
    def on_field(cls, field_name: str, code: str, message: str) -> RegistryError:
        return cls(message, code=code, errors=[FieldError(field_name, code, message)])


class NotFound(RegistryError):
    status_code = 404
    default_code = "not_found"
    title = "未找到"


class Conflict(RegistryError):
    status_code = 409
    default_code = "conflict"
    title = "与现有记录冲突"


class InvalidInput(RegistryError):
    """Well-formed but wrong input: a bad check digit, an unknown region, dates out of order."""

    status_code = 422
    default_code = "invalid_input"
    title = "输入有误"


@dataclass
class Problems:
    """Collects every field problem so the clerk sees all of them at once, then raises one error."""

    errors: list[FieldError] = field(default_factory=list)
    # For nested payloads: "employment." names the field inside the practitioner's first spell.
    prefix: str = ""

    def add(self, field_name: str, code: str, message: str) -> None:
        self.errors.append(FieldError(self.prefix + field_name, code, message))

    def raise_if_any(self, error_type: type[RegistryError] = InvalidInput) -> None:
        if not self.errors:
            return
        first = self.errors[0]
        message = first.message if len(self.errors) == 1 else f"{first.message}（另有 {len(self.errors) - 1} 处错误）"
        raise error_type(message, code=first.code, errors=list(self.errors))
