from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class ClassGroupsSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CLASSGROUPS_", extra="ignore", populate_by_name=True)
