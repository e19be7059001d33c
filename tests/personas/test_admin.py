import io

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from PIL import Image

from personas.models import Persona
from tests.conftest import persona_admin_form

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(client):
    user = get_user_model().objects.create_superuser("boss", "", "pw-123456")
    client.force_login(user)
    return client


def _png(name="face.png"):
    buf = io.BytesIO()
    Image.new("RGB", (4, 4), (0, 0, 255)).save(buf, format="PNG")
    return SimpleUploadedFile(name, buf.getvalue(), content_type="image/png")


def test_list_search_and_tag_filter_pages_load(staff, demo):
    assert staff.get("/admin/personas/persona/").status_code == 200
    page = staff.get("/admin/personas/persona/?q=innkeeper").content.decode()
    assert "Alice Thornbury" in page and "Rook" not in page
    tag = demo["rook"].tags.get(name="rogue")
    filtered = staff.get(f"/admin/personas/persona/?tags__id__exact={tag.id}").content.decode()
    assert "Rook" in filtered and "Alice Thornbury" not in filtered


def test_add_with_avatar_creates_persona_state_and_tags(staff, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = staff.post("/admin/personas/persona/add/", persona_admin_form(avatar=_png()))
    assert response.status_code == 302, response.content.decode()[:2000]
    persona = Persona.objects.get(slug="admin-made")
    assert persona.openness == 0.7
    assert sorted(t.name for t in persona.tags.all()) == ["alpha", "beta"]
    assert persona.state.emotion == "neutral"
    assert persona.avatar.name.startswith("avatars/")
    change = staff.get(f"/admin/personas/persona/{persona.pk}/change/").content.decode()
    assert persona.avatar.url in change  # the preview


def test_change_and_out_of_range_error(staff, demo):
    alice = demo["alice"]
    url = f"/admin/personas/persona/{alice.pk}/change/"
    state = {
        "state-TOTAL_FORMS": "1",
        "state-INITIAL_FORMS": "1",
        "state-0-id": str(alice.state.pk),
        "state-0-persona": str(alice.pk),
        "state-0-mood": "0.5",
        "state-0-emotion": "happy",
        "state-0-energy": "0.5",
        "state-0-social_battery": "0.5",
        "state-0-stress": "0.1",
    }
    bad = staff.post(url, persona_admin_form(name="Alice", slug="alice", openness="1.5", **state))
    assert bad.status_code == 200 and "less than or equal to 1.0" in bad.content.decode()
    ok = staff.post(url, persona_admin_form(name="Alice T.", slug="alice", **state))
    assert ok.status_code == 302
    alice.refresh_from_db()
    assert alice.name == "Alice T." and alice.state.emotion == "happy"


def test_delete_through_admin(staff, demo):
    pip = demo["pip"]
    response = staff.post(f"/admin/personas/persona/{pip.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Persona.objects.filter(slug="pip").exists()


def test_api_key_admin_shows_key_once(staff):
    from personamcp.models import ApiKey

    response = staff.post(
        "/admin/personamcp/apikey/add/",
        {"name": "game", "scope": "write", "is_active": "on"},
        follow=True,
    )
    key = ApiKey.objects.get(name="game")
    text = response.content.decode()
    assert "pmcp_" + key.prefix in text
    listing = staff.get("/admin/personamcp/apikey/").content.decode()
    assert key.key_hash not in listing
