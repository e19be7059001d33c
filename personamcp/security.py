"""Browser-side hardening: a strict Content-Security-Policy, and deploy checks of our own.

The policy allows scripts only from this origin (or carrying the per-request nonce): no inline
script, no ``eval``, no plugins, no framing, no foreign form targets. Templates that truly
need an inline ``<script>`` or ``<style>`` element write ``nonce="{{ csp_nonce }}"`` (the
context processor below provides it). Inline ``style=""`` attributes stay allowed
(``style-src-attr``): the admin and Swagger UI use them and they cannot run script.
"""

from __future__ import annotations

import secrets
from contextlib import nullcontext

from django.conf import settings
from django.core import checks

from personamcp.middleware import HybridMiddleware

HEADER = "Content-Security-Policy"


def policy(nonce: str) -> str:
    """The CSP header value for one response."""
    extra_connect = " ".join(getattr(settings, "CSP_CONNECT_SRC", ()))
    directives = {
        "default-src": "'self'",
        "script-src": f"'self' 'nonce-{nonce}'",
        "script-src-attr": "'none'",
        "style-src": f"'self' 'nonce-{nonce}'",
        "style-src-attr": "'unsafe-inline'",
        "img-src": "'self' data: blob:",
        "font-src": "'self' data:",
        "connect-src": f"'self' {extra_connect}".strip(),
        "worker-src": "'self' blob:",
        "object-src": "'none'",
        "base-uri": "'none'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


class ContentSecurityPolicyMiddleware(HybridMiddleware):
    """Adds the policy (with a fresh nonce) to every response that has none of its own."""

    def around(self, request):
        request.csp_nonce = secrets.token_urlsafe(16)
        return nullcontext()

    def finish(self, request, response):
        if HEADER not in response:
            response[HEADER] = policy(request.csp_nonce)
        response.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        return response


def csp_context(request) -> dict:
    """Template context: ``csp_nonce`` for the rare inline element that needs one."""
    return {"csp_nonce": getattr(request, "csp_nonce", "")}


@checks.register(checks.Tags.security, deploy=True)
def deploy_checks(app_configs=None, **kwargs) -> list[checks.CheckMessage]:
    """``manage.py check --deploy``: Persona-MCP's own production rules."""
    problems: list[checks.CheckMessage] = []
    if settings.DEV_MODE:
        problems.append(
            checks.Error(
                "PERSONAMCP_DEV_MODE=1 lets anonymous clients act as admin.",
                hint="Unset PERSONAMCP_DEV_MODE on any server others can reach.",
                id="personamcp.E001",
            )
        )
    if "*" in settings.ALLOWED_ORIGINS:
        problems.append(
            checks.Warning(
                "PERSONAMCP_ALLOWED_ORIGINS contains '*': any web page may open /mcp with a "
                "visitor's staff session.",
                hint="List the exact origins (scheme://host:port) of your web frontends.",
                id="personamcp.W001",
            )
        )
    if not settings.PRODUCTION:
        problems.append(
            checks.Warning(
                "PERSONAMCP_PRODUCTION is not set: HSTS, secure cookies and the HTTPS redirect "
                "are off.",
                hint="Set PERSONAMCP_PRODUCTION=1 behind TLS (docs/security.md).",
                id="personamcp.W002",
            )
        )
    return problems
