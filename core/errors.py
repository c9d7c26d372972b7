"""Domain errors carry a Chinese message and map to a response in one place (web/errors.py)."""

from __future__ import annotations


class DomainError(Exception):
    status_code = 400

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class NotFound(DomainError):
    """Also what anything outside the user's jurisdiction answers."""

    status_code = 404

    def __init__(self, message: str = "您访问的内容不存在或不在您的管辖范围内") -> None:
        super().__init__(message)


class Forbidden(DomainError):
    status_code = 403

    def __init__(self, message: str = "您的账号无权使用此功能") -> None:
        super().__init__(message)


CONFLICT = "该记录可能已被处理，请刷新页面查看最新状态"


class Conflict(DomainError):
    """The object changed under us (somebody else decided first). Every transition that finds
    its row no longer in the expected state says so in the same words (``CONFLICT``)."""

    status_code = 409

    def __init__(self, message: str = CONFLICT) -> None:
        super().__init__(message)
