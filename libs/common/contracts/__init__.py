"""Every integration event of the platform, one versioned pydantic model per type, one module per
publishing service. Importing this package registers them all in :data:`EVENT_TYPES`, from which the
AsyncAPI document (``make asyncapi``) is generated."""

import importlib
import pkgutil

from common.contracts.base import EVENT_TYPES, Event

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["EVENT_TYPES", "Event"]
