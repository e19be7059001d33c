"""A key limited to some personas pages through exactly those: full pages, honest cursors."""

import pytest

from personas.models import Persona
from personas.services import persona_create

pytestmark = pytest.mark.django_db


@pytest.fixture
def thirty(db):
    personas = [persona_create(name=f"P{i:02d}") for i in range(30)]
    return personas, [personas[3], personas[15], personas[27]]


def _walk(fetch) -> list[dict]:
    """Every page of a list (``fetch(cursor) -> body``), checking each is honest."""
    pages, cursor = [], None
    while True:
        body = fetch(cursor)
        pages.append(body)
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 10


def _check_pages(pages: list[dict], allowed: list[Persona]) -> None:
    assert [len(p["personas"]) for p in pages] == [2, 1]
    assert pages[0]["next_cursor"] and pages[1]["next_cursor"] is None
    seen = [p["slug"] for page in pages for p in page["personas"]]
    assert seen == [p.slug for p in allowed]


def test_restricted_key_pages_over_rest(api_as, thirty):
    _, allowed = thirty
    client = api_as("read", allowed)

    def fetch(cursor):
        url = "/api/personas/?limit=2" + (f"&cursor={cursor}" if cursor else "")
        response = client.get(url)
        assert response.status_code == 200
        return response.json()

    _check_pages(_walk(fetch), allowed)


@pytest.mark.django_db(transaction=True)  # POST /mcp reads the key on another thread
def test_restricted_key_pages_over_rpc(api_as, thirty):
    _, allowed = thirty
    client = api_as("read", allowed)

    def fetch(cursor):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        payload = {"jsonrpc": "2.0", "id": 1, "method": "persona.list", "params": params}
        response = client.post("/mcp", payload, format="json")
        assert response.status_code == 200, response.content
        body = response.json()
        assert "result" in body, body
        return body["result"]

    _check_pages(_walk(fetch), allowed)


def test_restricted_key_last_full_page_has_no_cursor(api_as, thirty):
    _, allowed = thirty
    body = api_as("read", allowed[:2]).get("/api/personas/?limit=2").json()
    assert len(body["personas"]) == 2 and body["next_cursor"] is None and body["next"] is None


def test_unrestricted_key_sees_all_thirty_in_name_order(api_as, thirty):
    personas, _ = thirty
    client = api_as("read")
    seen, cursor = [], None
    while True:
        url = "/api/personas/?limit=7" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(url).json()
        seen += [p["slug"] for p in body["personas"]]
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert seen == [p.slug for p in personas]
