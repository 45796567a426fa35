"""Broker configurations the bench compares: what `--brokers` and `--compare-process` mean.

A configuration is one way of running `mqchat serve`: the embedded broker in its own
process ("separate", the default) or inside the server's ("inline"), or Mosquitto
started by the server ("mosquitto"). Results are keyed by the configuration's name,
which is also the `mode` of every result (the JSON keeps "separate" and "inline" as
they were before Mosquitto came).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

BROKERS = ("embedded", "mosquitto")


@dataclass(frozen=True, slots=True)
class BrokerConfig:
    """How to start the server for this configuration, and what to call it."""

    name: str
    broker: str
    """The broker it runs: "embedded" or "mosquitto" (which raw relay measures it)."""
    label: str
    """Its column heading in the side-by-side tables."""
    serve_args: tuple[str, ...] = ()
    broker_process: str | None = None


CONFIGS = {
    "separate": BrokerConfig("separate", "embedded", "embedded (separate)", (), "separate"),
    "inline": BrokerConfig("inline", "embedded", "embedded (inline)", (), "inline"),
    "mosquitto": BrokerConfig("mosquitto", "mosquitto", "mosquitto", ("--broker", "mosquitto")),
}
EXTERNAL = BrokerConfig("external", "external", "external")


def config(name: str) -> BrokerConfig:
    """The configuration called `name` ("external" for a server the bench did not start)."""
    return CONFIGS.get(name, EXTERNAL)


def parse_brokers(text: str) -> tuple[str, ...]:
    """`"embedded,mosquitto"` -> `("embedded", "mosquitto")`; ValueError on anything else."""
    names = tuple(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in BROKERS]
    if unknown or not names:
        raise ValueError(
            f"--brokers takes a comma-separated list of {', '.join(BROKERS)}, not {text!r}"
        )
    return names


def configurations(
    brokers: Sequence[str], *, compare_process: bool, broker_process: str
) -> tuple[str, ...]:
    """The configurations to measure, in order: the embedded broker's placements
    (both with `compare_process`, since placement is the embedded broker's alone),
    then Mosquitto."""
    names: list[str] = []
    for broker in brokers:
        if broker == "embedded":
            names += ["separate", "inline"] if compare_process else [broker_process]
        else:
            names.append(broker)
    return tuple(names)


def rotated(names: Sequence[str], run: int) -> tuple[str, ...]:
    """`names` starting one further along each run (run 1 as given): over three runs
    each configuration goes first once, so that a slow minute on a shared machine does
    not always land on the same one."""
    if not names:
        return ()
    shift = (run - 1) % len(names)
    return (*names[shift:], *names[:shift])
