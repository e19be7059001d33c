"""Room domain exceptions."""

from personamcp.exceptions import NotFound


class RoomNotFound(NotFound, code=-32005, status=404, message="room not found"): ...
