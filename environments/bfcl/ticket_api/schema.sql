-- BFCL TicketAPI: a support-ticket queue and who is logged in. Columns are declared without a
-- type (no affinity) so values are stored exactly as given: the original is Python and results
-- are compared as their string forms, so 1 and "1" must never be conflated.

-- Scalar attributes of the instance (exactly one row).
CREATE TABLE session (
    singleton INTEGER PRIMARY KEY CHECK (singleton = 1),
    ticket_counter NOT NULL CHECK (typeof(ticket_counter) = 'integer'),  -- next ticket id
    current_user CHECK (current_user IS NULL OR typeof(current_user) = 'text')  -- NULL: nobody
);

-- `ticket_queue`, in order. A ticket is a dict whose keys vary between scenarios (some lack
-- title, priority or created_by, some add issue/subject/booking_id/..., one nests a whole
-- ticket under "ticket_001"), and values may be str or int (e.g. priority "high" or 3). The
-- usual fields have their own columns; `field_order` lists the keys the dict has, in order
-- (a NULL column whose key is listed holds None), and `other_fields` holds any other key, or a
-- usual key whose value a column cannot hold exactly (a nested value, a bool, an int beyond
-- 64 bits). Ids are not unique in principle: lookups take the first ticket with the id.
CREATE TABLE tickets (
    position INTEGER PRIMARY KEY,
    id CHECK (id IS NULL OR typeof(id) IN ('integer', 'text', 'real')),
    title CHECK (title IS NULL OR typeof(title) IN ('integer', 'text', 'real')),
    description CHECK (description IS NULL OR typeof(description) IN ('integer', 'text', 'real')),
    status CHECK (status IS NULL OR typeof(status) IN ('integer', 'text', 'real')),
    priority CHECK (priority IS NULL OR typeof(priority) IN ('integer', 'text', 'real')),
    created_by CHECK (created_by IS NULL OR typeof(created_by) IN ('integer', 'text', 'real')),
    resolution CHECK (resolution IS NULL OR typeof(resolution) IN ('integer', 'text', 'real')),
    field_order TEXT NOT NULL CHECK (json_valid(field_order) AND json_type(field_order) = 'array'),
    other_fields TEXT CHECK (other_fields IS NULL OR json_type(other_fields) = 'object')
);
CREATE INDEX tickets_by_id ON tickets (id);
