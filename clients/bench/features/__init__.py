"""Feature benchmarks: group fan-out, receipts and presence against a real `mqchat serve`.

Run `python -m clients.bench.features [--quick] [--json FILE]`; it prints a markdown
table. Each scenario starts a server of its own in a temporary directory.
"""
