"""Pagination for every list: ``?page=`` with a fixed page size."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from starlette.requests import Request
from tortoise.queryset import QuerySet

from web.params import page_number

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    number: int
    size: int
    total: int

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.size))

    @property
    def has_previous(self) -> bool:
        return self.number > 1

    @property
    def has_next(self) -> bool:
        return self.number < self.pages


async def paginate(request: Request, qs: QuerySet[Any], size: int = 20) -> Page[Any]:
    number = page_number(request)
    total = await qs.count()
    number = min(number, max(1, -(-total // size)))
    items = await qs.offset((number - 1) * size).limit(size)
    return Page(items=list(items), number=number, size=size, total=total)
