"""The gadget requests, through the shared client."""

from __future__ import annotations

import requests

from exporter.client import CodeArtsClient, ParsedListing
from exporter.errors import PayloadError
from exporter.pagination import PAGE_NUMBER_READINGS, Page

from .models import Gadget, parse_gadget
from .targets import API

THROTTLE_CODE = "GD.00000429"  # the gadget API throttles with an HTTP 500 and this code


def list_gadgets(client: CodeArtsClient, shelf: str) -> ParsedListing[Gadget]:
    """Every gadget of one shelf."""
    url = f"{client.base_url(API)}/v1/shelves/{shelf}/gadgets"

    def decode(response: requests.Response) -> Page:
        body = client.decode_json(response)
        if not isinstance(body, dict) or not isinstance(body.get("gadgets"), list):
            raise PayloadError("expected {gadgets: [...]}", url=url, status=response.status_code)
        return Page(body["gadgets"], body.get("total"))

    return client.listing(API, url, lambda index: {"page_no": index}, decode, PAGE_NUMBER_READINGS, parse_gadget)
