-- GorillaFileSystem (BFCL-V3) as tables.
--
-- The original is a graph of Python objects, not a strict tree: a Directory holds a
-- `contents` dict (name -> File/Directory) and a `parent` pointer, and `mv`/`cp` of a
-- directory make the new Directory object share (mv) or shallow-copy (cp) the old object's
-- dict. Several directories can therefore see the same dict, and one File or Directory can
-- sit in several dicts. To behave identically, a dict is its own row (`listings`), its
-- items are `entries`, and a directory node points at the listing it currently uses.
-- Nodes that become unreachable (from the root, the current directory, or through parent
-- pointers) are deleted after every write, as Python would collect them.

CREATE TABLE listings (
    id INTEGER PRIMARY KEY
);

CREATE TABLE nodes (
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL CHECK (kind IN ('file', 'directory')),
    name TEXT NOT NULL,
    -- File.content; NULL for directories.
    content TEXT,
    -- Directory.parent (None for the root); NULL for files, which have no parent pointer.
    parent_id INTEGER REFERENCES nodes (id),
    -- The dict a directory's `contents` attribute currently refers to.
    listing_id INTEGER REFERENCES listings (id),
    CHECK (
        (kind = 'file' AND content IS NOT NULL AND parent_id IS NULL AND listing_id IS NULL)
        OR (kind = 'directory' AND content IS NULL AND listing_id IS NOT NULL)
    ),
    CHECK (parent_id IS NULL OR parent_id != id)
);

-- One item of a contents dict; `position` keeps the dict's insertion order.
CREATE TABLE entries (
    listing_id INTEGER NOT NULL REFERENCES listings (id),
    name TEXT NOT NULL,
    node_id INTEGER NOT NULL REFERENCES nodes (id),
    position INTEGER NOT NULL CHECK (position >= 1),
    PRIMARY KEY (listing_id, name),
    UNIQUE (listing_id, position)
);

CREATE INDEX entries_node ON entries (node_id);

-- The instance's scalar attributes (single row).
CREATE TABLE fs_state (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    root_id INTEGER NOT NULL REFERENCES nodes (id),
    current_id INTEGER NOT NULL REFERENCES nodes (id),
    long_context INTEGER NOT NULL CHECK (long_context IN (0, 1))
);
