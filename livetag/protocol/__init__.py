"""The wire protocol between the browser and a session: the only place that knows it.

- ``livetag.protocol.messages``: client messages (decoded and validated) and server
  messages (encoded), with the shapes in its docstring;
- ``livetag.protocol.patch``: the patch operations an update carries.

``livetag/client/livetag.js`` is the other side; ``tests/unit/test_protocol_client.py``
checks that both name the same codes.
"""

from __future__ import annotations

from .messages import (
    DEFAULT_MAX_MESSAGE_BYTES,
    MAX_SEQ,
    MAX_SYNC_ENTRIES,
    PROTOCOL_VERSION,
    ClientMessage,
    EventMessage,
    Join,
    Resync,
    decode,
    encode,
    encode_ack,
    encode_extras,
    encode_update,
    validate,
)
from .patch import OpCode, Patch, PatchOp

__all__ = [
    "DEFAULT_MAX_MESSAGE_BYTES", "MAX_SEQ", "MAX_SYNC_ENTRIES", "PROTOCOL_VERSION", "ClientMessage", "EventMessage",
    "Join", "OpCode", "Patch", "PatchOp", "Resync", "decode", "encode", "encode_ack", "encode_extras",
    "encode_update", "validate",
]
