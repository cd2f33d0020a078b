"""The wire protocol between the browser and a session: the only place that knows it.

- ``livetag.protocol.messages``: the catalogue of messages (its docstring: every shape,
  both ways), ``MessageType`` and the client's messages, decoded and validated;
- ``livetag.protocol.server_messages``: the server's messages, one typed constructor
  each (``Joined``, ``Update``, ``Ack``, ``Error``, ``Bye``, ``CookieSync``), their
  ``ErrorCode`` and ``ByeCode``, and the pre-serialised update of the hot path;
- ``livetag.protocol.closing``: the one table from livetag's errors to WebSocket close
  codes and HTTP statuses;
- ``livetag.protocol.patch``: the patch operations an update carries.

``livetag/client/src/protocol.js`` is the other side; ``tests/unit/test_protocol_client.py``
checks that both name the same codes.
"""

from __future__ import annotations

from .closing import CloseCode, HttpStatus, close_code_for, close_code_for_bye, http_status_for
from .messages import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_SEQ,
    MAX_SYNC_ENTRIES,
    PROTOCOL_VERSION,
    ClientMessage,
    EventMessage,
    Join,
    MessageType,
    Ping,
    Resync,
    decode,
    validate,
)
from .patch import OpCode, Patch, PatchOp
from .server_messages import (
    Ack,
    Bye,
    ByeCode,
    CookieSync,
    Error,
    ErrorCode,
    Joined,
    Pong,
    ServerMessage,
    Update,
    encode,
    encode_ack,
    encode_extras,
    encode_update,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES", "MAX_SEQ", "MAX_SYNC_ENTRIES", "PROTOCOL_VERSION", "Ack", "Bye", "ByeCode",
    "ClientMessage", "CloseCode", "CookieSync", "Error", "ErrorCode", "EventMessage", "HttpStatus", "Join",
    "Joined", "MessageType", "OpCode", "Patch", "PatchOp", "Ping", "Pong", "Resync", "ServerMessage", "Update",
    "close_code_for", "close_code_for_bye", "decode", "encode", "encode_ack", "encode_extras", "encode_update",
    "http_status_for", "validate",
]
