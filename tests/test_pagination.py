"""The pagination walker against every reading of the paging parameter a server might have."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from exporter.errors import ClientError
from exporter.pagination import ITEM_OR_PAGE_READINGS, PAGE_NUMBER_READINGS, Page, walk_pages

LIMIT = 100


class FakeServer:
    """A listing of ``total`` items served under one paging semantics; counts requests."""

    def __init__(self, total: int, semantics: str, cap: int | None = None) -> None:
        self.items = [{"id": i + 1} for i in range(total)]
        self.semantics = semantics
        self.page_size = min(cap or LIMIT, LIMIT)
        self.requests: list[int] = []

    def fetch(self, parameter: int) -> Page:
        self.requests.append(parameter)
        size = self.page_size
        if self.semantics == "item":
            start = parameter
        elif self.semantics in ("page0", "zero"):
            start = parameter * size
        elif self.semantics in ("page1", "one-repeat"):
            start = (max(parameter, 1) - 1) * size
        elif self.semantics == "one-reject":
            if parameter == 0:
                raise ClientError("page_index must be >= 1", status=400)
            start = (parameter - 1) * size
        else:
            raise AssertionError(self.semantics)
        return Page(self.items[start:start + size], len(self.items))


SEMANTICS = [("item", ITEM_OR_PAGE_READINGS), ("page0", ITEM_OR_PAGE_READINGS), ("page1", ITEM_OR_PAGE_READINGS),
             ("zero", PAGE_NUMBER_READINGS), ("one-repeat", PAGE_NUMBER_READINGS), ("one-reject", PAGE_NUMBER_READINGS)]


@pytest.mark.parametrize(("semantics", "readings"), SEMANTICS)
@pytest.mark.parametrize("total", [0, 1, 99, 100, 101, 130, 250, 1000])
def test_every_item_is_collected_once_within_the_request_bound(semantics, readings, total):
    server = FakeServer(total, semantics)
    listing = walk_pages(server.fetch, readings, LIMIT)
    assert [item["id"] for item in listing.items] == list(range(1, total + 1))
    assert listing.complete
    assert listing.requests == len(server.requests)
    assert listing.requests <= math.ceil(total / LIMIT) + 3


@settings(max_examples=300, deadline=None)
@given(total=st.integers(0, 2000), pick=st.sampled_from(SEMANTICS))
def test_any_total_under_any_semantics_is_walked_exactly(total, pick):
    semantics, readings = pick
    server = FakeServer(total, semantics)
    listing = walk_pages(server.fetch, readings, LIMIT)
    assert sorted(item["id"] for item in listing.items) == list(range(1, total + 1))
    assert listing.requests <= math.ceil(total / LIMIT) + 3


def test_an_item_offset_server_that_caps_the_page_size_loses_nothing():
    server = FakeServer(130, "item", cap=20)
    listing = walk_pages(server.fetch, ITEM_OR_PAGE_READINGS, LIMIT)
    assert [item["id"] for item in listing.items][:40] == list(range(1, 41))
    # The request bound assumes the documented page size, so a capped server is walked only partly,
    # and the listing says so instead of looping.
    assert listing.requests <= math.ceil(130 / LIMIT) + 3
    assert not listing.complete


def test_a_server_whose_total_overstates_its_items_ends_without_looping():
    def fetch(parameter: int) -> Page:
        items = [{"id": i} for i in range(1, 51)] if parameter == 0 else []
        return Page(items, 500)

    listing = walk_pages(fetch, ITEM_OR_PAGE_READINGS, LIMIT)
    assert len(listing.items) == 50
    assert not listing.complete
    assert listing.requests <= len(ITEM_OR_PAGE_READINGS) + 1


def test_a_listing_without_total_stops_at_the_first_short_page():
    pages = {0: [{"id": i} for i in range(100)], 100: [{"id": 100 + i} for i in range(7)]}

    def fetch(parameter: int) -> Page:
        return Page(pages.get(parameter, []), None)

    listing = walk_pages(fetch, ITEM_OR_PAGE_READINGS, LIMIT)
    assert len(listing.items) == 107
    assert listing.requests == 2


def test_a_400_on_a_later_page_is_an_error_not_a_change_of_reading():
    def fetch(parameter: int) -> Page:
        if parameter == 0:
            return Page([{"id": i} for i in range(100)], 300)
        raise ClientError("bad parameter", status=400)

    with pytest.raises(ClientError):
        walk_pages(fetch, PAGE_NUMBER_READINGS, LIMIT)


def test_items_without_an_id_are_kept():
    def fetch(parameter: int) -> Page:
        return Page([{"id": 1}, "garbage", {"no": "id"}], 3)

    listing = walk_pages(fetch, PAGE_NUMBER_READINGS, LIMIT)
    assert listing.items == [{"id": 1}, "garbage", {"no": "id"}]
    assert listing.requests == 1
