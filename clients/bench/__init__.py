"""`mqchat bench`: a load generator for 1:1 messaging, with loss and duplicate checks.

| module | what |
|---|---|
| `stats.py`, `ledger.py` | pure: percentiles and rates; what was sent, acked, delivered |
| `mqtt.py`, `rawmqtt.py` | paho clients driven by one asyncio loop; a bare, lighter client |
| `server.py`, `procfs.py` | the server under load, users, CPU time from /proc |
| `load.py`, `relay.py` | the fixed-rate and full-speed phases; the raw broker relay |
| `runner.py`, `report.py`, `cli.py` | the scenario, the tables, the command |
"""
