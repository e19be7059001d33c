"""Fixtures of the door tests (the async key maker is the protocol tests' one)."""

from tests.rpc.conftest import akey  # noqa: F401
