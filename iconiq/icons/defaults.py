"""Defaults of ``iconiq icon``, in a module light enough for ``iconiq --help`` to load."""

DEFAULT_MODEL = "dall-e-3"
# Seconds per attempt: image models can take a minute; the openai default (600) is too long.
DEFAULT_TIMEOUT = 180.0
# The openai client's own retries (429 honouring Retry-After, 5xx, timeouts, connection errors).
DEFAULT_RETRIES = 2
