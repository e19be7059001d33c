import io

import pytest
from PIL import Image

from personas.models import Persona

pytestmark = pytest.mark.django_db


def test_reads_need_a_key(api, demo):
    response = api.get("/api/personas/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == -32020


def test_wrong_key_is_401(api, demo):
    api.credentials(HTTP_AUTHORIZATION="Bearer pmcp_nope_nope")
    assert api.get("/api/personas/").status_code == 401


def test_read_key_cannot_write(api_as):
    response = api_as("read").post("/api/personas/", {"name": "X"}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == -32021


def test_dev_mode_allows_anonymous(api, demo, dev_mode):
    assert api.get("/api/personas/").status_code == 200


def test_create_get_update_delete(api_as):
    client = api_as("write")
    created = client.post(
        "/api/personas/",
        {"name": "Nova", "personality": {"openness": 0.9}, "tags": ["scifi"], "goals": ["explore"]},
        format="json",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["slug"] == "nova" and body["personality"]["openness"] == 0.9
    assert body["state"]["emotion"] == "neutral" and body["tags"] == ["scifi"]
    assert client.get("/api/personas/nova/").json()["id"] == body["id"]
    patched = client.patch("/api/personas/nova/", {"description": "pilot"}, format="json")
    assert patched.json()["description"] == "pilot"
    assert patched.json()["personality"]["openness"] == 0.9
    deleted = client.delete(f"/api/personas/{body['id']}/")
    assert deleted.json() == {"deleted": True, "persona_id": body["id"]}
    assert client.get("/api/personas/nova/").status_code == 404


def test_list_search_tag_and_pagination(api_as, demo):
    client = api_as("read")
    first = client.get("/api/personas/?limit=2").json()
    assert len(first["personas"]) == 2 and first["next_cursor"]
    second = client.get(f"/api/personas/?limit=2&cursor={first['next_cursor']}").json()
    assert len(second["personas"]) == 2 and second["next_cursor"] is None
    assert [p["slug"] for p in client.get("/api/personas/?tag=rogue").json()["personas"]] == [
        "rook"
    ]
    found = client.get("/api/personas/?search=scholar").json()["personas"]
    assert [p["slug"] for p in found] == ["elias"]


@pytest.mark.parametrize(
    "payload, field",
    [
        ({"name": "X", "personality": {"openness": 2}}, "personality.openness"),
        ({"name": "X" * 101}, "name"),
        ({"name": "X", "colour": "red"}, "colour"),
        ({}, "name"),
        ({"name": "X", "slug": "Bad Slug!"}, "slug"),
        ({"name": "X", "goals": "not a list"}, "goals"),
    ],
)
def test_bad_input_names_the_field_and_writes_nothing(api_as, payload, field):
    response = api_as("write").post("/api/personas/", payload, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == -32602
    assert field in [e["field"] for e in error["data"]["errors"]]
    assert not Persona.objects.exists()


def test_duplicate_slug_is_409(api_as, demo):
    response = api_as("write").post("/api/personas/", {"name": "A", "slug": "alice"}, format="json")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == -32040


def test_malformed_json_is_400(api_as):
    response = api_as("write").post("/api/personas/", data="{oops", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == -32700


def test_persona_scoped_key_sees_only_its_persona(api_as, demo):
    client = api_as("write", personas=[demo["alice"]])
    assert [p["slug"] for p in client.get("/api/personas/").json()["personas"]] == ["alice"]
    assert client.get("/api/personas/rook/").status_code == 403
    assert (
        client.patch("/api/personas/rook/", {"description": "x"}, format="json").status_code == 403
    )
    assert client.get("/api/personas/alice/").status_code == 200


def _png() -> io.BytesIO:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(buf, format="PNG")
    buf.seek(0)
    buf.name = "a.png"
    return buf


def test_avatar_upload_and_bad_image(api_as, demo, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    client = api_as("write")
    ok = client.post("/api/personas/alice/avatar/", {"avatar": _png()}, format="multipart")
    assert ok.status_code == 200, ok.json()
    url = ok.json()["avatar_url"]
    assert url.startswith("/media/avatars/")
    assert (tmp_path / url.removeprefix("/media/")).exists()
    junk = io.BytesIO(b"not an image")
    junk.name = "x.png"
    bad = client.post("/api/personas/alice/avatar/", {"avatar": junk}, format="multipart")
    assert bad.status_code == 400
    assert bad.json()["error"]["data"]["errors"][0]["field"] == "avatar"


def test_state_endpoint(api_as, demo):
    state = api_as("read").get("/api/personas/alice/state/").json()
    assert set(state) == {"mood", "emotion", "energy", "social_battery", "stress", "updated_at"}


def test_schema_and_docs_are_public(api):
    assert api.get("/api/schema/").status_code == 200
    assert api.get("/api/docs/").status_code == 200


def test_rate_limit_returns_429_with_retry_after(api_as, settings, demo):
    settings.PERSONAMCP = {**settings.PERSONAMCP, "RATE_LIMIT_PER_MINUTE": 3}
    client = api_as("read")
    codes = [client.get("/api/personas/").status_code for _ in range(4)]
    assert codes[:3] == [200, 200, 200] and codes[3] == 429
    response = client.get("/api/personas/")
    assert int(response["Retry-After"]) >= 1
    assert response.json()["error"]["data"]["retry_after"] > 0
