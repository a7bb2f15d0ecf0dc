"""The catalog's service layer: plain handlers over one store, outbox and read model, built together here.

- :class:`~catalog.editorial.Editorial`: commands on one resource (create, edit, submit, publish, reject, withdraw);
- :class:`~catalog.imports.Importer`: the bulk import of tree nodes and reviewed resources;
- :class:`~catalog.browse.Browse`: the read side (tree, lists, search, detail, change feed);
- :class:`~catalog.replica.Replica`: the replica's start (public reads first, then the editorial heads).

HTTP and Kafka stay in api.py / consumers.py; documents in store.py; rules in domain/.
"""

from __future__ import annotations

from catalog.browse import Browse
from catalog.editorial import Editorial
from catalog.imports import Importer
from catalog.readmodel import ReadModel
from catalog.replica import Replica
from catalog.store import CatalogStore
from common.outbox import Outbox


class Catalog:
    def __init__(self, store: CatalogStore, outbox: Outbox, read: ReadModel, writes_wait_seconds: float = 5.0) -> None:
        self.store = store
        self.outbox = outbox
        self.read = read
        self.replica = Replica(store, outbox, read, writes_wait_seconds)
        self.editorial = Editorial(store, read, self.replica)
        self.imports = Importer(store, outbox, read, self.replica, self.editorial)
        self.browse = Browse(read)
