"""Rooms: several personas in one conversation (services, the policies and the wire shape).

Every line said in a room is a ``RoomMessage``. A member persona answers through the normal
turn pipeline (``conversations.services.conversation_send_message``) in its own conversation
for the room (participant ``room:<room id>``, platform ``room``), with the room's name, its
participants and the last lines of the room as scene ``context``. The sender of a turn is the
one it answers: a participant, or, when personas talk among themselves, the speaking persona
(``sender=str(persona.id)``), so relationships between personas develop as they talk.

Who answers is decided by the room's policy (docs/conversations.md, "Rooms"):

- ``natural``: the personas addressed by name or slug answer, in order of mention; when
  nobody is addressed one persona answers: the one addressed most recently, then the most
  extraverted, then the first in member order, never the persona that spoke the last persona
  line when another member exists;
- ``round_robin``: the member after the last persona that spoke, in member order;
- ``addressed_only``: only the addressed personas (nobody addressed: no reply).

``room_step`` lets one persona speak per turn, chosen by the same policy from the last line
(never its speaker), answering that line.

In a spatial room (``rooms.spatial``) only the members within ``hearing_radius`` of the
speaker hear a line: the policy chooses among them (an addressed persona out of range does
not answer), ``natural`` prefers the nearer of equally addressed members (talkativeness is
extraversion weighed by closeness), each member's transcript holds only the lines it heard,
and the members that heard a line without answering it remember it as overheard (a shared
episodic memory they own, ``rooms.tasks.overhear``).
"""

from __future__ import annotations

import re
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations import services
from conversations.turn import turn_ttl, validate_content
from llm.actions import validate_definitions
from personamcp import events, jobs
from personamcp.exceptions import ValidationFailed
from personamcp.locks import busy_lock
from personas.models import Persona
from personas.selectors import persona_get
from rooms import spatial
from rooms.models import Room, RoomMember, RoomMessage
from rooms.schemas import RoomLineOut
from rooms.selectors import room_get, room_history, room_members
from rooms.spatial import Point, Scene

ReplyCallback = Callable[[dict], None]
ChunkCallback = Callable[[dict], None]
Access = Callable[[Persona], None]

POLICIES = tuple(Room.Policy.values)
# Words of a persona's name that do not address it on their own ("Master Elias Verne").
HONORIFICS = frozenset(
    [
        "mr",
        "mrs",
        "ms",
        "miss",
        "mister",
        "master",
        "sir",
        "lady",
        "lord",
        "dame",
        "madam",
        "doctor",
        "dr",
        "the",
        "captain",
        "professor",
        "father",
        "mother",
        "brother",
        "sister",
        "old",
        "young",
    ]
)


def _conf(name: str, default: Any) -> Any:
    return getattr(settings, name, default)


# --- who is addressed, who speaks next ----------------------------------------------------


def _name_patterns(persona: Persona) -> list[re.Pattern]:
    words = {persona.name.strip(), persona.slug, persona.slug.replace("-", " ").replace("_", " ")}
    words |= {
        w
        for w in re.findall(r"[^\W\d_]+", persona.name)
        if len(w) >= 3 and w.lower() not in HONORIFICS
    }
    return [re.compile(rf"(?<![\w-]){re.escape(w)}(?![\w-])", re.IGNORECASE) for w in words if w]


def addressed_personas(
    content: str, members: Sequence[Persona], *, exclude: Persona | None = None
) -> list[Persona]:
    """The members named in ``content`` (full name, slug or a name word), in order of first
    mention; ``exclude`` (the speaker) never addresses itself."""
    found: list[tuple[int, int, Persona]] = []
    for order, persona in enumerate(members):
        if exclude is not None and persona.id == exclude.id:
            continue
        positions = [m.start() for p in _name_patterns(persona) if (m := p.search(content))]
        if positions:
            found.append((min(positions), order, persona))
    return [persona for _, _, persona in sorted(found, key=lambda f: (f[0], f[1]))]


def _last_persona_speaker(lines: Sequence[RoomMessage]) -> uuid.UUID | None:
    for line in reversed(lines):
        if line.speaker_kind == RoomMessage.SpeakerKind.PERSONA and line.persona_id:
            return line.persona_id
    return None


def _natural_choice(
    members: Sequence[Persona],
    lines: Sequence[RoomMessage],
    *,
    avoid: set[uuid.UUID],
    closeness: dict[uuid.UUID, float] | None = None,
) -> Persona | None:
    """One persona when nobody is addressed: addressed most recently, then most talkative
    (extraversion, times ``closeness`` 0..1 to the speaker in a spatial room), then the first
    in member order; never one in ``avoid`` if another member exists."""
    candidates = [p for p in members if p.id not in avoid] or list(members)
    if not candidates:
        return None
    last_addressed: dict[uuid.UUID, int] = {}
    by_id = {p.id: p for p in members}
    for index, line in enumerate(lines):
        speaker = by_id.get(line.persona_id) if line.persona_id else None
        for persona in addressed_personas(line.content, members, exclude=speaker):
            last_addressed[persona.id] = index
    order = {p.id: i for i, p in enumerate(members)}
    near = closeness or {}
    return min(
        candidates,
        key=lambda p: (
            -last_addressed.get(p.id, -1),
            -p.extraversion * near.get(p.id, 1.0),
            order[p.id],
        ),
    )


def room_next_speakers(
    *,
    room: Room,
    content: str,
    lines: Sequence[RoomMessage],
    speaker: Persona | None = None,
    single: bool = False,
    hearers: dict[uuid.UUID, float] | None = None,
) -> list[Persona]:
    """Who answers ``content`` (said by ``speaker``, a member, or by a participant) under the
    room's policy, given the room's earlier ``lines`` (oldest first). ``single``: one persona
    at most (``room_step``). The speaker never answers itself.

    ``hearers`` (spatial rooms): ``persona id -> closeness`` 0..1 of the members in range of
    the speaker; only they may answer."""
    members = room_members(room)
    if hearers is not None:
        members = [p for p in members if p.id in hearers]
    others = [p for p in members if speaker is None or p.id != speaker.id]
    if not others:
        return []
    last_persona = _last_persona_speaker(lines)
    if speaker is not None:
        last_persona = speaker.id
    if room.policy == Room.Policy.ROUND_ROBIN:
        if last_persona is None:
            return [others[0]]
        ids = [p.id for p in members]
        start = ids.index(last_persona) + 1 if last_persona in ids else 0
        for offset in range(len(members)):
            candidate = members[(start + offset) % len(members)]
            if candidate.id != last_persona or len(members) == 1:
                return [candidate]
        return []
    addressed = addressed_personas(content, members, exclude=speaker)
    if addressed:
        return addressed[:1] if single else addressed
    if room.policy == Room.Policy.ADDRESSED_ONLY:
        return []
    avoid = {last_persona} if last_persona is not None else set()
    chosen = _natural_choice(others, lines, avoid=avoid, closeness=hearers)
    return [chosen] if chosen is not None else []


# --- services ------------------------------------------------------------------------------


def room_create(
    *,
    name: str,
    personas: Sequence[Persona],
    policy: str = Room.Policy.NATURAL,
    spatial_room: bool = False,
    hearing_radius: float | None = None,
) -> Room:
    """Create a room with these member personas (in this order; at least one, no repeats).

    ``spatial_room``: a scene where each member stands at the origin until moved and only
    those within ``hearing_radius`` (default ``ROOM_HEARING_RADIUS``) hear a line."""
    name = (name or "").strip()
    errors = []
    if not name:
        errors.append({"field": "name", "message": "must not be empty"})
    if policy not in POLICIES:
        errors.append({"field": "policy", "message": f"must be one of {', '.join(POLICIES)}"})
    if not personas:
        errors.append({"field": "persona_ids", "message": "at least one persona is needed"})
    max_members = int(_conf("ROOM_MAX_MEMBERS", 12))
    if len(personas) > max_members:
        errors.append({"field": "persona_ids", "message": f"at most {max_members} personas"})
    if len({p.id for p in personas}) != len(personas):
        errors.append({"field": "persona_ids", "message": "a persona is listed twice"})
    if hearing_radius is not None:
        if not spatial_room:
            errors.append(
                {"field": "hearing_radius", "message": "only a spatial room has a hearing radius"}
            )
        elif not hearing_radius > 0:
            errors.append({"field": "hearing_radius", "message": "must be a number > 0"})
    if errors:
        raise ValidationFailed(errors)
    with transaction.atomic():
        room = Room.objects.create(
            name=name[:200],
            policy=policy,
            spatial=bool(spatial_room),
            hearing_radius=(
                float(hearing_radius or spatial.default_hearing_radius()) if spatial_room else None
            ),
        )
        RoomMember.objects.bulk_create(
            [RoomMember(room=room, persona=p, position=i) for i, p in enumerate(personas)]
        )
        if room.spatial:
            spatial.place_members(room=room, personas=personas)
    return room_get(room_id=str(room.id))


def room_personas(*, persona_ids: Sequence[str], check: Access | None = None) -> list[Persona]:
    """Load the personas of ``persona_ids`` (ids or slugs; ``PersonaNotFound`` otherwise) and
    pass each to ``check`` (the caller's key scope)."""
    personas = []
    for ref in persona_ids:
        persona = persona_get(persona_id=ref)
        if check is not None:
            check(persona)
        personas.append(persona)
    return personas


def room_turn_lock(room: Room):
    """One ``room_send`` / ``room_step`` at a time per room, across processes (``Busy``).

    Yields a function that extends the lock; it is called before each reply."""
    return busy_lock(
        f"room-turn:{room.id}",
        ttl=turn_ttl(),
        message=f"room {room.id} is already generating replies",
    )


def _ensure_open(room: Room) -> None:
    if room.closed_at is not None:
        raise ValidationFailed([{"field": "room_id", "message": "this room is closed"}])


def _add_line(
    *,
    room: Room,
    speaker_kind: str,
    speaker_id: str,
    speaker_name: str,
    content: str,
    persona: Persona | None = None,
    message_id: int | None = None,
    where: Point | None = None,
) -> RoomMessage:
    with transaction.atomic():
        line = RoomMessage.objects.create(
            room=room,
            speaker_kind=speaker_kind,
            speaker_id=speaker_id[:255],
            speaker_name=speaker_name[:255],
            persona=persona,
            content=content,
            message_id=message_id,
            position=spatial.as_position(where) if where is not None else None,
        )
        events.publish(
            events.ROOM_MESSAGE,
            kind="room",
            keys=(str(room.id),),
            data=RoomLineOut.dump(line),
            persona_ids=[str(m.persona_id) for m in room.memberships.all()],  # who may see it
        )
    return line


def _heard(line: RoomMessage, listener: Point | None, radius: float) -> bool:
    """Whether a listener at ``listener`` heard ``line`` (lines of a room that is not spatial,
    or said before it kept positions, are heard by all)."""
    if listener is None or not line.position:
        return True
    return spatial.distance(spatial.point_of(line.position), listener) <= radius


def _transcript(
    lines: Sequence[RoomMessage],
    *,
    exclude_id: int | None,
    listener: Point | None = None,
    radius: float = 0.0,
) -> list[str]:
    count = int(_conf("ROOM_TRANSCRIPT_LINES", 20))
    if count <= 0:
        return []
    kept = [line for line in lines if line.id != exclude_id and _heard(line, listener, radius)][
        -count:
    ]
    return [f"{line.speaker_name or line.speaker_id}: {line.content}" for line in kept]


@dataclass(frozen=True)
class _Round:
    """What every reply of one ``room_send`` / ``room_step`` call shares."""

    room: Room
    lines: list[RoomMessage]
    scene: Scene | None
    stream: bool
    on_chunk: ChunkCallback | None
    on_reply: ReplyCallback | None
    cancel_event: threading.Event | None


def _reply(
    round_: _Round,
    persona: Persona,
    answering: RoomMessage,
    actions_available: list[dict] | None = None,
) -> dict:
    """``persona`` answers the line ``answering`` through the turn pipeline; the reply becomes
    a line of the room (appended to ``round_.lines``). In a spatial room (``round_.scene``) the
    persona's transcript holds the lines said within its earshot, and its reply is overheard."""
    room, lines, scene, stream = round_.room, round_.lines, round_.scene, round_.stream
    on_chunk, on_reply, cancel_event = round_.on_chunk, round_.on_reply, round_.cancel_event
    where = scene.where(str(persona.id)) if scene is not None else None
    conversation = services.conversation_get_or_start(
        persona=persona, participant=room.participant, participant_name=room.name, platform="room"
    )
    participants = [p.name for p in room_members(room)]
    if answering.speaker_kind == RoomMessage.SpeakerKind.PARTICIPANT:
        participants.append(answering.speaker_name or answering.speaker_id)
    chunk_callback = None
    if stream and on_chunk is not None:

        def chunk_callback(chunk: dict) -> None:
            on_chunk({**chunk, "room_id": str(room.id), "persona_id": str(persona.id)})

    result = services.conversation_send_message(
        persona=persona,
        content=answering.content,
        sender=answering.speaker_id,
        sender_name=answering.speaker_name or answering.speaker_id,
        conversation_id=str(conversation.id),
        context={
            "room": room.name,
            "participants": participants,
            "transcript": _transcript(
                lines,
                exclude_id=answering.id,
                listener=where,
                radius=scene.radius if scene is not None else 0.0,
            ),
        },
        platform="room",
        stream=stream,
        on_chunk=chunk_callback,
        cancel_event=cancel_event,
        actions_available=actions_available,
    )
    line = _add_line(
        room=room,
        speaker_kind=RoomMessage.SpeakerKind.PERSONA,
        speaker_id=str(persona.id),
        speaker_name=persona.name,
        content=result["response"],
        persona=persona,
        message_id=result["message_id"],
        where=where,
    )
    lines.append(line)
    if scene is not None:
        _overheard(scene, line, answerers=set())
    reply = {
        "persona_id": str(persona.id),
        "persona_slug": persona.slug,
        "persona_name": persona.name,
        "response": result["response"],
        "message_id": result["message_id"],
        "conversation_id": result["conversation_id"],
        "line_id": line.id,
        "emotion": result["emotion"],
        "expression": result["expression"],
        "actions": result["actions"],
        "triggers_fired": result["triggers_fired"],
    }
    if on_reply is not None:
        on_reply(reply)
    return reply


def _hearers(
    scene: Scene | None, where: Point | None, members: Sequence[Persona]
) -> dict[uuid.UUID, float] | None:
    """Spatial rooms: ``persona id -> closeness`` (1 beside the speaker, 0 at the edge of
    earshot) of the members in range of ``where``; ``None`` (everyone hears) otherwise."""
    if scene is None or where is None:
        return None
    radius = scene.radius or 1.0
    return {p.id: 1.0 - d / radius for p, d in scene.in_range(where, members)}


def _overheard(scene: Scene, line: RoomMessage, *, answerers: set[uuid.UUID]) -> None:
    """The members in earshot of ``line`` that neither said nor answer it remember it as
    overheard (a background job, after commit: embedding is slow)."""
    where = spatial.point_of(line.position) if line.position else scene.where(line.speaker_id)
    listeners = [
        str(p.id)
        for p, _ in scene.in_range(where, room_members(scene.room))
        if p.id not in answerers and p.id != line.persona_id
    ]
    if listeners:
        from rooms.tasks import overhear

        jobs.enqueue(overhear, line.id, listeners)


def _recent_lines(room: Room) -> list[RoomMessage]:
    # Enough lines for the transcript and for "addressed most recently".
    count = max(int(_conf("ROOM_TRANSCRIPT_LINES", 20)), 50)
    return room_history(room=room, limit=count)


def room_send(
    *,
    room: Room,
    content: str,
    sender: str,
    sender_name: str | None = None,
    stream: bool = False,
    on_chunk: ChunkCallback | None = None,
    on_reply: ReplyCallback | None = None,
    cancel_event: threading.Event | None = None,
    position: dict | None = None,
    actions_available: list[dict] | None = None,
) -> dict:
    """A participant says ``content`` in the room; the personas the policy picks answer.

    ``actions_available``: actions each answering persona may choose (``llm.actions``).

    ``position`` (spatial rooms only, else ``ValidationFailed`` naming it): the sender moves
    there first; only the members within earshot of the sender hear the line.

    The line and each reply are stored as room lines and broadcast (``room.message``).
    ``on_reply(reply)`` is called as each reply completes; ``on_chunk`` receives the streamed
    deltas (``{room_id, persona_id, conversation_id, index, delta}``) when ``stream``.
    Raises ``ValidationFailed`` for a closed room or an empty message, ``Busy`` while the
    room is already answering, and the turn pipeline's errors (``LLMUnavailable``,
    ``Cancelled``...); replies stored before an error stay in the room.

    Result: ``{room_id, line_id, replies: [{persona_id, persona_slug, persona_name,
    response, message_id, conversation_id, line_id, emotion, expression, actions,
    triggers_fired}]}``.
    """
    _ensure_open(room)
    validate_content(content)
    actions_available = validate_definitions(actions_available)
    if position is not None:
        spatial.require_spatial(room, field="position")
    sender = str(sender)[:255]
    sender_name = (sender_name or "").strip()[:255] or sender
    with room_turn_lock(room) as keep_lock:
        if position is not None:
            spatial.scene_set_position(
                room=room, entity_id=sender, point=spatial.point_of(position)
            )
        scene = spatial.scene_of(room)
        where = scene.where(sender) if scene is not None else None
        hearers = _hearers(scene, where, room_members(room))
        lines = _recent_lines(room)
        said = _add_line(
            room=room,
            speaker_kind=RoomMessage.SpeakerKind.PARTICIPANT,
            speaker_id=sender,
            speaker_name=sender_name,
            content=content,
            where=where,
        )
        speakers = room_next_speakers(room=room, content=content, lines=lines, hearers=hearers)
        lines.append(said)
        if scene is not None:
            _overheard(scene, said, answerers={p.id for p in speakers})
        round_ = _Round(room, lines, scene, stream, on_chunk, on_reply, cancel_event)
        replies = []
        for persona in speakers:
            keep_lock()
            replies.append(_reply(round_, persona, said, actions_available))
    return {"room_id": str(room.id), "line_id": said.id, "replies": replies}


def room_step(
    *,
    room: Room,
    turns: int = 1,
    stream: bool = False,
    on_chunk: ChunkCallback | None = None,
    on_reply: ReplyCallback | None = None,
    cancel_event: threading.Event | None = None,
) -> dict:
    """The personas talk among themselves for ``turns`` turns: each turn the persona the
    policy picks from the last line (never its speaker) answers that line, speaking to the
    room. Stops early when the policy picks nobody (``addressed_only`` with nobody named).

    Raises ``ValidationFailed`` for a closed room or a room with no line yet. Result:
    ``{room_id, replies: [...]}`` shaped like ``room_send``'s replies.
    """
    _ensure_open(room)
    max_turns = int(_conf("ROOM_MAX_STEP_TURNS", 20))
    if not 1 <= turns <= max_turns:
        raise ValidationFailed([{"field": "turns", "message": f"must be 1..{max_turns}"}])
    by_id = {p.id: p for p in room_members(room)}
    replies: list[dict] = []
    with room_turn_lock(room) as keep_lock:
        lines = _recent_lines(room)
        if not lines:
            raise ValidationFailed(
                [{"field": "room_id", "message": "the room has no messages yet: send one first"}]
            )
        scene = spatial.scene_of(room)
        round_ = _Round(room, lines, scene, stream, on_chunk, on_reply, cancel_event)
        for _ in range(turns):
            if cancel_event is not None and cancel_event.is_set():
                break
            last = lines[-1]
            speaker = by_id.get(last.persona_id) if last.persona_id else None
            said_at = spatial.point_of(last.position) if last.position else None
            if scene is not None and said_at is None:
                said_at = scene.where(last.speaker_id)
            nxt = room_next_speakers(
                room=room,
                content=last.content,
                lines=lines[:-1],
                speaker=speaker,
                single=True,
                hearers=_hearers(scene, said_at, list(by_id.values())),
            )
            if not nxt:
                break
            keep_lock()
            replies.append(_reply(round_, nxt[0], last))
    return {"room_id": str(room.id), "replies": replies}


def room_close(*, room: Room) -> Room:
    """Close a room: no more lines; each member's conversation for it is ended (with its
    summary memory). Closing twice is harmless."""
    if room.closed_at is not None:
        return room
    from conversations.models import Conversation

    with transaction.atomic():
        updated = Room.objects.filter(pk=room.pk, closed_at__isnull=True).update(
            closed_at=timezone.now()
        )
    if updated:
        open_conversations = Conversation.objects.select_related("persona").filter(
            participant=room.participant, ended_at__isnull=True
        )
        for conversation in open_conversations:
            services.conversation_end(conversation=conversation)
    return room_get(room_id=str(room.id))


def overheard_text(line: RoomMessage) -> str:
    return f'In {line.room.name} I overheard {line.speaker_name or line.speaker_id} say: "{line.content}"'


def room_overhear(*, line_id: int, persona_ids: Sequence[str]) -> list[int]:
    """The personas ``persona_ids`` remember the room line ``line_id`` as overheard: an
    episodic memory each owns, ``shared`` (its relations may recall it too), about the
    speaker, from the speaking persona when a persona said it. The text is embedded once,
    outside any transaction. Returns the new memory ids (none for a line that is gone)."""
    from memory.embeddings import embed_one
    from memory.services import memory_store

    line = RoomMessage.objects.select_related("room", "persona").filter(pk=line_id).first()
    if line is None:
        return []
    text = overheard_text(line)
    vector = embed_one(text)
    listeners = Persona.objects.filter(id__in=[uuid.UUID(str(p)) for p in persona_ids])
    stored = []
    for persona in listeners:
        memory = memory_store(
            persona=persona,
            content=text,
            kind="episodic",
            visibility="shared",
            about=line.speaker_id,
            source_persona=line.persona,
            metadata={"source": "overheard", "room_id": str(line.room_id), "line_id": line.id},
            embedding=vector,
        )
        stored.append(memory.id)
    return stored
