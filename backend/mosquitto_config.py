"""Mosquitto as mqchat's broker: its plugin, built from source, and its configuration.

Mosquitto enforces the contract itself through `broker/mosquitto/mqchat_auth.c`, which
reads the server's store (read-only) exactly as the embedded broker's plugins do. Both
the plugin and `mosquitto.conf` are derived files: rebuilt and rewritten in the data dir
at every start, so nothing in them needs to be kept or edited.
"""

from __future__ import annotations

import hashlib
import os
import pwd
import shutil
import subprocess
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

PLUGIN_NAME = "mqchat_auth"
# Where Debian puts the headers and libraries the plugin needs.
BUILD_PACKAGES = "mosquitto mosquitto-dev libmosquitto-dev libsqlite3-dev libssl-dev"
# The plugin's rules read the store; an offline user's queue is bounded (the store, not
# the broker, keeps everything), while the backend's own queue must hold a burst of
# requests sent while it restarts.
QUEUE_PER_OFFLINE_LIMIT = 10
# Sessions and retained presence are saved this often, so that a broker killed -9 comes
# back with the backend's session (and the requests queued for it) at most this old.
AUTOSAVE_INTERVAL_S = 5


class MosquittoSetupError(RuntimeError):
    """Mosquitto or what its plugin is built with is missing, or the build failed."""


def mosquitto_binary() -> str:
    found = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    if not os.access(found, os.X_OK):
        raise MosquittoSetupError(f"mosquitto is not installed (apt-get install {BUILD_PACKAGES})")
    return found


def build_plugin(out_dir: Path) -> Path:
    """The plugin's shared library, compiled into `out_dir` unless this source's is there."""
    source = resources.files("broker.mosquitto").joinpath(f"{PLUGIN_NAME}.c").read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:16]
    library = out_dir / f"{PLUGIN_NAME}-{digest}.so"
    if library.exists():
        return library
    out_dir.mkdir(parents=True, exist_ok=True)
    source_path = out_dir / f"{PLUGIN_NAME}.c"
    source_path.write_bytes(source)
    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        raise MosquittoSetupError("a C compiler (cc) is needed to build the Mosquitto plugin")
    partial = library.with_suffix(".tmp")
    command = [compiler, "-O2", "-Wall", "-shared", "-fPIC", "-o", str(partial), str(source_path)]
    result = subprocess.run(  # noqa: S603 - fixed arguments, no shell
        [*command, "-lsqlite3", "-lcrypto"], capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise MosquittoSetupError(
            f"building the Mosquitto plugin failed (apt-get install {BUILD_PACKAGES}):\n"
            f"{result.stderr}"
        )
    partial.replace(library)  # atomic: a concurrent start never loads half a file
    return library


@dataclass(frozen=True, slots=True)
class MosquittoConfig:
    """What `mosquitto.conf` says; `render()` turns it into the file's text."""

    host: str
    port: int
    work_dir: Path  # persistence lives here
    plugin: Path
    db_path: Path
    backend_username: str
    backend_password_file: Path
    max_connections: int
    max_packet_bytes: int
    offline_queue_limit: int

    def render(self) -> str:
        lines = [
            "# Written by mqchat at every start: edit mqchat's settings, not this file.",
            "per_listener_settings false",
            "allow_anonymous false",
            # Started as root, Mosquitto would switch to a `mosquitto` account that
            # cannot read the store; run as whoever runs mqchat.
            f"user {pwd.getpwuid(os.geteuid()).pw_name}",
            f"listener {self.port} {self.host}",
            "set_tcp_nodelay true",
            f"max_connections {self.max_connections}",
            f"max_packet_size {self.max_packet_bytes}",
            f"max_queued_messages {self.offline_queue_limit * QUEUE_PER_OFFLINE_LIMIT}",
            "max_inflight_messages 100",
            "persistence true",
            f"persistence_location {self.work_dir}/",
            f"autosave_interval {AUTOSAVE_INTERVAL_S}",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
            f"plugin {self.plugin}",
            f"plugin_opt_database {self.db_path}",
            f"plugin_opt_backend_username {self.backend_username}",
            f"plugin_opt_backend_password_file {self.backend_password_file}",
        ]
        return "\n".join(lines) + "\n"
