"""The xAPI exporter: the platform's learning events as xAPI 1.0.3 statements in a Learning Record Store."""
