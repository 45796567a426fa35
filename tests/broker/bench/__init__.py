"""Benchmarks of the embedded broker against stock amqtt; see `__main__` for the commands."""
