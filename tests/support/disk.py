"""A small disk of our own for the disk-full test: a tmpfs, filled and emptied at will.

Decision: mounting needs root (CAP_SYS_ADMIN). As root, a mount that fails is a test
failure with the reason, never a silent skip: CI runs as root, and a disk-full test
that quietly does nothing proves nothing. As another user the test is skipped, with
the reason shown by `pytest -rs`, since a developer's unprivileged run cannot mount.
"""

from __future__ import annotations

import contextlib
import errno
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

CHUNK_BYTES = 1 << 20
SMALL_CHUNK_BYTES = 4096


@contextlib.contextmanager
def small_tmpfs(path: Path, size_bytes: int) -> Iterator[Path]:
    """Mount a tmpfs of `size_bytes` at `path` (created) for the duration."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (see tests/support/disk.py)")
    path.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_bytes},mode=0700", "tmpfs", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.fail(
            f"running as root but cannot mount a tmpfs at {path}: {mounted.stderr.strip()}. "
            "The disk-full test needs CAP_SYS_ADMIN (e.g. docker run --cap-add SYS_ADMIN)."
        )
    try:
        yield path
    finally:
        unmounted = subprocess.run(["umount", str(path)], capture_output=True, check=False)
        if unmounted.returncode != 0:  # something still holds a file: detach it anyway
            subprocess.run(["umount", "--lazy", str(path)], capture_output=True, check=False)


def fill(path: Path) -> int:
    """Write `path` until the file system is full; returns the bytes written."""
    written = 0
    with path.open("wb", buffering=0) as filler:
        for chunk in (CHUNK_BYTES, SMALL_CHUNK_BYTES):
            block = b"\0" * chunk
            while True:
                try:
                    written += filler.write(block) or 0
                except OSError as exc:
                    if exc.errno != errno.ENOSPC:
                        raise
                    break
    return written


def free_bytes(path: Path) -> int:
    """Bytes free on the file system holding `path`."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize
