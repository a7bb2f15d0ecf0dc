from pydantic_settings import SettingsConfigDict

from common.settings import ServiceSettings


class RecommenderSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="RECOMMENDER_", extra="ignore", populate_by_name=True)
