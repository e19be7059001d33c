"""The audit log: every door is attributed, before/after of changed fields, secrets never
stored, rows never editable, filterable and exportable in the admin."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from asgiref.sync import sync_to_async

from audit.models import AuditEntry, AuditImmutable
from tests.conftest import ROOT, persona_admin_form, server_env

pytestmark = pytest.mark.django_db


def _rows(object_type: str, **filters) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(object_type=object_type, **filters).order_by("id"))


def test_rest_changes_name_the_key_and_the_changed_fields(db, api_as):
    from personamcp.models import ApiKey

    api = api_as("write")
    key = ApiKey.objects.get()
    created = api.post("/api/personas/", {"name": "Audited", "greeting": "Hi"}, format="json")
    assert created.status_code == 201
    api.patch("/api/personas/audited/", {"greeting": "Hello", "name": "Audited"}, format="json")
    api.delete("/api/personas/audited/")
    create, update, delete = _rows("personas.Persona")
    for row in (create, update, delete):
        assert (row.door, row.actor_kind, row.api_key_id) == ("rest", "key", key.pk)
        assert row.actor == "key:test" and row.object_id == created.json()["id"]
    assert create.action == "create" and create.changes["greeting"] == [None, "Hi"]
    assert update.action == "update" and update.changes == {"greeting": ["Hi", "Hello"]}
    assert delete.action == "delete" and delete.changes["name"] == ["Audited", None]


@pytest.mark.django_db(transaction=True)
async def test_rpc_changes_are_attributed_to_the_key(rpc_connect, demo, make_key):
    client = await rpc_connect(token=await sync_to_async(make_key)("write", name="game"))
    await client.result("persona.update", {"persona_id": "alice", "greeting": "Ahoy"})
    memory = await client.result("memory.store", {"persona_id": "alice", "content": "I met Bo"})
    await client.result("memory.delete", {"memory_id": memory["id"]})

    def check():
        update = _rows("personas.Persona", action="update")[-1]
        assert (update.door, update.actor) == ("rpc", "key:game")
        assert update.changes["greeting"][1] == "Ahoy"
        mem = _rows("memory.Memory", object_id=str(memory["id"]))
        assert [m.action for m in mem] == ["create", "delete"]
        assert all(m.door == "rpc" and m.actor == "key:game" for m in mem)
        assert mem[0].changes["content"] == [None, "I met Bo"]
        assert "embedding" not in mem[0].changes

    await sync_to_async(check)()


def test_admin_changes_name_the_user(demo, staff_client):
    alice = demo["alice"]
    data = persona_admin_form(name=alice.name, slug=alice.slug, greeting="From the admin")
    response = staff_client.post(f"/admin/personas/persona/{alice.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    row = [r for r in _rows("personas.Persona", action="update") if "greeting" in r.changes][-1]
    assert (row.door, row.actor_kind, row.actor) == ("admin", "user", "user:boss")
    tags = [r for r in _rows("personas.Persona", action="update") if "tags" in r.changes]
    assert [r.door for r in tags[-2:]] == ["admin", "admin"]  # the form's tags: old out, new in
    assert row.user_id is not None and row.changes["greeting"][1] == "From the admin"


def test_api_key_and_bot_secrets_never_reach_the_log(db, staff_client, api_as, demo):
    response = staff_client.post(
        "/admin/personamcp/apikey/add/", {"name": "ops", "scope": "read", "is_active": "on"}
    )
    assert response.status_code == 302
    admin_api = api_as("admin")
    password, token = "hunter2-very-secret", "syt_secret_access_token_value"
    response = admin_api.post(
        "/api/bots/",
        {
            "persona": "alice",
            "homeserver": "http://127.0.0.1:1",
            "user_id": "@alice:localhost",
            "password": password,
            "access_token": token,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    bot_id = response.json()["id"]
    admin_api.patch(f"/api/bots/{bot_id}/", {"password": "another-secret-pw"}, format="json")
    from personamcp.models import ApiKey

    hashes = list(ApiKey.objects.values_list("key_hash", flat=True))
    dump = json.dumps([[r.actor, r.object_repr, r.changes] for r in AuditEntry.objects.all()])
    for secret in (password, token, "another-secret-pw", *hashes):
        assert secret not in dump
    key_row = _rows("personamcp.ApiKey", action="create", object_repr__startswith="ops")[-1]
    assert key_row.changes["key_hash"] == [None, "[redacted]"] and key_row.door == "admin"
    bot_rows = _rows("bots.BotAccount")
    assert bot_rows[0].changes["password"] == [None, "[redacted]"]
    assert bot_rows[-1].changes["password"] == ["[redacted]", "[redacted]"]


def test_api_key_persona_restriction_changes_are_logged(db, demo):
    from personamcp.services import api_key_create

    key, _ = api_key_create(name="limited", scope="read", personas=[demo["alice"]])
    row = _rows("personamcp.ApiKey", action="update")[-1]
    assert row.changes == {"personas": {"added": [str(demo["alice"].pk)]}}
    assert row.object_id == str(key.pk)


def test_persona_delete_cascade_is_one_row(db, demo):
    from memory.services import memory_store
    from personas import services

    for i in range(3):
        memory_store(persona=demo["rook"], content=f"memory {i}", importance=0.5)
    AuditEntry.objects.all()._raw_delete(AuditEntry.objects.db)  # a clean slate for counting
    services.persona_delete(persona=demo["rook"])
    assert [(r.object_type, r.action) for r in AuditEntry.objects.all()] == [
        ("personas.Persona", "delete")
    ]


def test_bulk_created_memories_are_logged(db, demo):
    from memory.services import memory_store_many
    from personamcp.actor import acting

    with acting("command"):
        stored = memory_store_many(
            persona=demo["pip"], items=[{"content": "one"}, {"content": "two"}], publish=False
        )
    ids = {str(m.id) for m in stored}
    assert ids <= {r.object_id for r in _rows("memory.Memory", action="create")}


def test_shell_and_commands_are_their_own_door(transactional_db, demo):
    code = (
        "from personas.models import Persona; from personas import services; "
        "services.persona_update(persona=Persona.objects.get(slug='pip'), greeting='shell')"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT, env=server_env(), check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    row = _rows("personas.Persona", action="update")[-1]
    assert (row.door, row.actor_kind, row.actor) == ("shell", "system", "manage.py shell")


def test_rows_refuse_every_change(db, demo):
    from personas import services

    services.persona_update(persona=demo["alice"], greeting="x")
    row = AuditEntry.objects.first()
    row.actor = "someone else"
    with pytest.raises(AuditImmutable):
        row.save()
    with pytest.raises(AuditImmutable):
        row.delete()
    with pytest.raises(AuditImmutable):
        AuditEntry.objects.filter(pk=row.pk).update(actor="x")
    with pytest.raises(AuditImmutable):
        AuditEntry.objects.all().delete()
    assert AuditEntry.objects.get(pk=row.pk).actor != "someone else"


def test_admin_lists_filters_and_never_edits(db, demo, staff_client, api_as):
    from personas import services

    services.persona_update(persona=demo["alice"], greeting="shell-made")
    api_as("write").patch("/api/personas/pip/", {"greeting": "rest-made"}, format="json")
    page = staff_client.get("/admin/audit/auditentry/?door__exact=rest")
    assert page.status_code == 200
    body = page.content.decode()
    assert "Pip Merriweather" in body and "Alice Thornbury" not in body
    assert "Export CSV" in body
    row = AuditEntry.objects.first()
    assert staff_client.get("/admin/audit/auditentry/add/").status_code == 403
    detail = staff_client.get(f"/admin/audit/auditentry/{row.pk}/change/")
    assert detail.status_code == 200 and 'name="_save"' not in detail.content.decode()
    assert staff_client.post(f"/admin/audit/auditentry/{row.pk}/change/", {}).status_code == 403
    assert staff_client.get(f"/admin/audit/auditentry/{row.pk}/delete/").status_code == 403
    response = staff_client.post(
        "/admin/audit/auditentry/",
        {"action": "delete_selected", "_selected_action": [row.pk]},
    )
    assert AuditEntry.objects.filter(pk=row.pk).exists()
    del response


def test_csv_export_follows_the_filters(db, demo, staff_client, api_as):
    from personamcp.actor import acting
    from personas import services

    api_as("write").patch("/api/personas/pip/", {"greeting": "rest-made"}, format="json")
    response = staff_client.get("/admin/audit/auditentry/export/?door__exact=rest")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert rows and all(r["door"] == "rest" for r in rows)
    assert json.loads(rows[0]["changes"])["greeting"][1] == "rest-made"
    with acting("shell"):
        services.persona_update(persona=demo["rook"], greeting="=HYPERLINK('http://x')")
    everything = staff_client.get("/admin/audit/auditentry/export/")
    exported = list(csv.DictReader(io.StringIO(b"".join(everything.streaming_content).decode())))
    assert {r["door"] for r in exported} >= {"rest", "shell"}
    assert all(not r["changes"].startswith("=") for r in exported)
    anonymous = type(staff_client)()
    assert anonymous.get("/admin/audit/auditentry/export/").status_code == 302
