"""Removing uploads that no message used, and temp files a crash left behind.

An upload is made first and sent afterwards; one never sent would stay forever. The
cleanup task deletes those older than a configured age, and then the files that no
remaining upload names. An upload that a message carries is never deleted: the store
re-checks that in the same transaction as the delete, which sends are serialized with.
"""

from __future__ import annotations

import asyncio
import logging

from backend.media.storage import MediaStorage
from backend.service import Clock, wall_clock_ms
from backend.store.base import Store

log = logging.getLogger(__name__)

BATCH = 500  # uploads deleted per store transaction: keeps the writer's turns short
TEMP_MAX_AGE_S = 3600.0  # an upload untouched for this long is no longer in progress


async def remove_unused_uploads(store: Store, storage: MediaStorage, older_than: int) -> int:
    """Delete uploads created before `older_than` (ms) that no message carries.

    Returns how many were listed for deletion (a few may have been sent meanwhile).
    """
    listed = 0
    while True:
        media_ids = await store.unused_media(older_than, BATCH)
        if not media_ids:
            return listed
        listed += len(media_ids)
        async with storage.lock:  # no upload places a file between the delete and the unlink
            orphans = await store.delete_unused_media(media_ids)
            await asyncio.to_thread(_remove_files, storage, orphans)
        if len(media_ids) < BATCH:
            return listed


async def run_cleanup(
    store: Store,
    storage: MediaStorage,
    max_age_s: float,
    interval_s: float,
    clock: Clock = wall_clock_ms,
) -> None:
    """Every `interval_s`, remove uploads unused for `max_age_s` and stale temp files."""
    while True:
        try:
            removed = await remove_unused_uploads(store, storage, clock() - round(max_age_s * 1000))
            swept = await asyncio.to_thread(storage.sweep_temp, TEMP_MAX_AGE_S)
            if removed or swept:
                log.info("media cleanup: %d unused uploads, %d temp files", removed, swept)
        except Exception:
            # A failed round (a full disk, a locked file) is retried at the next interval;
            # it must not take the server down with it.
            log.exception("media cleanup failed")
        await asyncio.sleep(interval_s)


def _remove_files(storage: MediaStorage, digests: list[str]) -> None:
    for digest in digests:
        storage.remove(digest)
