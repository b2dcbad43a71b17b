"""What the harness measures itself against: servers with no Django, for the client's own ceiling."""
