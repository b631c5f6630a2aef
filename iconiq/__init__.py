"""iconiq: app icons from OpenAI's image models (or offline), with privacy-first telemetry."""

__version__ = "0.1.0"
