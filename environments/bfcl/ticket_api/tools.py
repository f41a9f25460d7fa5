"""TicketAPI tools: log in and out, create, read, edit, resolve and close support tickets.

Every tool returns exactly what BFCL's `TicketAPI` method returns, errors included: the
original reports most failures as `{"error": ...}` dicts, and those are returned, not raised.
Where the original crashes on a scenario ticket that lacks a key it reads (`id`, `status`,
`created_by`), the tool fails with the same message and changes nothing.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field

from environments.bfcl.ticket_api import store
from environments.contract import Db, ToolError, tool

# The func doc says integer, but scenario tickets also have string ids ("ticket_001") and the
# ground truth passes them (close_ticket(ticket_id='ticket_001')), so both are accepted.
TicketId = Annotated[int | str, Field(description="Id of the ticket (usually a number).")]
EDITABLE = frozenset({"title", "description", "status", "priority"})


def _get(ticket: dict[str, Any], key: str) -> Any:
    """`ticket[key]`, failing with the original's KeyError text when the key is missing."""
    if key not in ticket:
        raise ToolError(repr(key))
    return ticket[key]


def _find(db: Db, ticket_id: int | str) -> tuple[int, dict[str, Any]] | None:
    """The first ticket in the queue with this id, and its position."""
    for position, ticket in store.tickets(db):
        if _get(ticket, "id") == ticket_id:
            return position, ticket
    return None


def _missing(ticket_id: int | str) -> dict[str, str]:
    return {"error": f"Ticket with ID {ticket_id} not found."}


@tool
def create_ticket(
    db: Db,
    title: str,
    description: str = "",
    priority: Annotated[int, Field(description="1 (lowest) to 5 (highest).")] = 1,
) -> dict[str, Any]:
    """Open a new ticket as the logged-in user; it gets the next ticket id and status "Open".

    Args:
        title: Short title of the ticket.
        description: What the ticket is about.
        priority: Priority from 1 (lowest) to 5 (highest).
    """
    s = store.session(db)
    if not s["current_user"]:
        return {"error": "User not authenticated. Please log in to create a ticket."}
    if priority < 1 or priority > 5:
        return {"error": "Invalid priority. Priority must be between 1 and 5."}
    ticket = {
        "id": s["ticket_counter"],
        "title": title,
        "description": description,
        "status": "Open",
        "priority": priority,
        "created_by": s["current_user"],
    }
    store.insert_ticket(db, ticket)
    db.execute("UPDATE session SET ticket_counter = ticket_counter + 1")
    return ticket


@tool(read_only=True)
def get_ticket(db: Db, ticket_id: TicketId) -> dict[str, Any]:
    """Show one ticket with all its fields.

    Args:
        ticket_id: Id of the ticket.
    """
    found = _find(db, ticket_id)
    return _missing(ticket_id) if found is None else found[1]


@tool(idempotent=True)
def close_ticket(db: Db, ticket_id: TicketId) -> dict[str, str]:
    """Set a ticket's status to "Closed".

    Args:
        ticket_id: Id of the ticket to close.
    """
    found = _find(db, ticket_id)
    if found is None:
        return _missing(ticket_id)
    position, ticket = found
    if _get(ticket, "status") == "Closed":
        return {"error": f"Ticket with ID {ticket_id} is already closed."}
    ticket["status"] = "Closed"
    store.save_ticket(db, position, ticket)
    return {"status": f"Ticket {ticket_id} has been closed successfully."}


@tool
def resolve_ticket(db: Db, ticket_id: TicketId, resolution: str) -> dict[str, str]:
    """Set a ticket's status to "Resolved" and record how it was resolved.

    Args:
        ticket_id: Id of the ticket to resolve.
        resolution: How the issue was resolved.
    """
    found = _find(db, ticket_id)
    if found is None:
        return _missing(ticket_id)
    position, ticket = found
    if _get(ticket, "status") == "Resolved":
        return {"error": f"Ticket with ID {ticket_id} is already resolved."}
    ticket["status"] = "Resolved"
    ticket["resolution"] = resolution
    store.save_ticket(db, position, ticket)
    return {"status": f"Ticket {ticket_id} has been resolved successfully."}


@tool(idempotent=True)
def edit_ticket(
    db: Db, ticket_id: TicketId, updates: dict[str, str | int | None]
) -> dict[str, str]:
    """Change a ticket's title, description, status or priority; null values are skipped.

    Args:
        ticket_id: Id of the ticket to change.
        updates: New values by field name; only "title", "description", "status" and
            "priority" may be given.
    """
    found = _find(db, ticket_id)
    if found is None:
        return _missing(ticket_id)
    position, ticket = found
    # Computed as the original does; the order of several names depends on string hashing.
    invalid = set(updates.keys()) - EDITABLE
    if invalid:
        return {"error": f"Invalid fields for update: {', '.join(invalid)}"}
    ticket.update({k: v for k, v in updates.items() if v is not None})
    store.save_ticket(db, position, ticket)
    return {"status": f"Ticket {ticket_id} has been updated successfully."}


@tool(idempotent=True)
def ticket_login(db: Db, username: str, password: str) -> dict[str, bool]:
    """Log in to the ticket system; any non-empty username and password are accepted.

    Args:
        username: Name to log in as.
        password: Password (not checked, only required to be non-empty).
    """
    if username and password:
        db.execute("UPDATE session SET current_user = ?", (username,))
        return {"success": True}
    return {"success": False}


@tool(read_only=True)
def ticket_get_login_status(db: Db) -> dict[str, bool]:
    """Tell whether a user is logged in to the ticket system (under the key "username")."""
    return {"username": bool(store.session(db)["current_user"])}


@tool(idempotent=True)
def logout(db: Db) -> dict[str, bool]:
    """Log the current user out of the ticket system."""
    if store.session(db)["current_user"]:
        db.execute("UPDATE session SET current_user = NULL")
        return {"success": True}
    return {"success": False}


@tool(read_only=True)
def get_user_tickets(db: Db, status: str | None = None) -> list[dict[str, Any]]:
    """List the logged-in user's tickets in queue order, optionally only those with a status.

    Args:
        status: Only tickets with this status (case-insensitive); all tickets when omitted.
    """
    user = store.session(db)["current_user"]
    if not user:
        return [{"error": "User not authenticated. Please log in to view tickets."}]
    mine = [t for _, t in store.tickets(db) if _get(t, "created_by") == user]
    if status:
        wanted = status.lower()
        mine = [t for t in mine if _lower(_get(t, "status")) == wanted]
    return mine


def _lower(value: Any) -> str:
    if type(value) is not str:  # the original calls .lower() on whatever is stored
        raise ToolError(f"'{type(value).__name__}' object has no attribute 'lower'")
    return value.lower()
