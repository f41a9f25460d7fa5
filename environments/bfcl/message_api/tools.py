"""MessageAPI tools: look up users, log in, send, delete, list and search messages.

Every tool returns exactly what BFCL's `MessageAPI` method returns, errors included: the
original reports failures as `{"error": ...}` dicts, and those are returned, not raised. The
inbox is one shared list with no sender recorded, so "messages sent by the current user" are
all messages, as in the original.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from eigencore.audit.code_fixes import is_repaired
from environments.bfcl.message_api import store
from environments.contract import Db, ToolError, tool

_NOT_LOGGED_IN = {"error": "No user is currently logged in."}


def _logged_in(db: Db) -> bool:
    return bool(store.workspace(db)["current_user"])


def _first_items(db: Db) -> Iterator[tuple[str, Any]]:
    """(receiver, value) of each inbox message in order; fails like the original on `{}`."""
    for row in store.inbox_rows(db):
        try:
            yield store.first_item(store.message_value(row))
        except IndexError as e:
            raise ToolError(str(e)) from e


@tool(read_only=True)
def list_users(db: Db) -> dict[str, list[str]]:
    """List the names of all users in the workspace."""
    return {"user_list": [r[0] for r in db.execute("SELECT name FROM users ORDER BY position")]}


@tool(read_only=True)
def get_user_id(db: Db, user: str) -> dict[str, str]:
    """Look up a user's id by their name.

    Args:
        user: The user's name, exactly as listed by list_users.
    """
    row = db.execute("SELECT user_id FROM users WHERE name = ?", (user,)).fetchone()
    if row is None:
        return {"error": f"User '{user}' not found in the workspace."}
    return {"user_id": row[0]}


@tool(idempotent=True)
def message_login(db: Db, user_id: str) -> dict[str, Any]:
    """Log in to the messaging workspace as the user with this id.

    Args:
        user_id: Id of the user to log in as, e.g. "USR001".
    """
    if user_id not in store.user_ids(db):
        return {"login_status": False, "message": f"User ID '{user_id}' not found."}
    db.execute("UPDATE workspace SET current_user = ?", (user_id,))
    return {"login_status": True, "message": f"User '{user_id}' logged in successfully."}


@tool(read_only=True)
def message_get_login_status(db: Db) -> dict[str, bool]:
    """Tell whether a user is logged in to the messaging workspace."""
    return {"login_status": _logged_in(db)}


@tool
def send_message(db: Db, receiver_id: str, message: str) -> dict[str, Any]:
    """Send a message to a user; it is appended to the workspace inbox with a new random id.

    Args:
        receiver_id: Id of the receiving user, e.g. "USR002".
        message: Text of the message.
    """
    if not _logged_in(db):
        return _NOT_LOGGED_IN
    if receiver_id not in store.user_ids(db):
        return {"error": f"Receiver ID '{receiver_id}' not found."}
    new_id = store.draw_message_id(db)
    store.append_message(db, {receiver_id: message})
    db.execute("UPDATE workspace SET message_count = message_count + 1")
    return {
        "sent_status": True,
        "message_id": {"new_id": new_id},  # the original nests the id in a dict
        "message": f"Message sent to '{receiver_id}' successfully.",
    }


@tool(destructive=True)
def delete_message(db: Db, receiver_id: str) -> dict[str, Any]:
    """Delete the most recent message sent to a receiver.

    If an earlier message to the same receiver is identical, that earlier copy is the one
    removed (the inbox is a list searched by value), which leaves the same messages.

    Args:
        receiver_id: Id of the user the message was sent to.
    """
    if not _logged_in(db):
        return _NOT_LOGGED_IN
    rows = store.inbox_rows(db)
    for row in reversed(rows):
        message = store.message_value(row)
        try:
            receiver, _ = store.first_item(message)
        except IndexError as e:
            raise ToolError(str(e)) from e
        if receiver == receiver_id:
            first_equal = next(r for r in rows if store.message_value(r) == message)
            db.execute("DELETE FROM inbox WHERE position = ?", (first_equal["position"],))
            return {
                "deleted_status": True,
                "message_id": receiver,  # the original reports the receiver id here
                "message": f"Receiver {receiver_id}'s first message deleted successfully.",
            }
    return {"error": f"Receiver ID {receiver_id} not found."}


@tool(read_only=True)
def view_messages_sent(db: Db) -> dict[str, Any]:
    """Show every message in the inbox, grouped by receiver id, oldest first."""
    if not _logged_in(db):
        return _NOT_LOGGED_IN
    grouped: dict[str, list[Any]] = {}
    for receiver, value in _first_items(db):
        grouped.setdefault(receiver, []).append(value)
    return {"messages": grouped}


@tool
def add_contact(db: Db, user_name: str) -> dict[str, Any]:
    """Add a user to the workspace; the new id is "USR" plus the next user number.

    Args:
        user_name: Name of the new contact (must not exist yet).
    """
    if db.execute("SELECT 1 FROM users WHERE name = ?", (user_name,)).fetchone():
        return {"error": f"User name '{user_name}' already exists."}
    # The count goes up before the id check, so it stays up when the id is taken.
    db.execute("UPDATE workspace SET user_count = user_count + 1")
    user_id = f"USR{str(store.workspace(db)['user_count']).zfill(3)}"
    if user_id in store.user_ids(db):
        if is_repaired(db, "workspace"):
            # Repaired mode (code_fixes message.add_contact.user_count): a failed add
            # leaves the count as it was.
            db.execute("UPDATE workspace SET user_count = user_count - 1")
        return {"error": f"User ID '{user_id}' already exists."}
    db.execute("INSERT INTO users (name, user_id) VALUES (?, ?)", (user_name, user_id))
    return {
        "added_status": True,
        "user_id": user_id,
        "message": f"Contact '{user_name}' added successfully.",
    }


@tool(read_only=True)
def search_messages(db: Db, keyword: str) -> dict[str, Any]:
    """Find inbox messages containing a keyword (case-insensitive).

    Args:
        keyword: Text to look for in message texts.
    """
    if not _logged_in(db):
        return _NOT_LOGGED_IN
    needle = keyword.lower()
    results = []
    for receiver, value in _first_items(db):
        if type(value) is not str:  # the original calls .lower() on whatever is stored
            raise ToolError(f"'{type(value).__name__}' object has no attribute 'lower'")
        if needle in value.lower():
            results.append({"receiver_id": receiver, "message": value})
    return {"results": results}


@tool(read_only=True)
def get_message_stats(db: Db) -> dict[str, Any]:
    """Count the inbox's messages and the distinct receivers they were sent to."""
    if not _logged_in(db):
        return _NOT_LOGGED_IN
    receivers = [receiver for receiver, _ in _first_items(db)]
    return {
        "stats": {
            "received_count": len(receivers),
            "total_contacts": len(set(receivers)),
        }
    }
