"""Tooling that runs the topology described by servers.toml: rendering, the host run."""
