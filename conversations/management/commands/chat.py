"""``manage.py chat alice [--as NAME]``: talk to a persona in the terminal, streamed.

While a chat runs the terminal shows only the conversation: log records go to a log file
(``--log-file``, default ``var/logs/chat.log``), and only warnings and errors also reach stderr.
The persona's greeting opens a new conversation once and is stored as its first message, so
the model knows it has already greeted.
"""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from conversations import services
from conversations.models import Conversation, Message
from personamcp import hooks
from personamcp.exceptions import DomainError
from personamcp.jobs import wait_idle
from personamcp.logging import CorrelationIdFilter
from personas.selectors import persona_get

# Progress bars and library chatter that would otherwise land between the lines of the chat.
QUIET_ENV = {
    "TQDM_DISABLE": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "TRANSFORMERS_VERBOSITY": "error",
    "TOKENIZERS_PARALLELISM": "false",
}


def route_logs(path: Path) -> logging.Handler:
    """Send every log record to ``path``; leave only warnings and errors on the console."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    path.parent.mkdir(parents=True, exist_ok=True)
    root = logging.getLogger()
    handler = logging.FileHandler(path, encoding="utf-8")
    console_format = next((h.formatter for h in root.handlers if h.formatter), None)
    handler.setFormatter(
        console_format or logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s")
    )
    handler.addFilter(CorrelationIdFilter())
    for existing in root.handlers:
        if isinstance(existing, logging.StreamHandler) and not isinstance(
            existing, logging.FileHandler
        ):
            existing.setLevel(logging.WARNING)
    root.addHandler(handler)
    # Python warnings (e.g. from the model export) are for the log, not the conversation.
    logging.captureWarnings(True)
    py_warnings = logging.getLogger("py.warnings")
    py_warnings.handlers = [handler]
    py_warnings.propagate = False
    return handler


def greet(*, conversation: Conversation, persona) -> bool:
    """Store the persona's greeting as the first message of a new conversation."""
    if not persona.greeting:
        return False
    with transaction.atomic():
        if Message.objects.filter(conversation=conversation).exists():
            return False
        Message.objects.create(
            conversation=conversation,
            role=Message.Role.ASSISTANT,
            speaker=persona.name,
            content=persona.greeting,
            provider="greeting",
        )
        Conversation.objects.filter(pk=conversation.pk).update(
            message_count=F("message_count") + 1, last_message_at=timezone.now()
        )
    return True


class Command(BaseCommand):
    help = "Chat with a persona in the terminal; replies stream as they arrive. /quit ends."

    def add_arguments(self, parser) -> None:
        parser.add_argument("persona", help="persona id or slug")
        parser.add_argument("--as", dest="as_name", default="", help="your name (participant)")
        parser.add_argument("--context", default="", help="scene description put in the prompt")
        parser.add_argument(
            "--log-file",
            default="",
            help="where log records go while chatting (default: var/logs/chat.log)",
        )

    def handle(self, *args, persona: str, as_name: str, context: str, log_file: str, **options):
        log_path = Path(log_file) if log_file else Path(settings.VAR_DIR) / "logs" / "chat.log"
        handler = route_logs(log_path)
        try:
            self._chat(persona, as_name, context, log_path)
        finally:
            logging.getLogger().removeHandler(handler)
            handler.close()

    def _chat(self, persona: str, as_name: str, context: str, log_path: Path) -> None:
        try:
            target = persona_get(persona_id=persona)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        name = as_name.strip() or "terminal"
        participant = f"cli:{name}"
        out = self.stdout
        out.write(self.style.HTTP_INFO(f"(logs: {log_path})"))
        for _, warm_up in hooks.warm_ups:  # load the embedding model now, not mid-reply
            warm_up()
        conversation = services.conversation_get_or_start(
            persona=target, participant=participant, participant_name=name, platform="cli"
        )
        out.write(f"Talking to {target.name} as {name}. Type /quit to leave, /end to end.")
        if greet(conversation=conversation, persona=target):
            out.write(f"{target.name}: {target.greeting}")
        elif conversation.message_count:
            out.write(f"(continuing your conversation: {conversation.message_count} messages)")
        conversation_id = str(conversation.id)
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
            if conversation_id is None:  # after /end: a new conversation, greeted again
                conversation = services.conversation_get_or_start(
                    persona=target, participant=participant, participant_name=name, platform="cli"
                )
                conversation_id = str(conversation.id)
                greet(conversation=conversation, persona=target)
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
