"""The patch vocabulary: the operations an update applies to a page, in order.

Every operation is a JSON array whose first element is its ``OpCode`` (the wire
letter); the classes below are ``list`` subclasses, so they serialise as they are and
compare equal to the plain lists a client sends back or a test writes. The live tree
(``livetag.dom.tree``) builds them; ``livetag.client`` and ``livetag.testing`` apply
them. This module imports nothing of livetag: every layer may use the vocabulary.

=========================================  ==================================================
``["-", id]``                              remove the element
``["a", id, {name: value | null}]``        set attributes (``null`` removes one; ``value`` and
                                           ``checked`` also set the live property)
``["t", id, text]``                        replace the children by one text node
``["h", id, html]``                        replace the children by ``html`` (morphed in)
``["+", id, html]``                        append ``html`` to the children
``["o", id, html]``                        morph the element itself into ``html``
``["i", parent, before | null, html]``     insert ``html`` before element ``before`` (``null``:
                                           at the end of ``parent``)
``["m", id, parent, before | null]``       move an element before ``before`` (``null``: to the end)
=========================================  ==================================================
"""

from __future__ import annotations

import enum


class OpCode(str, enum.Enum):  # noqa: UP042 - a StrEnum would change str() and format() of members
    """The first element of each patch operation."""

    REMOVE = "-"
    SET_ATTRS = "a"
    SET_TEXT = "t"
    SET_HTML = "h"
    APPEND = "+"
    MORPH = "o"
    INSERT = "i"
    MOVE = "m"


class PatchOp(list):  # type: ignore[type-arg]
    """One operation; ``code`` says which. ``target`` is the id of the element it acts on
    (the parent for ``Insert``)."""

    __slots__ = ()
    code: OpCode

    @property
    def target(self) -> str:
        return str(self[1])


class Remove(PatchOp):
    __slots__ = ()
    code = OpCode.REMOVE

    def __init__(self, target: str) -> None:
        super().__init__((OpCode.REMOVE, target))


class SetAttrs(PatchOp):
    __slots__ = ()
    code = OpCode.SET_ATTRS

    def __init__(self, target: str, attrs: dict[str, str | None]) -> None:
        super().__init__((OpCode.SET_ATTRS, target, attrs))

    @property
    def attrs(self) -> dict[str, str | None]:
        return self[2]  # type: ignore[no-any-return]


class SetText(PatchOp):
    __slots__ = ()
    code = OpCode.SET_TEXT

    def __init__(self, target: str, text: str) -> None:
        super().__init__((OpCode.SET_TEXT, target, text))


class SetHtml(PatchOp):
    __slots__ = ()
    code = OpCode.SET_HTML

    def __init__(self, target: str, html: str) -> None:
        super().__init__((OpCode.SET_HTML, target, html))


class Append(PatchOp):
    __slots__ = ()
    code = OpCode.APPEND

    def __init__(self, target: str, html: str) -> None:
        super().__init__((OpCode.APPEND, target, html))


class Morph(PatchOp):
    __slots__ = ()
    code = OpCode.MORPH

    def __init__(self, target: str, html: str) -> None:
        super().__init__((OpCode.MORPH, target, html))


class Insert(PatchOp):
    __slots__ = ()
    code = OpCode.INSERT

    def __init__(self, parent: str, before: str | None, html: str) -> None:
        super().__init__((OpCode.INSERT, parent, before, html))


class Move(PatchOp):
    __slots__ = ()
    code = OpCode.MOVE

    def __init__(self, target: str, parent: str, before: str | None) -> None:
        super().__init__((OpCode.MOVE, target, parent, before))


Patch = list[PatchOp]
