"""mqchat's embedded MQTT broker: amqtt, fixed (`patches`), with our auth and topic rules.

The backend is an ordinary client of it over TCP; this package holds only what a
broker needs from mqchat. See broker/README.md for the faults fixed in amqtt.
"""
