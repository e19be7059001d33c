"""Fixtures for the web chat page: headless Debian Chromium driven by Playwright, a staff user,
and (scaled mode) a Celery worker so that post-turn mood/relationship updates happen."""

from __future__ import annotations

import io
import os
from pathlib import Path
from urllib.parse import urlparse

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STAFF_PASSWORD = "correct-horse-battery"


@pytest.fixture
def staff_user(transactional_db):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_user(
        username="mara", password=STAFF_PASSWORD, first_name="Mara", is_staff=True
    )


@pytest.fixture
def demo_cast(transactional_db):
    """The demo personas, committed so that a server process sees them; pip has an avatar."""
    from django.core.management import call_command

    from personas.models import Persona

    with open(os.devnull, "w") as devnull:
        call_command("seed_demo", stdout=devnull)
    # One persona with an uploaded avatar (the others show initials).
    from django.core.files.base import ContentFile
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (48, 48), (200, 120, 40)).save(buffer, format="PNG")
    pip = Persona.objects.get(slug="pip")
    pip.avatar.save(f"web-test-{os.getpid()}.png", ContentFile(buffer.getvalue()), save=True)
    # State loaded now: the ORM refuses to run while Playwright's event loop is active.
    yield {p.slug: p for p in Persona.objects.select_related("state")}
    pip.avatar.storage.delete(pip.avatar.name)


class Browser:
    """One headless Chromium with a fresh profile; records every request that leaves loopback."""

    def __init__(self, tmp_path: Path, *, bypass_csp: bool = False):
        from playwright.sync_api import sync_playwright

        assert Path(CHROMIUM).exists(), (
            "Chromium is missing: apt-get install -y chromium (never `playwright install`)"
        )
        self._pw = sync_playwright().start()
        self.context = self._pw.chromium.launch_persistent_context(
            user_data_dir=str(tmp_path / "chromium-profile"),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
            # Playwright polls string predicates with eval, which the pages' CSP forbids;
            # tests that poll may bypass it (tests/security checks the CSP in a real page).
            bypass_csp=bypass_csp,
        )
        self.context.set_default_timeout(15_000)
        self.external_requests: list[str] = []
        self.console_errors: list[str] = []
        self.context.route("**/*", self._only_loopback)
        self.page = self.context.pages[0] if self.context.pages else self.context.new_page()
        self.page.on("console", lambda m: m.type == "error" and self.console_errors.append(m.text))
        self.page.on("pageerror", lambda e: self.console_errors.append(str(e)))

    def _only_loopback(self, route) -> None:
        url = route.request.url
        if urlparse(url).hostname in ("127.0.0.1", "localhost") or url.startswith("data:"):
            route.continue_()
        else:
            self.external_requests.append(url)
            route.abort()

    def close(self) -> None:
        self.context.close()
        self._pw.stop()


@pytest.fixture
def browser(tmp_path):
    """A Playwright-driven headless Chromium (Debian's package, a fresh profile)."""
    b = Browser(tmp_path)
    yield b
    b.close()
