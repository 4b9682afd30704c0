"""Adapters for the ports of idp/services/ports.py: a real one and an emulator or fake each."""
