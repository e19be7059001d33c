"""Request shapes of the OpenAI-compatible door (``/v1``).

Unlike the JSON-RPC params, unknown fields are ignored: OpenAI clients and chat front ends
(SillyTavern, Open WebUI) send many sampling options that a persona server has no use for, and
they must work unchanged.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, field_validator

Lenient = ConfigDict(extra="ignore")


class ChatMessage(BaseModel):
    model_config = Lenient

    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    # A string, or the list-of-parts form ({"type": "text", "text": ...}).
    content: str | list[dict[str, Any]] | None = None
    name: Annotated[str, StringConstraints(max_length=255)] | None = None

    def text(self) -> str:
        """The message's text (text parts joined; other parts, such as images, ignored)."""
        if isinstance(self.content, str):
            return self.content
        parts = self.content or []
        return "\n".join(
            str(p.get("text", "")) for p in parts if p.get("type") in ("text", "input_text")
        )


class StreamOptions(BaseModel):
    model_config = Lenient

    include_usage: bool = False


class ToolFunction(BaseModel):
    model_config = Lenient

    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None


class Tool(BaseModel):
    model_config = Lenient

    type: Literal["function"] = "function"
    function: ToolFunction


StopSeq = Annotated[str, StringConstraints(min_length=1, max_length=200)]


class ChatCompletionRequest(BaseModel):
    """``POST /v1/chat/completions``."""

    model_config = Lenient

    model: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    messages: Annotated[list[ChatMessage], Field(min_length=1, max_length=2000)]
    stream: bool = False
    stream_options: StreamOptions | None = None
    user: Annotated[str, StringConstraints(min_length=1, max_length=255)] | None = None
    max_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    max_completion_tokens: Annotated[int, Field(ge=1, le=1_000_000)] | None = None
    temperature: Annotated[float, Field(ge=0.0, le=2.0)] | None = None
    stop: StopSeq | Annotated[list[StopSeq], Field(max_length=4)] | None = None
    n: Annotated[int, Field(ge=1, le=1)] | None = None
    # Function tools: the persona's ``actions_available`` (chosen ones come back as tool_calls)
    tools: Annotated[list[Tool], Field(max_length=32)] | None = None

    def actions_available(self) -> list[dict] | None:
        if not self.tools:
            return None
        return [t.function.model_dump(exclude_none=True) for t in self.tools]

    @field_validator("stop")
    @classmethod
    def _stop_list(cls, value):
        return [value] if isinstance(value, str) else value

    @property
    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens
