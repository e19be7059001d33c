"""XSS payloads stored through the API, rendered in headless Chromium on the admin and the
chat page of a real server: nothing runs, every page works under the CSP (no violations)."""

from __future__ import annotations

import pytest

from tests.web.conftest import STAFF_PASSWORD, Browser

pytestmark = [pytest.mark.browser, pytest.mark.e2e]

MARK = "__pwned"
PAYLOADS = [
    f"<script>window.{MARK}=1</script>",
    f'"><img src=x onerror="window.{MARK}=2">',
    f"'><svg onload=window.{MARK}=3>",
    f"javascript:window.{MARK}=4",
    f"</textarea></title><script>window.{MARK}=5</script>",
    f"{{{{7*7}}}}<iframe srcdoc='<script>parent.{MARK}=6</script>'></iframe>",
]
# Before any page script: count executed payloads and CSP violations; never answer dialogs.
PROBE = """
window.__violations = [];
document.addEventListener('securitypolicyviolation',
  e => window.__violations.push(e.violatedDirective + ' ' + (e.blockedURI || 'inline')));
"""


@pytest.fixture
def stored_payloads(transactional_db):
    """Personas, memories, a key and audit rows whose text is an XSS payload."""
    from django.contrib.auth import get_user_model

    from memory.services import memory_store
    from personamcp.actor import acting
    from personamcp.services import api_key_create
    from personas import services

    get_user_model().objects.create_user(username="mara", password=STAFF_PASSWORD, is_staff=True,
                                         is_superuser=True)  # fmt: skip
    personas = []
    with acting("command"):
        for i, payload in enumerate(PAYLOADS):
            persona = services.persona_create(
                name=f"X{i} {payload}"[:100],
                slug=f"x{i}",
                description=payload,
                greeting=payload,
                speaking_style=payload,
                tags=[f"t{i}"],
            )
            memory_store(persona=persona, content=payload, importance=0.5)
            personas.append(persona)
        api_key_create(name=PAYLOADS[0][:100], scope="read")
    from audit.models import AuditEntry
    from memory.models import Memory

    # Read now: the ORM refuses to run while Playwright's event loop is active.
    return {
        "personas": [(p.pk, p.slug, p.name, p.description) for p in personas],
        "audit_ids": list(AuditEntry.objects.values_list("id", flat=True)[:3]),
        "memory_ids": list(Memory.objects.values_list("id", flat=True)[:2]),
    }


def _login(page, base: str) -> None:
    page.goto(base + "/admin/login/")
    page.fill("#id_username", "mara")
    page.fill("#id_password", STAFF_PASSWORD)
    page.click("input[type=submit]")
    page.wait_for_url(base + "/admin/")


def _visit(browser, url: str) -> None:
    page = browser.page
    page.goto(url)
    page.wait_for_load_state("load")
    assert page.evaluate(f"typeof window.{MARK}") == "undefined", url
    assert page.evaluate("window.__violations") == [], url


def test_payloads_never_run_in_admin_or_chat(live_server_proc, stored_payloads, tmp_path):
    srv = live_server_proc(env={"PERSONAMCP_DEV_MODE": "0"})
    browser = Browser(tmp_path)
    dialogs: list[str] = []
    try:
        browser.context.add_init_script(PROBE)
        browser.page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        _login(browser.page, srv.http)
        audit_ids, memory_ids = stored_payloads["audit_ids"], stored_payloads["memory_ids"]
        personas = stored_payloads["personas"]
        pages = [
            "/admin/",
            "/admin/personas/persona/",
            "/admin/personas/persona/?q=script",
            f"/admin/personas/persona/{personas[1][0]}/change/",
            "/admin/memory/memory/",
            *(f"/admin/memory/memory/{m}/change/" for m in memory_ids),
            "/admin/personamcp/apikey/",
            "/admin/audit/auditentry/",
            *(f"/admin/audit/auditentry/{a}/change/" for a in audit_ids),
            "/admin/personas/tag/",
            "/admin/dashboard/graph/",
            f"/admin/dashboard/personas/{personas[1][1]}/",
        ]
        for path in pages:
            _visit(browser, srv.http + path)
            # The payload text is shown as text, not as markup.
            assert browser.page.locator("script:not([src])").count() == 0, path

        page = browser.page
        _visit(browser, srv.http + "/")
        page.wait_for_selector('#conn-status[data-state="online"]')
        page.wait_for_selector('.persona-item[data-slug="x1"]')
        for _, slug, name, description in personas[:3]:
            page.click(f'.persona-item[data-slug="{slug}"]')
            page.wait_for_function(
                "t => document.querySelector('#persona-title')?.textContent === t", arg=name
            )
            assert page.text_content(".persona-description") == description
        page.fill("#message-input", PAYLOADS[1])
        page.keyboard.press("Enter")
        # The server's first turn loads the embedding model: on a busy machine that alone can
        # take longer than the default 15 s. Wait for the reply to settle, then check how.
        settled = page.wait_for_selector(
            ".msg-assistant:is([data-state=complete],[data-state=failed],[data-state=cancelled])",
            timeout=90_000,
        )
        assert settled.get_attribute("data-state") == "complete", settled.text_content()
        assert page.text_content(".msg-user .msg-body") == PAYLOADS[1]
        assert page.evaluate(f"typeof window.{MARK}") == "undefined"
        assert page.evaluate("window.__violations") == []
        assert dialogs == [] and browser.external_requests == []
        assert [e for e in browser.console_errors if "Content Security Policy" in e] == []
    finally:
        browser.close()
