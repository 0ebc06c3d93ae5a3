"""Keyset pagination shared by every list: pages in id order, ``after`` = last id seen.

A page says only whether there is a next one (its cursor); never a total, so a list
cannot leak how many hidden objects exist.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Generic, TypeVar

from filehub.errors import BadRequest

T = TypeVar("T")

DEFAULT_PAGE = 50  # items
MAX_PAGE = 1_000  # items: a bound on the work (~50 ms) and the response of one list request


@dataclass(frozen=True)
class PageRequest:
    limit: int = DEFAULT_PAGE
    after: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE:
            raise BadRequest(f"limit must be between 1 and {MAX_PAGE}")
        if self.after is not None and not 0 < len(self.after) <= 128:
            raise BadRequest("after must be the id of the last item of the previous page")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next: str | None  # the cursor for the next page, or None on the last one


def page_of_ids(ids: Iterable[str], page: PageRequest) -> tuple[list[str], str | None]:
    """The ids of one page, in order, and the cursor of the next page."""
    ordered = sorted(i for i in ids if page.after is None or i > page.after)
    chosen = ordered[: page.limit]
    return chosen, (chosen[-1] if len(ordered) > page.limit else None)


def page_of(rows: list[T], page: PageRequest, key: Callable[[T], str]) -> Page[T]:
    """A page from rows fetched in id order with ``LIMIT page.limit + 1``."""
    kept = rows[: page.limit]
    return Page(kept, key(kept[-1]) if len(rows) > page.limit else None)
