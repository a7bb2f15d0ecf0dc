"""Identity's rules, value objects and events; no I/O."""
