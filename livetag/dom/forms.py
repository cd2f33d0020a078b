"""Form controls: which elements a user can act on, and their live values.

The browser reports what the user typed or ticked with each event (``sync``: element id
-> value); ``apply_live_values`` writes it into the tree as the HTML form rules allow,
without recording a change (the sender's page already shows it), and returns the patch
for the session's other pages.
"""

from __future__ import annotations

from typing import Any

from ..protocol.patch import PatchOp, SetAttrs
from .reactive import AttrSlot
from .tag import Tag
from .tree import LiveTree

#: Elements whose value the user edits.
FORM_CONTROLS = frozenset({"input", "textarea", "select"})


def is_disabled(tag: Tag) -> bool:
    """True when ``tag`` or an enclosing ``<fieldset>`` is disabled (HTML, 4.10.18.5)."""
    # Every event asks (Session._resolve): most tags have no disabled attribute to read.
    if "disabled" in tag._attrs and tag["disabled"] not in (None, False):
        return True
    parent = tag._parent
    while parent is not None:  # a loop, not any() over iter_ancestors: no generator per event
        if parent.tag_name == "fieldset" and parent["disabled"] not in (None, False):
            return True
        parent = parent._parent
    return False


def is_read_only(tag: Tag) -> bool:
    """True when no user can edit ``tag``'s value: disabled or ``readonly``."""
    return is_disabled(tag) or tag["readonly"] not in (None, False)


def apply_live_values(tree: LiveTree, sync: dict[str, Any]) -> list[PatchOp]:
    """Write the user's live input (``sync``: element id -> str, bool for a checkbox or
    radio, list of str for a multiple select) into ``tree``. Ids of elements no user can
    type into (unknown, not a form control, disabled, read-only) are ignored: a client
    that sends them is forging. Returns the patch that shows the values elsewhere."""
    ops: list[PatchOp] = []
    if not sync:
        return ops
    with tree.lock:
        for tag_id, value in sync.items():
            tag = tree.lookup(tag_id)
            if tag is None or tag.tag_name not in FORM_CONTROLS or is_read_only(tag):
                continue
            if isinstance(value, bool):
                if tag._attrs.get("checked") != value:
                    tag._own_attrs()["checked"] = value
                    ops.append(SetAttrs(tag.id, {"checked": "" if value else None}))
            elif isinstance(value, list) and tag.tag_name != "select":
                continue
            else:
                current = tag._attrs.get("value")
                slot = current if isinstance(current, AttrSlot) else None
                if (slot.value if slot is not None else current) == value:
                    continue
                if slot is not None:
                    slot.value, slot.fresh = value, True  # stays reactive: the next state change wins
                else:
                    tag._own_attrs()["value"] = value
                if isinstance(value, str):  # a multiple select's list has no attribute form
                    ops.append(SetAttrs(tag.id, {"value": value}))
    return ops
