"""`make soak`: the real server under a moderate, mixed load for a long time.

~500 users, 1:1 and group messages, delivered and read receipts, presence churn;
memory and push latency sampled every 10 s; zero losses checked at the end. Run it as
`python -m clients.bench.soak --minutes 30`; see BENCHMARKS.md for a result.
"""
