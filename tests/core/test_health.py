import pytest

pytestmark = pytest.mark.django_db


def test_healthz(client):
    assert client.get("/healthz").json() == {"status": "ok"}


def test_readyz_reports_database_and_redis(client, settings):
    body = client.get("/readyz").json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] is True
    assert ("redis" in body["checks"]) == bool(settings.REDIS_URL)


def test_readyz_fails_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["redis"]["ok"] is False
