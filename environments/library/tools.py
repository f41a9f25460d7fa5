"""Library circulation tools: catalogue search, members, loans, holds and fines.

Business rules live here and in the schema's CHECK constraints; a rule violation raises
`ToolError`, which rolls the call back. Dates come from the library's own clock
(`settings.today`), so every episode is reproducible.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, Field

from environments.contract import Db, ToolError, tool

CardNumber = Annotated[str, Field(pattern=r"^C-\d{4}$", description="Library card, e.g. C-1001")]
Barcode = Annotated[str, Field(pattern=r"^B\d{5}$", description="Copy barcode, e.g. B10001")]
Isbn = Annotated[str, Field(pattern=r"^97[89]\d{10}$", description="13-digit ISBN")]
BranchCode = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="Branch code, e.g. CEN")]
Email = Annotated[str, Field(pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", max_length=254)]


class BookSummary(BaseModel):
    isbn: str
    title: str
    author: str
    year: int
    subject: str
    available_copies: int


class CopyInfo(BaseModel):
    barcode: str
    branch: str
    status: str


class BookDetail(BookSummary):
    copies: list[CopyInfo]
    holds_waiting: int


class Member(BaseModel):
    card_number: str
    name: str
    email: str
    home_branch: str
    status: str
    fines_cents: int
    open_loans: int
    joined_on: str


class Loan(BaseModel):
    barcode: str
    isbn: str
    title: str
    loaned_on: str
    due_on: str
    returned_on: str | None
    renewals: int
    overdue: bool


class Hold(BaseModel):
    isbn: str
    title: str
    pickup_branch: str
    placed_on: str
    status: str


class ReturnReceipt(BaseModel):
    barcode: str
    card_number: str
    returned_on: str
    days_late: int
    fine_charged_cents: int
    routed_to_hold: str | None = Field(None, description="card number of the hold it fills")


# -- helpers (not tools) ---------------------------------------------------------------------
def _setting(db: Db, key: str) -> str:
    return db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()[0]


def _today(db: Db) -> date:
    return date.fromisoformat(_setting(db, "today"))


def _member(db: Db, card_number: str):  # -> sqlite3.Row
    row = db.execute("SELECT * FROM members WHERE card_number = ?", (card_number,)).fetchone()
    if row is None:
        raise ToolError(f"no member with card {card_number}", kind="not_found", field="card_number")
    return row


def _branch_id(db: Db, code: str) -> int:
    row = db.execute("SELECT branch_id FROM branches WHERE code = ?", (code,)).fetchone()
    if row is None:
        raise ToolError(f"no branch with code {code}", kind="not_found", field="branch")
    return row[0]


def _book(db: Db, isbn: str):
    row = db.execute("SELECT * FROM books WHERE isbn = ?", (isbn,)).fetchone()
    if row is None:
        raise ToolError(f"no book with ISBN {isbn}", kind="not_found", field="isbn")
    return row


def _copy(db: Db, barcode: str):
    row = db.execute("SELECT * FROM copies WHERE barcode = ?", (barcode,)).fetchone()
    if row is None:
        raise ToolError(f"no copy with barcode {barcode}", kind="not_found", field="barcode")
    return row


def _open_loan(db: Db, copy_id: int):
    return db.execute(
        "SELECT * FROM loans WHERE copy_id = ? AND returned_on IS NULL", (copy_id,)
    ).fetchone()


def _member_out(db: Db, m) -> Member:
    branch = db.execute("SELECT code FROM branches WHERE branch_id = ?",
                        (m["home_branch_id"],)).fetchone()[0]
    n = db.execute("SELECT COUNT(*) FROM loans WHERE member_id = ? AND returned_on IS NULL",
                   (m["member_id"],)).fetchone()[0]
    return Member(card_number=m["card_number"], name=m["name"], email=m["email"],
                  home_branch=branch, status=m["status"], fines_cents=m["fines_cents"],
                  open_loans=n, joined_on=m["joined_on"])


# -- reads -----------------------------------------------------------------------------------
@tool(read_only=True)
def search_catalog(
    db: Db,
    query: Annotated[str, Field(min_length=1, max_length=200)],
    subject: str | None = None,
    limit: Annotated[int, Field(ge=1, le=50)] = 10,
) -> list[BookSummary]:
    """Search the catalogue by words in the title or author's name.

    Args:
        query: Words to look for (case-insensitive); every word must match.
        subject: Only books with this subject, e.g. "fiction" or "science".
        limit: Maximum number of results.
    """
    sql = ["SELECT b.*, (SELECT COUNT(*) FROM copies c WHERE c.book_id = b.book_id "
           "AND c.status = 'available') AS available FROM books b WHERE 1"]
    args: list[object] = []
    for word in query.split():
        sql.append("AND (b.title LIKE ? ESCAPE '\\' OR b.author LIKE ? ESCAPE '\\')")
        pattern = "%" + word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        args += [pattern, pattern]
    if subject is not None:
        sql.append("AND b.subject = ?")
        args.append(subject.lower())
    sql.append("ORDER BY b.title LIMIT ?")
    args.append(limit)
    return [
        BookSummary(isbn=r["isbn"], title=r["title"], author=r["author"], year=r["year"],
                    subject=r["subject"], available_copies=r["available"])
        for r in db.execute(" ".join(sql), args)
    ]


@tool(read_only=True)
def get_book(db: Db, isbn: Isbn) -> BookDetail:
    """Show a book with every copy, where it is, and how many holds are waiting.

    Args:
        isbn: The book's ISBN-13.
    """
    b = _book(db, isbn)
    copies = [
        CopyInfo(barcode=r["barcode"], branch=r["code"], status=r["status"])
        for r in db.execute(
            "SELECT c.barcode, br.code, c.status FROM copies c "
            "JOIN branches br ON br.branch_id = c.branch_id WHERE c.book_id = ? ORDER BY c.barcode",
            (b["book_id"],),
        )
    ]
    waiting = db.execute("SELECT COUNT(*) FROM holds WHERE book_id = ? AND status = 'waiting'",
                         (b["book_id"],)).fetchone()[0]
    return BookDetail(isbn=b["isbn"], title=b["title"], author=b["author"], year=b["year"],
                      subject=b["subject"],
                      available_copies=sum(c.status == "available" for c in copies),
                      copies=copies, holds_waiting=waiting)


@tool(read_only=True)
def get_member(db: Db, card_number: CardNumber) -> Member:
    """Look up a member: contact details, status, outstanding fines and open loans.

    Args:
        card_number: The member's library card number.
    """
    return _member_out(db, _member(db, card_number))


@tool(read_only=True)
def list_loans(db: Db, card_number: CardNumber, include_returned: bool = False) -> list[Loan]:
    """List a member's loans, newest first, flagging overdue ones.

    Args:
        card_number: The member's library card number.
        include_returned: Also list loans that were already returned.
    """
    m = _member(db, card_number)
    today = _today(db).isoformat()
    rows = db.execute(
        "SELECT c.barcode, b.isbn, b.title, l.* FROM loans l JOIN copies c USING (copy_id) "
        "JOIN books b ON b.book_id = c.book_id WHERE l.member_id = ? "
        + ("" if include_returned else "AND l.returned_on IS NULL ")
        + "ORDER BY l.loaned_on DESC, l.loan_id DESC",
        (m["member_id"],),
    )
    return [
        Loan(barcode=r["barcode"], isbn=r["isbn"], title=r["title"], loaned_on=r["loaned_on"],
             due_on=r["due_on"], returned_on=r["returned_on"], renewals=r["renewals"],
             overdue=r["returned_on"] is None and r["due_on"] < today)
        for r in rows
    ]


@tool(read_only=True)
def list_holds(db: Db, card_number: CardNumber) -> list[Hold]:
    """List a member's live holds (waiting or ready for pickup).

    Args:
        card_number: The member's library card number.
    """
    m = _member(db, card_number)
    return [
        Hold(isbn=r["isbn"], title=r["title"], pickup_branch=r["code"], placed_on=r["placed_on"],
             status=r["status"])
        for r in db.execute(
            "SELECT b.isbn, b.title, br.code, h.placed_on, h.status FROM holds h "
            "JOIN books b USING (book_id) JOIN branches br ON br.branch_id = h.pickup_branch_id "
            "WHERE h.member_id = ? AND h.status IN ('waiting', 'ready') ORDER BY h.placed_on",
            (m["member_id"],),
        )
    ]


# -- writes ----------------------------------------------------------------------------------
@tool
def register_member(
    db: Db,
    name: Annotated[str, Field(min_length=1, max_length=100)],
    email: Email,
    home_branch: BranchCode,
) -> Member:
    """Register a new member and issue the next free library card.

    Args:
        name: The member's full name.
        email: Contact email; must not belong to another member.
        home_branch: Code of the member's home branch.
    """
    branch_id = _branch_id(db, home_branch)
    if db.execute("SELECT 1 FROM members WHERE email = ?", (email,)).fetchone():
        raise ToolError(f"email {email} is already registered", kind="conflict", field="email")
    last = db.execute("SELECT MAX(CAST(substr(card_number, 3) AS INTEGER)) FROM members")
    card = f"C-{(last.fetchone()[0] or 1000) + 1:04d}"
    db.execute(
        "INSERT INTO members (card_number, name, email, home_branch_id, joined_on) "
        "VALUES (?, ?, ?, ?, ?)",
        (card, name.strip(), email, branch_id, _today(db).isoformat()),
    )
    return _member_out(db, _member(db, card))


@tool(idempotent=True)
def update_member_email(db: Db, card_number: CardNumber, email: Email) -> Member:
    """Change a member's contact email.

    Args:
        card_number: The member's library card number.
        email: The new email; must not belong to another member.
    """
    m = _member(db, card_number)
    other = db.execute("SELECT card_number FROM members WHERE email = ? AND member_id != ?",
                       (email, m["member_id"])).fetchone()
    if other:
        raise ToolError(f"email {email} belongs to another member", kind="conflict",
                        field="email")
    db.execute("UPDATE members SET email = ? WHERE member_id = ?", (email, m["member_id"]))
    return _member_out(db, _member(db, card_number))


@tool
def checkout(db: Db, card_number: CardNumber, barcode: Barcode) -> Loan:
    """Lend a copy to a member for the standard loan period.

    The member must be active, below the loan limit and owe less than the fine block; the
    copy must be on the shelf, or on the hold shelf for this member.

    Args:
        card_number: The borrowing member's card number.
        barcode: Barcode of the copy being borrowed.
    """
    m = _member(db, card_number)
    c = _copy(db, barcode)
    if m["status"] != "active":
        raise ToolError(f"member {card_number} is {m['status']}", kind="not_allowed")
    if m["fines_cents"] >= int(_setting(db, "fine_block_cents")):
        raise ToolError(f"member {card_number} owes {m['fines_cents']} cents in fines",
                        kind="not_allowed")
    n_open = db.execute("SELECT COUNT(*) FROM loans WHERE member_id = ? AND returned_on IS NULL",
                        (m["member_id"],)).fetchone()[0]
    if n_open >= int(_setting(db, "max_loans")):
        raise ToolError(f"member {card_number} already has {n_open} loans", kind="not_allowed")
    hold = db.execute("SELECT hold_id, member_id FROM holds WHERE copy_id = ? AND status = 'ready'",
                      (c["copy_id"],)).fetchone()
    if c["status"] == "on_hold_shelf":
        if hold is None or hold["member_id"] != m["member_id"]:
            raise ToolError(f"copy {barcode} is held for another member", kind="not_allowed")
        db.execute("UPDATE holds SET status = 'fulfilled' WHERE hold_id = ?", (hold["hold_id"],))
    elif c["status"] != "available":
        raise ToolError(f"copy {barcode} is {c['status']}", kind="not_allowed", field="barcode")
    today = _today(db)
    due = today + timedelta(days=int(_setting(db, "loan_days")))
    db.execute("UPDATE copies SET status = 'on_loan' WHERE copy_id = ?", (c["copy_id"],))
    db.execute(
        "INSERT INTO loans (copy_id, member_id, loaned_on, due_on) VALUES (?, ?, ?, ?)",
        (c["copy_id"], m["member_id"], today.isoformat(), due.isoformat()),
    )
    return list_loans(db, card_number)[0]


@tool
def return_copy(db: Db, barcode: Barcode) -> ReturnReceipt:
    """Check a copy back in, charge any late fine, and route it to the next waiting hold.

    Args:
        barcode: Barcode of the copy being returned.
    """
    c = _copy(db, barcode)
    loan = _open_loan(db, c["copy_id"])
    if loan is None:
        raise ToolError(f"copy {barcode} is not on loan", kind="not_allowed", field="barcode")
    today = _today(db)
    late = max(0, (today - date.fromisoformat(loan["due_on"])).days)
    fine = late * int(_setting(db, "fine_cents_per_day"))
    db.execute("UPDATE loans SET returned_on = ? WHERE loan_id = ?",
               (today.isoformat(), loan["loan_id"]))
    if fine:
        db.execute("UPDATE members SET fines_cents = fines_cents + ? WHERE member_id = ?",
                   (fine, loan["member_id"]))
    hold = db.execute(
        "SELECT h.hold_id, m.card_number FROM holds h JOIN members m USING (member_id) "
        "WHERE h.book_id = ? AND h.status = 'waiting' ORDER BY h.placed_on, h.hold_id LIMIT 1",
        (c["book_id"],),
    ).fetchone()
    if hold is not None:
        db.execute("UPDATE holds SET status = 'ready', copy_id = ? WHERE hold_id = ?",
                   (c["copy_id"], hold["hold_id"]))
    db.execute("UPDATE copies SET status = ? WHERE copy_id = ?",
               ("on_hold_shelf" if hold else "available", c["copy_id"]))
    card = db.execute("SELECT card_number FROM members WHERE member_id = ?",
                      (loan["member_id"],)).fetchone()[0]
    return ReturnReceipt(barcode=barcode, card_number=card, returned_on=today.isoformat(),
                         days_late=late, fine_charged_cents=fine,
                         routed_to_hold=hold["card_number"] if hold else None)


@tool
def renew_loan(db: Db, barcode: Barcode) -> Loan:
    """Extend an open, not yet overdue loan by one loan period (at most twice, and not
    while another member is waiting for the title).

    Args:
        barcode: Barcode of the borrowed copy.
    """
    c = _copy(db, barcode)
    loan = _open_loan(db, c["copy_id"])
    if loan is None:
        raise ToolError(f"copy {barcode} is not on loan", kind="not_allowed", field="barcode")
    today = _today(db)
    if loan["due_on"] < today.isoformat():
        raise ToolError(f"loan of {barcode} is overdue since {loan['due_on']}", kind="not_allowed")
    if loan["renewals"] >= int(_setting(db, "max_renewals")):
        raise ToolError(f"loan of {barcode} was already renewed {loan['renewals']} times",
                        kind="not_allowed")
    if db.execute("SELECT 1 FROM holds WHERE book_id = ? AND status = 'waiting'",
                  (c["book_id"],)).fetchone():
        raise ToolError(f"another member is waiting for {barcode}'s title", kind="not_allowed")
    due = date.fromisoformat(loan["due_on"]) + timedelta(days=int(_setting(db, "loan_days")))
    db.execute("UPDATE loans SET due_on = ?, renewals = renewals + 1 WHERE loan_id = ?",
               (due.isoformat(), loan["loan_id"]))
    card = db.execute("SELECT card_number FROM members WHERE member_id = ?",
                      (loan["member_id"],)).fetchone()[0]
    return next(x for x in list_loans(db, card) if x.barcode == barcode)


@tool
def place_hold(db: Db, card_number: CardNumber, isbn: Isbn, pickup_branch: BranchCode) -> Hold:
    """Reserve a title for a member, to be picked up at a branch.

    Args:
        card_number: The member's card number.
        isbn: ISBN of the wanted book.
        pickup_branch: Code of the branch where the member will collect it.
    """
    m = _member(db, card_number)
    b = _book(db, isbn)
    branch_id = _branch_id(db, pickup_branch)
    if m["status"] != "active":
        raise ToolError(f"member {card_number} is {m['status']}", kind="not_allowed")
    live = db.execute("SELECT 1 FROM holds WHERE book_id = ? AND member_id = ? "
                      "AND status IN ('waiting', 'ready')", (b["book_id"], m["member_id"]))
    if live.fetchone():
        raise ToolError(f"{card_number} already holds {isbn}", kind="conflict")
    db.execute(
        "INSERT INTO holds (book_id, member_id, pickup_branch_id, placed_on) VALUES (?, ?, ?, ?)",
        (b["book_id"], m["member_id"], branch_id, _today(db).isoformat()),
    )
    return next(h for h in list_holds(db, card_number) if h.isbn == isbn)


@tool(idempotent=True)
def cancel_hold(db: Db, card_number: CardNumber, isbn: Isbn) -> Hold:
    """Cancel a member's live hold on a title; a copy on the hold shelf goes back on the shelf.

    Args:
        card_number: The member's card number.
        isbn: ISBN of the held book.
    """
    m = _member(db, card_number)
    b = _book(db, isbn)
    h = db.execute(
        "SELECT h.*, br.code FROM holds h JOIN branches br ON br.branch_id = h.pickup_branch_id "
        "WHERE h.book_id = ? AND h.member_id = ? AND h.status IN ('waiting', 'ready')",
        (b["book_id"], m["member_id"]),
    ).fetchone()
    if h is None:
        raise ToolError(f"{card_number} has no live hold on {isbn}", kind="not_found")
    if h["copy_id"] is not None:
        db.execute("UPDATE copies SET status = 'available' WHERE copy_id = ?", (h["copy_id"],))
    db.execute("UPDATE holds SET status = 'cancelled', copy_id = NULL WHERE hold_id = ?",
               (h["hold_id"],))
    return Hold(isbn=isbn, title=b["title"], pickup_branch=h["code"], placed_on=h["placed_on"],
                status="cancelled")


@tool
def pay_fine(
    db: Db, card_number: CardNumber, amount_cents: Annotated[int, Field(gt=0, le=1_000_000)]
) -> Member:
    """Record a payment against a member's outstanding fines.

    Args:
        card_number: The member's card number.
        amount_cents: Amount paid, in cents; may not exceed what is owed.
    """
    m = _member(db, card_number)
    if amount_cents > m["fines_cents"]:
        raise ToolError(f"{card_number} owes only {m['fines_cents']} cents",
                        kind="invalid_request", field="amount_cents")
    db.execute("UPDATE members SET fines_cents = fines_cents - ? WHERE member_id = ?",
               (amount_cents, m["member_id"]))
    db.execute("INSERT INTO payments (member_id, amount_cents, paid_on) VALUES (?, ?, ?)",
               (m["member_id"], amount_cents, _today(db).isoformat()))
    return _member_out(db, _member(db, card_number))


@tool(idempotent=True)
def set_member_status(
    db: Db, card_number: CardNumber, status: Literal["active", "suspended"]
) -> Member:
    """Suspend or reactivate a member's borrowing rights.

    Args:
        card_number: The member's card number.
        status: The new status.
    """
    m = _member(db, card_number)
    db.execute("UPDATE members SET status = ? WHERE member_id = ?", (status, m["member_id"]))
    return _member_out(db, _member(db, card_number))


@tool(destructive=True)
def delete_member(db: Db, card_number: CardNumber) -> dict[str, str]:
    """Permanently remove a member with their holds and payment history.

    Refused while the member has open loans or owes fines.

    Args:
        card_number: The member's card number.
    """
    m = _member(db, card_number)
    if _member_out(db, m).open_loans:
        raise ToolError(f"{card_number} still has open loans", kind="not_allowed")
    if m["fines_cents"]:
        raise ToolError(f"{card_number} still owes {m['fines_cents']} cents", kind="not_allowed")
    for h in db.execute("SELECT copy_id FROM holds WHERE member_id = ? AND status = 'ready'",
                        (m["member_id"],)).fetchall():
        db.execute("UPDATE copies SET status = 'available' WHERE copy_id = ?", (h["copy_id"],))
    db.execute("DELETE FROM holds WHERE member_id = ?", (m["member_id"],))
    db.execute("DELETE FROM payments WHERE member_id = ?", (m["member_id"],))
    db.execute("DELETE FROM loans WHERE member_id = ?", (m["member_id"],))
    db.execute("DELETE FROM members WHERE member_id = ?", (m["member_id"],))
    return {"deleted": card_number}
