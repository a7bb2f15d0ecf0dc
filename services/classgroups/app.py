from fastapi import FastAPI

from classgroups.settings import ClassGroupsSettings
from common.service import ServiceKit


def create_app(settings: ClassGroupsSettings | None = None) -> FastAPI:
    # The service boots with the platform's standard endpoints; its domain arrives with its own issue.
    kit = ServiceKit("classgroups", settings or ClassGroupsSettings())
    return kit.build_app(title="Class groups", description=__import__("classgroups").__doc__ or "")
