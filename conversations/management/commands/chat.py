"""``manage.py chat alice [--as NAME]``: talk to a persona in the terminal, streamed."""

from __future__ import annotations

import sys

from django.core.management.base import BaseCommand, CommandError

from conversations import services
from personamcp.exceptions import DomainError
from personamcp.jobs import wait_idle
from personas.selectors import persona_get


class Command(BaseCommand):
    help = "Chat with a persona in the terminal; replies stream token by token. /quit ends."

    def add_arguments(self, parser) -> None:
        parser.add_argument("persona", help="persona id or slug")
        parser.add_argument("--as", dest="as_name", default="", help="your name (participant)")
        parser.add_argument("--context", default="", help="scene description put in the prompt")

    def handle(self, *args, persona: str, as_name: str, context: str, **options) -> None:
        try:
            target = persona_get(persona_id=persona)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        name = as_name.strip() or "terminal"
        participant = f"cli:{name}"
        out = self.stdout
        out.write(f"Talking to {target.name} as {name}. Type /quit to leave, /end to end.")
        if target.greeting:
            out.write(f"{target.name}: {target.greeting}")
        conversation_id = None
        while True:
            out.write("> ", ending="")
            out.flush()
            line = sys.stdin.readline()
            if not line:
                break
            text = line.strip()
            if not text:
                continue
            if text in {"/quit", "/exit"}:
                break
            if text == "/end":
                if conversation_id:
                    from conversations.selectors import conversation_get

                    result = services.conversation_end(
                        conversation=conversation_get(conversation_id=conversation_id)
                    )
                    out.write(f"(conversation ended; summary: {result['summary']})")
                    conversation_id = None
                continue
            out.write(f"{target.name}: ", ending="")
            out.flush()

            def chunk(c: dict) -> None:
                out.write(c["delta"], ending="")
                out.flush()

            try:
                result = services.conversation_send_message(
                    persona=target,
                    content=text,
                    sender=participant,
                    sender_name=name,
                    conversation_id=conversation_id,
                    context={"scene": context} if context else None,
                    platform="cli",
                    stream=True,
                    on_chunk=chunk,
                )
            except DomainError as exc:
                out.write("")
                self.stderr.write(f"error: {exc.message}")
                continue
            conversation_id = result["conversation_id"]
            out.write("")
            out.write(
                self.style.HTTP_INFO(
                    f"  [{result['emotion']}, {len(result['memories_used'])} memories, "
                    f"{result['timing']['total_ms']:.0f} ms]"
                )
            )
        wait_idle(timeout=30)
        out.write("bye")
