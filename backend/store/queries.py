"""The SQL of the SQLite store, named by what each statement does."""

INSERT_USER = "INSERT INTO users (id, phone, name, token_hash, created_ts) VALUES (?, ?, ?, ?, ?)"
SET_TOKEN_HASH = "UPDATE users SET token_hash = ? WHERE id = ?"
USER_BY_ID = "SELECT * FROM users WHERE id = ?"
USER_BY_TOKEN_HASH = "SELECT * FROM users WHERE token_hash = ? AND disabled = 0"
UPDATE_PROFILE = """
UPDATE users SET name = coalesce(?, name), about = coalesce(?, about) WHERE id = ?
"""
SET_PRESENCE = """
UPDATE users SET online = ?, last_seen = max(coalesce(last_seen, 0), ?) WHERE id = ?
"""
# {params}: one placeholder per user.
TOUCH_LAST_SEEN = "UPDATE users SET last_seen = ? WHERE online = 1 AND id IN ({params})"
PRESENCE_STATES = "SELECT id, online, last_seen FROM users WHERE disabled = 0 ORDER BY id"

CONVERSATION = "SELECT * FROM conversations WHERE conv = ?"
INSERT_CONVERSATION = """
INSERT INTO conversations (conv, kind, name, created_ts) VALUES (?, ?, ?, ?)
"""
NEXT_SEQ = "UPDATE conversations SET last_seq = last_seq + 1 WHERE conv = ? RETURNING last_seq"

INSERT_MEMBER = """
INSERT INTO members (conv, user, joined_seq, joined_ts, is_admin, delivered, read)
VALUES (?, ?, ?, ?, ?, ?, ?)
"""
MEMBERSHIP = "SELECT * FROM members WHERE conv = ? AND user = ?"
MEMBERSHIP_WITH_CONV = """
SELECT m.*, c.kind, c.name, c.last_seq
FROM members AS m JOIN conversations AS c ON c.conv = m.conv
WHERE m.conv = ? AND m.user = ?
"""
MEMBERSHIPS_OF_USER = """
SELECT m.*, c.kind, c.name, c.last_seq
FROM members AS m JOIN conversations AS c ON c.conv = m.conv
WHERE m.user = ?
ORDER BY m.conv
"""
CURRENT_MEMBERS = "SELECT user FROM members WHERE conv = ? AND left_seq IS NULL ORDER BY user"
OTHER_CURRENT_MEMBERS = """
SELECT user FROM members WHERE conv = ? AND left_seq IS NULL AND user != ? ORDER BY user
"""
# {params} is a list of placeholders, one per conversation.
CURRENT_MEMBERS_OF_CONVS = """
SELECT conv, user, is_admin FROM members
WHERE conv IN ({params}) AND left_seq IS NULL
ORDER BY conv, joined_seq, user
"""
MIN_MARKS_OF_CONVS = """
SELECT conv, min(delivered) AS delivered, min(read) AS read FROM members
WHERE conv IN ({params}) AND left_seq IS NULL
GROUP BY conv
"""
MIN_MARKS_OF_CONV = """
SELECT min(delivered) AS delivered, min(read) AS read FROM members
WHERE conv = ? AND left_seq IS NULL
"""
MEMBERS_SEEING = """
SELECT user FROM members
WHERE conv = ? AND joined_seq <= ? AND (left_seq IS NULL OR left_seq >= ?)
ORDER BY user
"""
SET_MARKS = "UPDATE members SET delivered = ?, read = ?, confirmed = ? WHERE conv = ? AND user = ?"
# The first message after a seq that the member did not send.
FIRST_FOREIGN_AFTER = "SELECT min(seq) FROM messages WHERE conv = ? AND seq > ? AND sender != ?"
LOG_MARK = "INSERT OR IGNORE INTO mark_log (conv, user, kind, seq, ts) VALUES (?, ?, ?, ?, ?)"
# The first advance of a member's mark to or past a seq: when that seq was reached.
MARK_REACHED = """
SELECT ts FROM mark_log WHERE conv = ? AND user = ? AND kind = ? AND seq >= ? ORDER BY seq LIMIT 1
"""
# Current members other than the reader who sent something in (after, upto]: one index
# probe per member, whatever the number of messages in the range.
SENDERS_IN_RANGE = """
SELECT m.user FROM members AS m
WHERE m.conv = ?1 AND m.left_seq IS NULL AND m.user != ?2
  AND EXISTS (
    SELECT 1 FROM messages AS msg
    WHERE msg.conv = ?1 AND msg.sender = m.user AND msg.seq > ?3 AND msg.seq <= ?4
  )
ORDER BY m.user
"""

_MESSAGE_COLUMNS = """
msg.conv, msg.seq, msg.sender, msg.ts, msg.kind, msg.text, msg.event, msg.media_id,
md.mime AS media_mime, md.size AS media_size, md.sha256 AS media_sha256,
md.width AS media_width, md.height AS media_height, md.duration_ms AS media_duration_ms,
md.thumb AS media_thumb
"""
MESSAGES_RANGE_ASC = f"""
SELECT {_MESSAGE_COLUMNS} FROM messages AS msg LEFT JOIN media AS md ON md.id = msg.media_id
WHERE msg.conv = ? AND msg.seq BETWEEN ? AND ? ORDER BY msg.seq LIMIT ?
"""
MESSAGES_RANGE_DESC = f"""
SELECT {_MESSAGE_COLUMNS} FROM messages AS msg LEFT JOIN media AS md ON md.id = msg.media_id
WHERE msg.conv = ? AND msg.seq BETWEEN ? AND ? ORDER BY msg.seq DESC LIMIT ?
"""
MESSAGE_BY_CLIENT_ID = "SELECT conv, seq FROM messages WHERE sender = ? AND client_id = ?"
MESSAGE_SENDER = "SELECT sender FROM messages WHERE conv = ? AND seq = ?"
INSERT_MESSAGE = """
INSERT INTO messages (conv, seq, sender, client_id, ts, kind, text, media_id)
VALUES (?, ?, ?, ?, ?, ?, ?, ?)
"""

INSERT_MEDIA = """
INSERT INTO media (id, owner, kind, mime, size, sha256, width, height, duration_ms, thumb, created_ts)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
MEDIA_BY_ID = "SELECT * FROM media WHERE id = ?"
# The uploader, or a member who can see a message carrying the media.
MEDIA_READABLE_BY = """
SELECT 1 FROM media WHERE id = ?1 AND owner = ?2
UNION ALL
SELECT 1 FROM messages AS msg JOIN members AS m ON m.conv = msg.conv
WHERE msg.media_id = ?1 AND m.user = ?3
  AND m.joined_seq <= msg.seq AND (m.left_seq IS NULL OR m.left_seq >= msg.seq)
LIMIT 1
"""

# Groups
CURRENT_MEMBERS_DETAIL = """
SELECT user, is_admin, joined_seq FROM members WHERE conv = ? AND left_seq IS NULL
"""
INSERT_EVENT = """
INSERT INTO messages (conv, seq, sender, ts, kind, event) VALUES (?, ?, ?, ?, 'event', ?)
"""
RENAME_CONVERSATION = "UPDATE conversations SET name = ? WHERE conv = ?"
# A member joins (or rejoins: the earlier window is replaced by the new one).
JOIN_MEMBER = """
INSERT INTO members (conv, user, joined_seq, joined_ts, is_admin, delivered, read, confirmed)
VALUES (?1, ?2, ?3, ?4, ?5, ?3 - 1, ?3 - 1, ?3 - 1)
ON CONFLICT (conv, user) DO UPDATE SET
    joined_seq = excluded.joined_seq, joined_ts = excluded.joined_ts, left_seq = NULL,
    is_admin = excluded.is_admin, delivered = excluded.delivered, read = excluded.read,
    confirmed = excluded.confirmed
"""
LEAVE_MEMBER = "UPDATE members SET left_seq = ?, is_admin = 0 WHERE conv = ? AND user = ?"
SET_ADMIN = "UPDATE members SET is_admin = ? WHERE conv = ? AND user = ?"

# Media cleanup: uploads no message carries, oldest first.
UNUSED_MEDIA_BEFORE = """
SELECT id FROM media
WHERE created_ts < ? AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.media_id = media.id)
ORDER BY created_ts LIMIT ?
"""
# Deletes only if still unused: a message may have taken the upload since it was listed.
DELETE_UNUSED_MEDIA = """
DELETE FROM media
WHERE id = ? AND NOT EXISTS (SELECT 1 FROM messages WHERE messages.media_id = media.id)
RETURNING sha256
"""
MEDIA_SHA256_IN_USE = "SELECT 1 FROM media WHERE sha256 = ? LIMIT 1"
