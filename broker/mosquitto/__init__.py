"""mqchat's plugin for Mosquitto: the contract's authentication and authorization in C.

`mqchat_auth.c` is built by `backend.mosquitto_config.build_plugin` when the server
runs Mosquitto; see broker/mosquitto/README.md.
"""
