"""Upload throughput and the server's memory during 16 MiB uploads.

    python -m tests.bench.media_upload [--runs 3]

Starts a real server on free loopback ports in a temp directory, and for each payload
measures the wall time of `POST /v1/media` (request start to 201/415) and samples the
server process's resident set (VmRSS, every few ms) while the upload is in flight.

Payloads, each about 16 MiB:
- `stream only`: a PNG signature then zeros, received whole and refused at sniffing:
  the cost of streaming, hashing and writing to disk, and nothing else.
- `voice (mp3)`: valid MPEG frames: streaming plus the frame walk and the fsync.
- `image (jpeg)`: a 4096x3072 noise JPEG: streaming plus decoding, re-encoding and
  thumbnails, the most a 16 MiB upload can cost.
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
from PIL import Image

from tests.support import media_files
from tests.support.server import ServerProcess

MiB = 1024 * 1024
SAMPLE_INTERVAL_S = 0.005


def rss_bytes(pid: int) -> int:
    """The resident set of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


class RssSampler:
    """Samples a process's RSS in a thread; `peak` is the largest seen."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, rss_bytes(self.pid))
            self._stop.wait(SAMPLE_INTERVAL_S)

    def __enter__(self) -> RssSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


@dataclass(frozen=True)
class Payload:
    name: str
    data: bytes
    content_type: str
    expected_status: int


def payloads() -> list[Payload]:
    frames = (16 * MiB - 1024) // media_files.MP3_FRAME_BYTES
    buffer = io.BytesIO()
    Image.effect_noise((4096, 3072), 90).convert("RGB").save(buffer, "JPEG", quality=98)
    return [
        Payload("stream only", b"\x89PNG\r\n\x1a\n" + bytes(16 * MiB - 8), "image/png", 415),
        Payload("voice (mp3)", media_files.mp3(frames), "audio/mpeg", 201),
        Payload("image (jpeg)", buffer.getvalue(), "image/jpeg", 201),
    ]


def body(data: bytes, chunk: int = 64 * 1024) -> Iterator[bytes]:
    """The payload as a chunked stream, as a client sending a file would."""
    for start in range(0, len(data), chunk):
        yield data[start : start + chunk]


def measure(server: ServerProcess, token: str, payload: Payload, runs: int) -> dict[str, float]:
    assert server.process is not None
    pid = server.process.pid
    times, peaks = [], []
    baseline = rss_bytes(pid)
    with httpx.Client(
        base_url=server.http_url, headers={"Authorization": f"Bearer {token}"}, timeout=120
    ) as http:
        for _ in range(runs):
            with RssSampler(pid) as sampler:
                started = time.perf_counter()
                response = http.post(
                    "/v1/media",
                    content=body(payload.data),
                    headers={"Content-Type": payload.content_type},
                )
                elapsed = time.perf_counter() - started
            assert response.status_code == payload.expected_status, response.text
            times.append(elapsed)
            peaks.append(sampler.peak)
    best = min(times)
    return {
        "MiB": len(payload.data) / MiB,
        "MB/s best": len(payload.data) / best / 1e6,
        "MB/s median": len(payload.data) / statistics.median(times) / 1e6,
        "RSS before MiB": baseline / MiB,
        "RSS peak MiB": max(peaks) / MiB,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory(prefix="mqchat-bench-") as root:
        server = ServerProcess(Path(root) / "data")
        server.start()
        try:
            token = server.add_user("bench")
            print(
                f"{'payload':<14}{'MiB':>7}{'MB/s best':>11}{'median':>9}{'RSS before':>12}{'peak':>8}"
            )
            for payload in payloads():
                result = measure(server, token, payload, runs)
                print(
                    f"{payload.name:<14}{result['MiB']:>7.1f}{result['MB/s best']:>11.1f}"
                    f"{result['MB/s median']:>9.1f}{result['RSS before MiB']:>11.1f}M"
                    f"{result['RSS peak MiB']:>7.1f}M"
                )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
