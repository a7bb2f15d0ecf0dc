"""The class groups' domain: pure rules and the events they raise (no I/O, no HTTP). Refusals are
``common.errors``."""
