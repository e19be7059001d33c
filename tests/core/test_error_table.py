"""The one error table: every app's exceptions are in it, and no code is ambiguous."""

import pytest

from bots.exceptions import BotNotFound
from conversations.exceptions import ConversationNotFound
from llm.exceptions import LLMTimeout, LLMUnavailable
from memory.exceptions import MemoryNotFound
from personamcp import errors
from personamcp.exceptions import Conflict, DomainError, NotFound
from personas.exceptions import DuplicateSlug, NoActivePersona, PersonaNotFound
from rooms.exceptions import RoomNotFound


def test_each_code_belongs_to_one_class():
    codes = [code for code, _ in errors.ERROR_TABLE.values()]
    assert len(codes) == len(set(codes))


@pytest.mark.parametrize(
    ("error", "code", "status"),
    [
        (PersonaNotFound(), -32001, 404),
        (NoActivePersona(), -32002, 400),
        (ConversationNotFound(), -32003, 404),
        (MemoryNotFound(), -32004, 404),
        (RoomNotFound(), -32005, 404),
        (BotNotFound(), -32006, 404),
        (NotFound(), -32007, 404),
        (LLMUnavailable(), -32010, 503),
        (LLMTimeout(), -32011, 504),
        (DuplicateSlug(), -32040, 409),
    ],
)
def test_app_exceptions_answer_with_their_documented_code(error, code, status):
    assert errors.lookup(error) == (code, status)


def test_a_second_class_cannot_take_a_registered_code():
    with pytest.raises(ValueError, match="-32004 already belongs to MemoryNotFound"):

        @errors.register_error(-32004, 404)
        class OtherNotFound(NotFound):
            pass

    assert errors.lookup(MemoryNotFound()) == (-32004, 404)


def test_an_unregistered_subclass_inherits_its_parents_row():
    class StaleVersion(Conflict):
        pass

    assert errors.lookup(StaleVersion()) == (-32040, 409)


def test_an_unknown_domain_error_is_an_internal_error():
    class Strange(DomainError):
        pass

    assert errors.lookup(Strange()) == (errors.INTERNAL_ERROR, 500)
