"""iconiq-server: the telemetry collection and analytics service."""
