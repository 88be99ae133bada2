"""Walking a CodeArts listing whose paging parameter has ambiguous semantics.

The reference pages do not settle what ``offset`` (Repo) or ``page_index`` (Build) count: an item offset
or a page number, from 0 or from 1. Rather than trust one reading, the walker tries the readings in
order and keeps the first that yields new items. A page that is empty, or holds only ids already seen,
while the server's ``total`` says more exist, means the current reading is wrong (not that the list
ended), so the walker moves to the next reading for the same page. The walk stops when ``total``
distinct ids are held, and never sends more than ``ceil(total / limit) + 3`` requests.

Whatever ``total`` says, a walk fails with :class:`ListingTooLong` once it has sent
``MAX_PAGES_PER_LISTING`` requests with more to come, or holds more than ``MAX_ITEMS_PER_LISTING``
items: a server reporting a total of 10^12 with fresh ids on every page would otherwise be walked for
ever (memory and the request budget growing all the while).

Without a total (none sent, or one that is not a number), a full page of new items means "maybe more":
the walk goes on until a short or stale page, or the page limit, where it ends marked incomplete
(``Listing.capped``) rather than failing, since nothing said more exist.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass
from typing import Any

from exporter.assumptions import contradicted
from exporter.errors import ClientError, PayloadError
from exporter.limits import MAX_ITEMS_PER_LISTING, MAX_PAGES_PER_LISTING


class ListingTooLong(PayloadError):
    """A listing went past the page or item limit (the target fails rather than grow without end)."""


@dataclass(frozen=True, slots=True)
class Page:
    """One page as the server answered it; ``total`` is None when the server did not say."""

    items: list[Any]
    total: int | None


@dataclass(frozen=True, slots=True)
class PageProgress:
    """Where a walk stands, given to a paging reading to compute the next parameter."""

    page: int  # how many pages with new items have been taken so far
    received: int  # how many distinct items are held
    limit: int


Reading = Callable[[PageProgress], int]
"""A reading of the paging parameter: from progress so far, the value to send for the next page."""


def item_offset(progress: PageProgress) -> int:
    """``offset`` counts items (robust even when the server caps the page size)."""
    return progress.received


def page_from_zero(progress: PageProgress) -> int:
    """The parameter is a page number counted from 0."""
    return progress.page


def page_from_one(progress: PageProgress) -> int:
    """The parameter is a page number counted from 1."""
    return progress.page + 1


# Named by paging style, not by the API that speaks it: a parameter that may be an item offset or a page number
# (Repo's offset, Pipeline's body offset), and one that is a page number from 0 or from 1 (Build's page_index).
ITEM_OR_PAGE_READINGS: tuple[Reading, ...] = (item_offset, page_from_zero, page_from_one)
PAGE_NUMBER_READINGS: tuple[Reading, ...] = (page_from_zero, page_from_one)


@dataclass(frozen=True, slots=True)
class Listing:
    """Every item a walk collected, in the order first seen."""

    items: list[Any]
    total: int | None
    requests: int
    complete: bool
    reading: int = 0  # the reading in use when the walk ended (an index into the readings given)
    capped: bool = False  # ended on the page limit with pages still full and fresh (no total said when to stop)


def _item_key(item: Any) -> Hashable | None:
    if isinstance(item, dict):
        key = item.get("id")
        if isinstance(key, str | int) and not isinstance(key, bool):
            return key
    return None


class _Walk:
    """The state of one walk: items held, readings left, requests spent."""

    def __init__(self, readings: Sequence[Reading], limit: int) -> None:
        self.readings = readings
        self.limit = limit
        self.reading = 0
        self.pages = 0
        self.requests = 0
        self.total: int | None = None
        self.keyed: dict[Hashable, Any] = {}
        self.unkeyed: list[Any] = []

    @property
    def received(self) -> int:
        return len(self.keyed) + len(self.unkeyed)

    @property
    def max_requests(self) -> int:
        if self.total is None:  # no more pages than the item limit can hold, so running out of pages ends it
            return min(MAX_PAGES_PER_LISTING, max(MAX_ITEMS_PER_LISTING // self.limit, 1))
        return math.ceil(self.total / self.limit) + 3

    def done(self) -> bool:
        return self.total is not None and self.received >= self.total

    def next_parameter(self) -> int:
        return self.readings[self.reading](PageProgress(self.pages, self.received, self.limit))

    def take(self, page: Page) -> bool:
        """Keep the page's new items; True if there were any."""
        if page.total is not None:
            self.total = max(page.total, 0)
        fresh = False
        for item in page.items:
            key = _item_key(item)
            if key is None:
                self.unkeyed.append(item)
                fresh = True
            elif key not in self.keyed:
                self.keyed[key] = item
                fresh = True
        if fresh:
            self.pages += 1
        return fresh

    def listing(self, capped: bool = False) -> Listing:
        items = list(self.keyed.values()) + self.unkeyed
        return Listing(items, self.total, self.requests, complete=self.done() and not capped,
                       reading=min(self.reading, len(self.readings) - 1), capped=capped)


def walk_pages(fetch: Callable[[int], Page], readings: Sequence[Reading], limit: int) -> Listing:
    """Collect a whole listing; ``fetch(parameter)`` sends one request and returns its page.

    A :class:`ClientError` (HTTP 400) on the very first page is taken as "this reading is wrong" (a
    1-based server refusing page 0) and the next reading is tried; any other error propagates.
    """
    walk = _Walk(readings, limit)
    while not walk.done() and walk.requests < walk.max_requests and walk.reading < len(readings):
        if walk.requests >= MAX_PAGES_PER_LISTING:
            raise ListingTooLong(f"listing not complete after {MAX_PAGES_PER_LISTING} pages (the limit; the "
                                 f"server reports {walk.total} items, {walk.received} received)")
        parameter = walk.next_parameter()
        walk.requests += 1
        try:
            page = fetch(parameter)
        except ClientError:
            if walk.pages > 0 or walk.reading + 1 >= len(readings):
                raise
            walk.reading += 1
            continue
        fresh = walk.take(page)
        if walk.received > MAX_ITEMS_PER_LISTING:
            raise ListingTooLong(f"listing holds more than {MAX_ITEMS_PER_LISTING} items (the limit)")
        if walk.total is None and (not fresh or len(page.items) < limit):
            break  # without a total, a short or stale page is the only end marker there is
        if walk.total is None and walk.requests >= walk.max_requests:
            return walk.listing(capped=True)
        if not fresh:
            walk.reading += 1  # the server has more, so this reading of the parameter is wrong
    return walk.listing()


def listing_total(value: object, *, header: bool = False) -> int | None:
    """A listing's item count as the server sent it: a non-negative integer, also from a digit string or an
    integral number (reported as contradicting ``total_is_integer`` unless from a header, which is text by
    nature); None when absent or unreadable (then the walk goes on without one)."""
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        total: int | None = value
    elif isinstance(value, float) and value.is_integer():
        total = int(value)
    elif isinstance(value, str) and value.strip().isascii() and value.strip().isdigit():
        total = int(value.strip())
    else:
        total = None
    if total is None or total < 0:
        contradicted("total_is_integer", f"total {value!r:.40} is no item count; walking without one")
        return None
    if not (header or isinstance(value, int)):
        contradicted("total_is_integer", f"total {value!r:.40} read as {total}")
    return total
