"""The ``iconiq`` command line: thin typer commands over the library."""
