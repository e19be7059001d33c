"""Matrix message content of a bot's text: Markdown rendered to ``formatted_body``, long
replies split into several messages."""

from __future__ import annotations

from markdown_it import MarkdownIt

_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False}).enable("strikethrough")


def split_message(text: str, limit: int) -> list[str]:
    """Split a reply into Matrix messages of at most ``limit`` characters, preferring
    paragraph, then line, then sentence, then word boundaries."""
    text = text.strip()
    parts: list[str] = []
    while len(text) > limit:
        window = text[:limit]
        cut = -1
        for sep in ("\n\n", "\n", ". ", "! ", "? ", " "):
            pos = window.rfind(sep)
            if pos > limit // 3:
                cut = pos + len(sep)
                break
        if cut <= 0:
            cut = limit
        parts.append(text[:cut].strip())
        text = text[cut:].strip()
    if text:
        parts.append(text)
    return parts


def text_content(text: str, *, msgtype: str = "m.text") -> dict:
    """``text`` as Matrix content, with ``formatted_body`` only when the Markdown has any."""
    content: dict = {"msgtype": msgtype, "body": text}
    html = _markdown.render(text).strip()
    plain = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    plain = plain.replace('"', "&quot;")
    if html != f"<p>{plain}</p>":
        content["format"] = "org.matrix.custom.html"
        content["formatted_body"] = html
    return content
