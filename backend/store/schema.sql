-- mqchat's SQLite schema. PRAGMA user_version holds its version (see sqlite.py).

CREATE TABLE IF NOT EXISTS users (
    id          TEXT PRIMARY KEY,
    phone       TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL DEFAULT '',
    about       TEXT NOT NULL DEFAULT '',
    token_hash  BLOB NOT NULL UNIQUE,      -- SHA-256 of the access token; the token is never stored
    disabled    INTEGER NOT NULL DEFAULT 0,
    created_ts  INTEGER NOT NULL,
    last_seen   INTEGER,                   -- when the user was last connected
    online      INTEGER NOT NULL DEFAULT 0 -- shown online; cleared at the next start if stale
) STRICT;

CREATE TABLE IF NOT EXISTS conversations (
    conv        TEXT PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('dm', 'group')),
    name        TEXT,
    last_seq    INTEGER NOT NULL DEFAULT 0,
    created_ts  INTEGER NOT NULL
) STRICT;

-- One row per (conversation, user) that ever was a member. The member sees seqs from
-- joined_seq to left_seq (NULL: still a member). delivered/read are the receipt marks,
-- where the member's own messages count as read (they jump to each one it sends).
-- confirmed is what sync starts after: what the member's receipts confirmed, moved over
-- its own messages only where no one else's message lies in between.
CREATE TABLE IF NOT EXISTS members (
    conv        TEXT NOT NULL REFERENCES conversations (conv),
    user        TEXT NOT NULL REFERENCES users (id),
    joined_seq  INTEGER NOT NULL,
    joined_ts   INTEGER NOT NULL,
    left_seq    INTEGER,
    is_admin    INTEGER NOT NULL DEFAULT 0,
    delivered   INTEGER NOT NULL DEFAULT 0,
    read        INTEGER NOT NULL DEFAULT 0,
    confirmed   INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (conv, user)
) STRICT, WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS members_by_user ON members (user, conv);

CREATE TABLE IF NOT EXISTS media (
    id          TEXT PRIMARY KEY,
    owner       TEXT NOT NULL REFERENCES users (id),
    kind        TEXT NOT NULL CHECK (kind IN ('image', 'voice')),
    mime        TEXT NOT NULL,
    size        INTEGER NOT NULL,
    sha256      TEXT NOT NULL,
    width       INTEGER,
    height      INTEGER,
    duration_ms INTEGER,
    thumb       TEXT,
    created_ts  INTEGER NOT NULL
) STRICT;

CREATE TABLE IF NOT EXISTS messages (
    conv        TEXT NOT NULL REFERENCES conversations (conv),
    seq         INTEGER NOT NULL,
    sender      TEXT NOT NULL,
    client_id   TEXT,                       -- the sender's request id; NULL for server events
    ts          INTEGER NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('text', 'image', 'voice', 'event')),
    text        TEXT,
    media_id    TEXT REFERENCES media (id),
    event       TEXT,                       -- JSON of a group event
    PRIMARY KEY (conv, seq)
) STRICT;

-- Idempotency of sends, kept for good: a retry finds the message it already created.
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_client_id
    ON messages (sender, client_id) WHERE client_id IS NOT NULL;
-- "Did this member send anything in (a, b]?": finds whom a receipt concerns in O(members).
CREATE INDEX IF NOT EXISTS messages_by_sender ON messages (conv, sender, seq);
CREATE INDEX IF NOT EXISTS messages_by_media ON messages (media_id) WHERE media_id IS NOT NULL;

-- Append-only log of mark advances: one row per receipt that moved a mark, whatever the
-- number of messages it covers. The first row with seq >= S tells when S was reached.
CREATE TABLE IF NOT EXISTS mark_log (
    conv        TEXT NOT NULL,
    user        TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('delivered', 'read')),
    seq         INTEGER NOT NULL,
    ts          INTEGER NOT NULL,
    PRIMARY KEY (conv, user, kind, seq)
) STRICT, WITHOUT ROWID;

-- Media cleanup: old uploads by age; whether a stored file is still named by any upload.
CREATE INDEX IF NOT EXISTS media_by_created ON media (created_ts);
CREATE INDEX IF NOT EXISTS media_by_sha256 ON media (sha256);
