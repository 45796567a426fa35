"""mqchat's client side: an asyncio SDK over MQTT and HTTP, and the client CLI commands."""
