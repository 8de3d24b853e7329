"""Library functions behind the CLI commands; each returns records the CLI prints."""
