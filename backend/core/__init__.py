"""The pure rules of mqchat: plain functions over plain values, no I/O, no clock reads."""
