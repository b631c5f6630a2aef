"""Offline-first, privacy-first usage telemetry (client side)."""
