"""mqchat's backend: the store, the service and the edges (MQTT loop, HTTP, CLI)."""
