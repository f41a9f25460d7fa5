-- Public library circulation: branches, members, catalogue, copies, loans, holds, payments.
-- Dates are ISO-8601 text; the library's own clock is settings('today').
CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

CREATE TABLE branches (
    branch_id INTEGER PRIMARY KEY,
    code TEXT NOT NULL UNIQUE CHECK (code GLOB '[A-Z][A-Z][A-Z]'),
    name TEXT NOT NULL,
    city TEXT NOT NULL
);

CREATE TABLE members (
    member_id INTEGER PRIMARY KEY,
    card_number TEXT NOT NULL UNIQUE CHECK (card_number GLOB 'C-[0-9][0-9][0-9][0-9]'),
    name TEXT NOT NULL CHECK (length(trim(name)) BETWEEN 1 AND 100),
    email TEXT NOT NULL UNIQUE CHECK (email LIKE '%_@_%._%'),
    home_branch_id INTEGER NOT NULL REFERENCES branches (branch_id),
    status TEXT NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    fines_cents INTEGER NOT NULL DEFAULT 0 CHECK (fines_cents >= 0),
    joined_on TEXT NOT NULL CHECK (date(joined_on) IS joined_on)
);

CREATE TABLE books (
    book_id INTEGER PRIMARY KEY,
    isbn TEXT NOT NULL UNIQUE CHECK (length(isbn) = 13 AND isbn GLOB '97[89]*'),
    title TEXT NOT NULL,
    author TEXT NOT NULL,
    year INTEGER NOT NULL CHECK (year BETWEEN 1450 AND 2100),
    subject TEXT NOT NULL
);

CREATE TABLE copies (
    copy_id INTEGER PRIMARY KEY,
    barcode TEXT NOT NULL UNIQUE CHECK (barcode GLOB 'B[0-9][0-9][0-9][0-9][0-9]'),
    book_id INTEGER NOT NULL REFERENCES books (book_id),
    branch_id INTEGER NOT NULL REFERENCES branches (branch_id),
    status TEXT NOT NULL DEFAULT 'available'
        CHECK (status IN ('available', 'on_loan', 'on_hold_shelf', 'lost'))
);

CREATE TABLE loans (
    loan_id INTEGER PRIMARY KEY,
    copy_id INTEGER NOT NULL REFERENCES copies (copy_id),
    member_id INTEGER NOT NULL REFERENCES members (member_id),
    loaned_on TEXT NOT NULL CHECK (date(loaned_on) IS loaned_on),
    due_on TEXT NOT NULL CHECK (date(due_on) IS due_on),
    returned_on TEXT CHECK (returned_on IS NULL OR date(returned_on) IS returned_on),
    renewals INTEGER NOT NULL DEFAULT 0 CHECK (renewals BETWEEN 0 AND 2),
    CHECK (due_on > loaned_on),
    CHECK (returned_on IS NULL OR returned_on >= loaned_on)
);
-- A copy is on at most one open loan.
CREATE UNIQUE INDEX loans_one_open_per_copy ON loans (copy_id) WHERE returned_on IS NULL;

CREATE TABLE holds (
    hold_id INTEGER PRIMARY KEY,
    book_id INTEGER NOT NULL REFERENCES books (book_id),
    member_id INTEGER NOT NULL REFERENCES members (member_id),
    pickup_branch_id INTEGER NOT NULL REFERENCES branches (branch_id),
    placed_on TEXT NOT NULL CHECK (date(placed_on) IS placed_on),
    status TEXT NOT NULL DEFAULT 'waiting'
        CHECK (status IN ('waiting', 'ready', 'fulfilled', 'cancelled')),
    copy_id INTEGER REFERENCES copies (copy_id),
    CHECK ((status = 'ready') = (copy_id IS NOT NULL) OR status = 'fulfilled')
);
-- One live hold per member and title.
CREATE UNIQUE INDEX holds_one_live ON holds (book_id, member_id)
    WHERE status IN ('waiting', 'ready');

CREATE TABLE payments (
    payment_id INTEGER PRIMARY KEY,
    member_id INTEGER NOT NULL REFERENCES members (member_id),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    paid_on TEXT NOT NULL CHECK (date(paid_on) IS paid_on)
);
