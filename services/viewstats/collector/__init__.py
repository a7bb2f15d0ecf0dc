"""The view collector (浏览采集): viewstats' second process, the platform's hottest endpoint. Its own entry point
(``viewstats.collector.app:create_app``, its own Deployment) and its own Kafka principal; it owns no database:
it only puts beacons and heartbeats on Kafka, which the main process (``viewstats.app``) counts.

- ``service.py``: :class:`~viewstats.collector.service.Collector`, beacons → records on the views topic;
- ``api.py``: ``POST /v1/views`` and ``POST /v1/heartbeats``;
- ``app.py``: ``create_app`` (``ServiceKit("viewstats-collector")``).
"""
