"""The service layer: plain handlers, one per command or query, between the HTTP API (and the consumers) and
the domain and the store. They check object-level access with :mod:`classgroups.access`."""
