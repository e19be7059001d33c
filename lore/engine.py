"""The World Info (lorebook) engine: which entries reach the prompt of one turn, and why.

A pure module: no database, no Django. ``compile_entries`` turns entries (plain dicts in the
Character Card V2/V3 ``character_book`` entry shape, SillyTavern's extras in ``extensions``)
into matchers once; ``select_entries`` scans the recent messages for a turn and returns the
activated entries with the keys that fired them.

Semantics (Character Card V2/V3 spec, SillyTavern World Info):

- The scan buffer is the last ``scan_depth`` messages of the history plus the new message
  (``speaker: text`` lines when ``include_names``). An entry's own ``extensions.scan_depth``
  overrides the book's. Scan depth 0 scans only the new message.
- ``keys`` match case-insensitively unless ``case_sensitive`` (entry, or
  ``extensions.case_sensitive``, or the book default). With ``match_whole_words`` a one-word key
  matches only as a whole word; a key with spaces matches as written. With ``use_regex`` (or a
  key written ``/pattern/flags``) a key is a JavaScript-style regular expression; flags ``i``,
  ``m``, ``s``, ``u``, ``g``, ``y`` are understood (``g``/``y``/``u`` do not change a search).
- ``selective`` entries also test ``secondary_keys`` with ``extensions.selectiveLogic``:
  0 AND ANY, 1 NOT ALL, 2 NOT ANY, 3 AND ALL (SillyTavern's numbering). No secondary keys: the
  primary match alone decides.
- ``constant`` entries always fire (when ``enabled``). Disabled entries never fire.
- ``extensions.probability`` (0..100) with ``useProbability`` rolls once per activation.
- Recursive scanning (book ``recursive_scanning``): the content of fired entries (unless
  ``prevent_recursion``) is scanned again for the keys of the entries not fired yet (unless
  ``exclude_recursion``); ``delay_until_recursion`` entries only fire from such a pass. Each
  entry fires at most once, and at most ``max_recursion_steps`` passes run: a chain longer than
  that stops there and the selection says so (``recursion_capped``).
- Token budget: fired entries are kept by ``constant`` first, then ``priority`` (default
  ``insertion_order``) highest first, while their content fits in ``token_budget``; the rest are
  reported as dropped. The kept entries are returned in insertion order (``insertion_order``
  ascending: higher numbers sit closer to the end of the prompt).
- Positions: ``before_char`` / ``after_char`` (around the character definition), ``at_depth``
  (a message ``extensions.depth`` turns from the end, with ``extensions.role``),
  ``before_examples`` / ``after_examples`` (around the example dialogue), ``an_top`` /
  ``an_bottom`` (SillyTavern's author's note: after the history), ``outlet``.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

try:  # a C automaton: the scan of a 10,000-entry book stays well under a millisecond
    import ahocorasick as _ahocorasick
except ImportError:  # pragma: no cover - the pure-Python index below still works
    _ahocorasick = None

AND_ANY, NOT_ALL, NOT_ANY, AND_ALL = 0, 1, 2, 3
LOGIC_NAMES = {AND_ANY: "AND ANY", NOT_ALL: "NOT ALL", NOT_ANY: "NOT ANY", AND_ALL: "AND ALL"}
# SillyTavern's numeric positions (``extensions.position``) and our names for them.
POSITIONS = {
    0: "before_char",
    1: "after_char",
    2: "an_top",
    3: "an_bottom",
    4: "at_depth",
    5: "before_examples",
    6: "after_examples",
    7: "outlet",
}
POSITION_NUMBERS = {name: number for number, name in POSITIONS.items()}
ROLES = {0: "system", 1: "user", 2: "assistant"}
DEFAULT_SCAN_DEPTH = 2
DEFAULT_TOKEN_BUDGET = 1024
DEFAULT_MAX_RECURSION_STEPS = 5
MAX_RECURSION_STEPS_LIMIT = 50
_WORD = re.compile(r"\w+")
_JS_REGEX = re.compile(r"^/(.+)/([a-z]*)$", re.DOTALL)
_JS_FLAGS = {"i": re.IGNORECASE, "m": re.MULTILINE, "s": re.DOTALL, "g": 0, "y": 0, "u": 0}


class LoreError(ValueError):
    """Bad lorebook data; ``field`` names the offending field (``entries.3.keys.0``)."""

    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def estimate_tokens(text: str) -> int:
    """About four characters per token (the same rough rule as the prompt builder)."""
    return max(1, (len(text) + 3) // 4) if text else 0


def parse_js_regex(key: str, *, case_sensitive: bool, field: str = "key") -> re.Pattern:
    """A ``/pattern/flags`` key (or a bare pattern) as a compiled Python regex.

    JavaScript syntax that Python spells differently is translated: named groups
    ``(?<name>…)`` become ``(?P<name>…)`` and ``\\k<name>`` becomes ``(?P=name)``.
    """
    match = _JS_REGEX.match(key)
    pattern, flags_text = (match.group(1), match.group(2)) if match else (key, "")
    flags = 0 if case_sensitive else re.IGNORECASE
    for flag in flags_text:
        if flag not in _JS_FLAGS:
            raise LoreError(field, f"unknown regular expression flag {flag!r}")
        flags |= _JS_FLAGS[flag]
    if match and "i" not in flags_text and case_sensitive:
        flags &= ~re.IGNORECASE
    pattern = re.sub(r"\(\?<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P<\1>", pattern)
    pattern = re.sub(r"\\k<([A-Za-z_][A-Za-z0-9_]*)>", r"(?P=\1)", pattern)
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise LoreError(field, f"regular expression does not compile: {exc}") from None


@dataclass(frozen=True)
class _Key:
    text: str
    regex: re.Pattern | None  # set for regex keys and whole-word keys with non-word chars
    folded: str  # the key as compared (lowercased when case-insensitive)
    word: bool  # a single \w+ word matched as a whole word: a set lookup
    anchor: str | None = None  # text every match contains (the index finds candidates by it)
    anchor_cs: bool = False  # the anchor is looked for in the text as is, not lowercased


@dataclass
class CompiledEntry:
    """One entry, ready to match. ``source`` is the entry dict it was made from."""

    id: Any
    lorebook_id: Any
    source: dict
    content: str
    keys: list[_Key]
    secondary: list[_Key]
    constant: bool
    enabled: bool
    selective: bool
    logic: int
    case_sensitive: bool
    scan_depth: int | None
    insertion_order: int
    priority: int
    position: str
    depth: int
    role: str
    probability: float
    exclude_recursion: bool
    prevent_recursion: bool
    delay_until_recursion: bool
    tokens: int
    name: str = ""


@dataclass
class Activation:
    """An entry that fired: why (``constant``, ``key`` or ``recursion``) and with which keys."""

    entry: CompiledEntry
    reason: str
    keys_matched: list[str]
    secondary_matched: list[str] = field(default_factory=list)
    step: int = 0  # 0: the message scan; n: the n-th recursion pass

    def as_dict(self) -> dict:
        e = self.entry
        return {
            "lorebook_id": e.lorebook_id,
            "entry_id": e.id,
            "name": e.name,
            "reason": self.reason,
            "keys_matched": list(self.keys_matched),
            "secondary_matched": list(self.secondary_matched),
            "step": self.step,
            "position": e.position,
            "depth": e.depth if e.position == "at_depth" else None,
            "role": e.role,
            "insertion_order": e.insertion_order,
            "tokens": e.tokens,
        }


@dataclass
class Selection:
    activated: list[Activation]  # kept within the budget, in insertion order
    dropped: list[Activation]  # fired but over the token budget
    recursion_steps: int
    recursion_capped: bool
    tokens: int

    def by_position(self, position: str) -> list[Activation]:
        return [a for a in self.activated if a.entry.position == position]

    def used(self) -> list[dict]:
        """The turn result's ``lore_used`` list."""
        return [
            {
                "lorebook_id": a.entry.lorebook_id,
                "entry_id": a.entry.id,
                "keys_matched": list(a.keys_matched),
            }
            for a in self.activated
        ]


@dataclass
class ScanSettings:
    scan_depth: int = DEFAULT_SCAN_DEPTH
    token_budget: int = DEFAULT_TOKEN_BUDGET
    recursive_scanning: bool = False
    max_recursion_steps: int = DEFAULT_MAX_RECURSION_STEPS
    case_sensitive: bool = False
    match_whole_words: bool = False
    include_names: bool = True


@dataclass(frozen=True)
class ScanMessage:
    speaker: str
    content: str


def _bool(value: Any, default: bool) -> bool:
    return default if value is None else bool(value)


def _int(value: Any, default: int, field: str) -> int:
    if value is None or value == "":
        return default
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise LoreError(field, "must be a number")
    return int(value)


def entry_position(entry: dict) -> str:
    """Our position name of an entry (``extensions.position`` wins over ``position``)."""
    ext = entry.get("extensions") or {}
    number = ext.get("position")
    if isinstance(number, int) and not isinstance(number, bool) and number in POSITIONS:
        return POSITIONS[number]
    position = entry.get("position")
    if position in POSITION_NUMBERS:
        return position
    return "before_char" if position == "before_char" else "after_char"


def _compile_key(
    text: str, *, regex: bool, case_sensitive: bool, whole_words: bool, field: str
) -> _Key:
    if not isinstance(text, str):
        raise LoreError(field, "must be a string")
    if regex or _JS_REGEX.match(text):
        pattern = parse_js_regex(text, case_sensitive=case_sensitive, field=field)
        anchor = _literal_anchor(pattern)
        ci = bool(pattern.flags & re.IGNORECASE)
        return _Key(text, pattern, "", False, anchor.lower() if anchor and ci else anchor, not ci)
    folded = text if case_sensitive else text.lower()
    if whole_words and " " not in folded.strip():
        if _WORD.fullmatch(folded):
            return _Key(text, None, folded, True, folded, case_sensitive)
        flags = 0 if case_sensitive else re.IGNORECASE
        boundary = re.compile(rf"(?:^|\W)({re.escape(text)})(?:$|\W)", flags)
        return _Key(text, boundary, folded, False, folded, case_sensitive)
    return _Key(text, None, folded, False, folded, case_sensitive)


def _literal_anchor(pattern: re.Pattern) -> str | None:
    """The longest run of literal characters that every match of ``pattern`` contains (from
    the top level of its parse tree), when it has one of 3 characters or more."""
    try:
        from re import _constants as constants
        from re import _parser as parser
    except ImportError:  # pragma: no cover - older Pythons
        import sre_constants as constants
        import sre_parse as parser
    try:
        parsed = parser.parse(pattern.pattern, pattern.flags)
    except Exception:  # the pattern compiled; an unusual parse is only a lost shortcut
        return None
    best, run = "", []
    for op, value in list(parsed):
        if op is constants.LITERAL:
            run.append(chr(value))
            continue
        if len(run) > len(best):
            best = "".join(run)
        run = []
    if len(run) > len(best):
        best = "".join(run)
    return best if len(best) >= 3 else None


def compile_entry(
    entry: dict, *, lorebook_id: Any = None, settings: ScanSettings | None = None, index: int = 0
) -> CompiledEntry:
    """One entry dict as a ``CompiledEntry``; raises ``LoreError`` naming the bad field."""
    settings = settings or ScanSettings()
    prefix = f"entries.{index}"
    if not isinstance(entry, dict):
        raise LoreError(prefix, "must be an object")
    ext = entry.get("extensions") or {}
    if not isinstance(ext, dict):
        raise LoreError(f"{prefix}.extensions", "must be an object")
    case_sensitive = _bool(
        entry.get("case_sensitive"), _bool(ext.get("case_sensitive"), settings.case_sensitive)
    )
    whole = _bool(ext.get("match_whole_words"), settings.match_whole_words)
    use_regex = bool(entry.get("use_regex", False))
    keys_in = entry.get("keys") or []
    secondary_in = entry.get("secondary_keys") or []
    for name, value in (("keys", keys_in), ("secondary_keys", secondary_in)):
        if not isinstance(value, list):
            raise LoreError(f"{prefix}.{name}", "must be a list of strings")

    def compiled(name: str, values: list) -> list[_Key]:
        return [
            _compile_key(
                k,
                regex=use_regex,
                case_sensitive=case_sensitive,
                whole_words=whole,
                field=f"{prefix}.{name}.{i}",
            )
            for i, k in enumerate(values)
            if not (isinstance(k, str) and not k.strip())
        ]

    keys = compiled("keys", keys_in)
    secondary = compiled("secondary_keys", secondary_in)
    content = entry.get("content") or ""
    if not isinstance(content, str):
        raise LoreError(f"{prefix}.content", "must be a string")
    logic = _int(ext.get("selectiveLogic"), AND_ANY, f"{prefix}.extensions.selectiveLogic")
    if logic not in LOGIC_NAMES:
        raise LoreError(f"{prefix}.extensions.selectiveLogic", "must be 0, 1, 2 or 3")
    order = _int(entry.get("insertion_order"), 100, f"{prefix}.insertion_order")
    probability = ext.get("probability")
    use_probability = _bool(ext.get("useProbability"), True)
    if probability is None or not use_probability:
        probability = 100
    probability = float(_int(probability, 100, f"{prefix}.extensions.probability"))
    if not 0 <= probability <= 100:
        raise LoreError(f"{prefix}.extensions.probability", "must be between 0 and 100")
    scan_depth = ext.get("scan_depth")
    if scan_depth is not None:
        scan_depth = _int(scan_depth, 0, f"{prefix}.extensions.scan_depth")
        if scan_depth < 0:
            raise LoreError(f"{prefix}.extensions.scan_depth", "must be 0 or more")
    depth = _int(ext.get("depth"), 4, f"{prefix}.extensions.depth")
    role = ext.get("role")
    role_name = ROLES.get(role, role) if role is not None else "system"
    if role_name not in ROLES.values():
        raise LoreError(
            f"{prefix}.extensions.role", "must be 0 (system), 1 (user) or 2 (assistant)"
        )
    return CompiledEntry(
        id=entry.get("id", index),
        lorebook_id=lorebook_id,
        source=entry,
        content=content,
        keys=keys,
        secondary=secondary,
        constant=bool(entry.get("constant", False)),
        enabled=bool(entry.get("enabled", True)),
        selective=bool(entry.get("selective", False)),
        logic=logic,
        case_sensitive=case_sensitive,
        scan_depth=scan_depth,
        insertion_order=order,
        priority=_int(entry.get("priority"), order, f"{prefix}.priority"),
        position=entry_position(entry),
        depth=max(0, depth),
        role=role_name,
        probability=probability,
        exclude_recursion=bool(ext.get("exclude_recursion", False)),
        prevent_recursion=bool(ext.get("prevent_recursion", False)),
        delay_until_recursion=bool(ext.get("delay_until_recursion", False)),
        tokens=estimate_tokens(content),
        name=str(entry.get("name") or entry.get("comment") or ""),
    )


def compile_entries(
    entries: Iterable[dict], *, lorebook_id: Any = None, settings: ScanSettings | None = None
) -> list[CompiledEntry]:
    return CompiledBook(
        compile_entry(e, lorebook_id=lorebook_id, settings=settings, index=i)
        for i, e in enumerate(entries)
    )


class _Buffer:
    """Scanned text with its lowercase form and word sets, built once per scan."""

    __slots__ = ("_grams", "_lower_grams", "_lower_words", "_words", "lower", "text")

    def __init__(self, text: str):
        self.text = text
        self.lower = text.lower()
        self._words: set[str] | None = None
        self._lower_words: set[str] | None = None
        self._grams: set[str] | None = None
        self._lower_grams: set[str] | None = None

    def grams(self, case_sensitive: bool) -> set[str]:
        """Every three-character slice of the text (the index's substring anchors)."""
        if case_sensitive:
            if self._grams is None:
                t = self.text
                self._grams = {t[i : i + 3] for i in range(len(t) - 2)}
            return self._grams
        if self._lower_grams is None:
            t = self.lower
            self._lower_grams = {t[i : i + 3] for i in range(len(t) - 2)}
        return self._lower_grams

    def words(self, case_sensitive: bool) -> set[str]:
        if case_sensitive:
            if self._words is None:
                self._words = set(_WORD.findall(self.text))
            return self._words
        if self._lower_words is None:
            self._lower_words = set(_WORD.findall(self.lower))
        return self._lower_words

    def has(self, key: _Key, case_sensitive: bool) -> bool:
        if key.regex is not None:
            return key.regex.search(self.text) is not None
        if key.word:
            return key.folded in self.words(case_sensitive)
        return key.folded in (self.text if case_sensitive else self.lower)


def _matched(keys: Sequence[_Key], buffer: _Buffer, case_sensitive: bool) -> list[str]:
    return [k.text for k in keys if buffer.has(k, case_sensitive)]


def _secondary_ok(entry: CompiledEntry, buffer: _Buffer) -> tuple[bool, list[str]]:
    if not entry.selective or not entry.secondary:
        return True, []
    hits = _matched(entry.secondary, buffer, entry.case_sensitive)
    n, total = len(hits), len(entry.secondary)
    ok = {
        AND_ANY: n > 0,
        AND_ALL: n == total,
        NOT_ANY: n == 0,
        NOT_ALL: n < total,
    }[entry.logic]
    return ok, hits


def _scan_text(messages: Sequence[ScanMessage], depth: int, include_names: bool) -> str:
    chosen = messages[-(depth + 1) :] if depth >= 0 else messages
    if include_names:
        return "\n".join(f"{m.speaker}: {m.content}" if m.speaker else m.content for m in chosen)
    return "\n".join(m.content for m in chosen)


class KeyIndex:
    """Which entries can match a text, found in one pass over the text instead of testing every
    key of every entry (the scan then costs about the size of the text, not of the book).
    Each key has an anchor (the key itself, or the literal text its regular expression always
    contains); an Aho-Corasick automaton (``pyahocorasick``) finds the anchors in the text
    (without it: three-character slices). Candidates are then confirmed by the exact key test;
    keys without an anchor are always tested."""

    def __init__(self, entries: Sequence[CompiledEntry]):
        self.anchors: tuple[dict[str, list[int]], dict[str, list[int]]] = ({}, {})
        self.always: list[int] = []
        self.own_depth: list[int] = []  # entries with their own scan depth
        self.constants: list[int] = []
        for index, entry in enumerate(entries):
            if entry.enabled and entry.constant:
                self.constants.append(index)
            if not entry.enabled or entry.constant or not entry.keys:
                continue
            if entry.scan_depth is not None:
                self.own_depth.append(index)
            for key in entry.keys:
                anchor = key.anchor
                if not anchor or (_ahocorasick is None and len(anchor) < 3):
                    self.always.append(index)
                    continue
                bucket = self.anchors[int(key.anchor_cs)]
                bucket.setdefault(anchor if _ahocorasick else anchor[:3], []).append(index)
        self.automata: list = [None, None]
        if _ahocorasick is not None:
            for cs in (0, 1):
                if self.anchors[cs]:
                    automaton = _ahocorasick.Automaton()
                    for anchor, indexes in self.anchors[cs].items():
                        automaton.add_word(anchor, indexes)
                    automaton.make_automaton()
                    self.automata[cs] = automaton

    def candidates(self, buffer: _Buffer) -> set[int]:
        found = set(self.always)
        for cs in (0, 1):
            automaton = self.automata[cs]
            if automaton is not None:
                for _, indexes in automaton.iter(buffer.text if cs else buffer.lower):
                    found.update(indexes)
            elif self.anchors[cs]:
                grams = self.anchors[cs]
                for gram in buffer.grams(bool(cs)):
                    hit = grams.get(gram)
                    if hit:
                        found.update(hit)
        return found


class CompiledBook(list):
    """Compiled entries with their ``KeyIndex`` (what ``compile_entries`` returns)."""

    _index: KeyIndex | None = None

    @property
    def key_index(self) -> KeyIndex:
        if self._index is None:
            self._index = KeyIndex(self)
        return self._index


class _Scan:
    """The state of one scan: text buffers per depth, and which entries fired or rolled out."""

    def __init__(self, entries, messages, settings: ScanSettings, rng: random.Random) -> None:
        self.entries = entries
        self.messages = messages
        self.settings = settings
        self.rng = rng
        self.index = entries.key_index if isinstance(entries, CompiledBook) else KeyIndex(entries)
        self.buffers: dict[int, _Buffer] = {}
        self.fired: dict[int, Activation] = {}
        self.rolled_out: set[int] = set()

    def buffer_for(self, depth: int) -> _Buffer:
        found = self.buffers.get(depth)
        if found is None:
            text = _scan_text(self.messages, depth, self.settings.include_names)
            found = self.buffers[depth] = _Buffer(text)
        return found

    def fire(self, index: int, activation: Activation) -> bool:
        """Fire unless the entry's probability roll says no (then it stays out of this turn)."""
        entry = activation.entry
        if entry.probability < 100 and self.rng.random() * 100 >= entry.probability:
            self.rolled_out.add(index)
            return False
        self.fired[index] = activation
        return True

    def scan_messages(self) -> None:
        """Constants, and entries whose keys (and secondary keys) are in the scanned messages."""
        depth = self.settings.scan_depth
        candidates = self.index.candidates(self.buffer_for(depth))
        candidates.update(self.index.own_depth)
        candidates.update(self.index.constants)
        for index in sorted(candidates):
            entry = self.entries[index]
            if not entry.enabled:
                continue
            if entry.constant:
                self.fire(index, Activation(entry, "constant", []))
                continue
            if entry.delay_until_recursion or not entry.keys:
                continue
            buffer = self.buffer_for(depth if entry.scan_depth is None else entry.scan_depth)
            matched = _key_match(entry, buffer)
            if matched is not None:
                self.fire(index, Activation(entry, "key", *matched))

    def recurse(self) -> tuple[int, bool]:
        """Scan the content of what fired for more entries, step by step up to the cap.
        Returns ``(steps, capped)``: capped when an entry could still have fired."""
        steps = 0
        new = [a for a in self.fired.values() if not a.entry.prevent_recursion]
        while new:
            buffer = _Buffer("\n".join(a.entry.content for a in new))
            if steps >= max(0, self.settings.max_recursion_steps):
                capped = any(
                    _could_fire(self.entries[i], i, self.fired, self.rolled_out, buffer)
                    for i in self.index.candidates(buffer)
                )
                return steps, capped
            steps += 1
            new = []
            for index in sorted(self.index.candidates(buffer)):
                entry = self.entries[index]
                if index in self.fired or index in self.rolled_out or not entry.enabled:
                    continue
                if entry.constant or entry.exclude_recursion or not entry.keys:
                    continue
                matched = _key_match(entry, buffer)
                if matched is None:
                    continue
                activation = Activation(entry, "recursion", *matched, steps)
                if self.fire(index, activation) and not entry.prevent_recursion:
                    new.append(activation)
        return steps, False


def _key_match(entry: CompiledEntry, buffer: _Buffer) -> tuple[list, Any] | None:
    """``(keys hit, secondary keys hit)`` when the entry's keys select it in ``buffer``."""
    hits = _matched(entry.keys, buffer, entry.case_sensitive)
    if not hits:
        return None
    ok, secondary = _secondary_ok(entry, buffer)
    return (hits, secondary) if ok else None


def _within_budget(
    fired: dict[int, Activation], budget: int, tokens: Callable[[str], int] | None
) -> tuple[list[Activation], list[Activation], int]:
    """``(kept in insertion order, dropped, tokens used)``: constants first, then by priority
    and insertion order, while the entries fit in ``budget`` tokens."""
    ranked = sorted(
        fired.items(),
        key=lambda item: (
            not item[1].entry.constant,
            -item[1].entry.priority,
            -item[1].entry.insertion_order,
            item[0],
        ),
    )
    kept: list[tuple[int, Activation]] = []
    dropped: list[Activation] = []
    used = 0
    for index, activation in ranked:
        cost = tokens(activation.entry.content) if tokens else activation.entry.tokens
        if used + cost > budget:
            dropped.append(activation)
            continue
        used += cost
        kept.append((index, activation))
    kept.sort(key=lambda item: (item[1].entry.insertion_order, item[0]))
    return [a for _, a in kept], dropped, used


def select_entries(
    entries: Sequence[CompiledEntry],
    messages: Sequence[ScanMessage],
    settings: ScanSettings | None = None,
    *,
    rng: random.Random | None = None,
    tokens: Callable[[str], int] | None = None,
) -> Selection:
    """The entries that fire for a turn whose last ``messages`` item is the new message.

    ``messages`` is the history oldest first, ending with the new message; only the last
    ``scan_depth`` + 1 of them are scanned.
    """
    settings = settings or ScanSettings()
    scan = _Scan(entries, messages, settings, rng or random.Random())
    scan.scan_messages()
    steps, capped = scan.recurse() if settings.recursive_scanning else (0, False)
    activated, dropped, used = _within_budget(scan.fired, settings.token_budget, tokens)
    return Selection(
        activated=activated,
        dropped=dropped,
        recursion_steps=steps,
        recursion_capped=capped,
        tokens=used,
    )


def _could_fire(
    entry: CompiledEntry,
    index: int,
    fired: dict[int, Activation],
    rolled_out: set[int],
    buffer: _Buffer,
) -> bool:
    """Whether one more recursion pass would have fired ``entry`` (the cap truly cut a chain)."""
    if index in fired or index in rolled_out or not entry.enabled or entry.constant:
        return False
    if entry.exclude_recursion or not entry.keys:
        return False
    return (
        bool(_matched(entry.keys, buffer, entry.case_sensitive)) and _secondary_ok(entry, buffer)[0]
    )


def settings_from_book(book: dict, *, defaults: ScanSettings | None = None) -> ScanSettings:
    """Scan settings of a ``character_book`` (or our Lorebook) dict; raises ``LoreError``."""
    base = defaults or ScanSettings()
    ext = book.get("extensions") or {}
    if not isinstance(ext, dict):
        raise LoreError("extensions", "must be an object")
    scan_depth = _int(book.get("scan_depth"), base.scan_depth, "scan_depth")
    budget = _int(book.get("token_budget"), base.token_budget, "token_budget")
    steps = _int(
        ext.get("max_recursion_steps"), base.max_recursion_steps, "extensions.max_recursion_steps"
    )
    if scan_depth < 0 or scan_depth > 1000:
        raise LoreError("scan_depth", "must be between 0 and 1000")
    if budget < 0:
        raise LoreError("token_budget", "must be 0 or more")
    if not 1 <= steps <= MAX_RECURSION_STEPS_LIMIT:
        raise LoreError(
            "extensions.max_recursion_steps",
            f"recursion must be bounded: between 1 and {MAX_RECURSION_STEPS_LIMIT} passes",
        )
    return ScanSettings(
        scan_depth=scan_depth,
        token_budget=budget,
        recursive_scanning=bool(book.get("recursive_scanning", base.recursive_scanning)),
        max_recursion_steps=steps,
        case_sensitive=bool(ext.get("case_sensitive", base.case_sensitive)),
        match_whole_words=bool(ext.get("match_whole_words", base.match_whole_words)),
        include_names=bool(ext.get("include_names", base.include_names)),
    )
