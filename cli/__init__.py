"""The `segbot` command (Typer): one module per command group."""
