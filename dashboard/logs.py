"""Following a log file as it grows: new lines, their level, filtering by level and text."""

from __future__ import annotations

import json
import re
from pathlib import Path

LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}
# The runner's format: "2026-12-01 21:00:00,123 INFO bots.runner [pid 42] message"
LEVEL_RE = re.compile(r"^\S+ \S+ (DEBUG|INFO|WARNING|ERROR|CRITICAL) ")
MAX_READ = 256 * 1024  # bytes read per poll, so one huge burst cannot stall the stream


def line_level(line: str, previous: str = "INFO") -> str:
    """The level of a log line; continuation lines (tracebacks) keep the previous line's."""
    if line.startswith("{"):
        try:
            level = str(json.loads(line).get("level", "")).upper()
        except (ValueError, AttributeError):
            level = ""
        if level in LEVELS:
            return level
    match = LEVEL_RE.match(line)
    return match.group(1) if match else previous


def parse_level(value: str | None) -> int:
    return LEVELS.get((value or "").upper(), 0)


def keep(line: str, level: str, *, min_level: int, query: str) -> bool:
    return LEVELS.get(level, 20) >= min_level and (not query or query.lower() in line.lower())


class Follower:
    """Reads the lines appended to a file since the last call; survives rotation and the file
    appearing later."""

    def __init__(self, path: Path, *, from_end: bool = True):
        self.path = Path(path)
        self.inode: int | None = None
        self.offset = 0
        self.partial = b""
        self.level = "INFO"
        if from_end and self.path.exists():
            stat = self.path.stat()
            self.inode, self.offset = stat.st_ino, stat.st_size

    def read(self) -> list[tuple[str, str]]:
        """New complete lines as ``(line, level)``."""
        try:
            stat = self.path.stat()
        except FileNotFoundError:
            return []
        if stat.st_ino != self.inode or stat.st_size < self.offset:  # rotated or truncated
            self.inode, self.offset, self.partial = stat.st_ino, 0, b""
        if stat.st_size == self.offset:
            return []
        with open(self.path, "rb") as fh:
            fh.seek(self.offset)
            data = fh.read(MAX_READ)
        self.offset += len(data)
        data = self.partial + data
        *complete, self.partial = data.split(b"\n")
        out = []
        for raw in complete:
            line = raw.decode("utf-8", errors="replace").rstrip("\r")
            self.level = line_level(line, self.level)
            out.append((line, self.level))
        return out


def with_levels(lines: list[str]) -> list[tuple[str, str]]:
    level, out = "INFO", []
    for line in lines:
        level = line_level(line, level)
        out.append((line, level))
    return out


def tail_before(path: Path, offset: int, limit: int) -> list[str]:
    """The last ``limit`` complete lines of a file before byte ``offset``."""
    if limit <= 0 or offset <= 0 or not Path(path).exists():
        return []
    with open(path, "rb") as fh:
        start = max(0, offset - max(8192, limit * 400))
        fh.seek(start)
        data = fh.read(offset - start)
    lines = data.split(b"\n")
    if start > 0:
        lines = lines[1:]  # a partial first line
    if lines and lines[-1] == b"":
        lines = lines[:-1]
    return [raw.decode("utf-8", errors="replace").rstrip("\r") for raw in lines[-limit:]]
