"""The object store of check-in media, over the S3 API: SeaweedFS locally and in CI, any S3-compatible store in
production (settings ``S3_*``).

Clients never send media through the service: it issues a presigned POST (``presign_upload``) whose policy pins
the key, the exact Content-Type and the allowed size, the client uploads straight to the store, and on
submission the service reads back the object's size and first bytes (``inspect``) for the rules in
``classgroups.domain.media``.

boto3 signs the presigned forms and URLs (local signing, no request; its POST policies are the reference) and
manages the bucket; it is synchronous, so its few calls run in worker threads. ``inspect`` is on every check-in's
hot path: one ranged GET on the event loop (``classgroups.media_head``, which says why it is not a library's),
with the credentials of boto3's session.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from classgroups.domain.media import StoredObject
from classgroups.media_head import HeadReader

log = logging.getLogger("classgroups.media")


@dataclass(frozen=True)
class PresignedUpload:
    url: str
    fields: dict[str, str]


class ObjectStore:
    def __init__(
        self,
        *,
        endpoint_url: str | None,
        public_endpoint_url: str | None,
        access_key_id: str | None,
        secret_access_key: str | None,
        region: str,
        bucket: str,
        create_bucket: bool,
    ) -> None:
        self.bucket = bucket
        self.create_bucket = create_bucket
        config = Config(
            signature_version="s3v4",
            s3={"addressing_style": "path"},  # SeaweedFS and most private stores serve buckets under the path
            retries={"max_attempts": 3, "mode": "standard"},
            connect_timeout=3,
            read_timeout=10,
            max_pool_connections=64,
        )
        session = boto3.session.Session(
            aws_access_key_id=access_key_id, aws_secret_access_key=secret_access_key, region_name=region
        )
        self.client = session.client("s3", endpoint_url=endpoint_url, config=config)
        # Presigned URLs name the host the client reaches, which may differ from the one the service reaches
        # (an in-cluster endpoint vs the public one): a second client signs for the public endpoint.
        self.public = (
            session.client("s3", endpoint_url=public_endpoint_url, config=config)
            if public_endpoint_url
            else self.client
        )
        self.head_reader = HeadReader(
            endpoint_url=endpoint_url, bucket=bucket, region=region, credentials=session.get_credentials()
        )

    async def ensure_bucket(self) -> None:
        """Create the bucket when missing (local stores; production buckets are made by operators)."""

        def ensure() -> None:
            try:
                self.client.head_bucket(Bucket=self.bucket)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in {"404", "NoSuchBucket", "NotFound"}:
                    raise
                if not self.create_bucket:
                    raise RuntimeError(f"bucket {self.bucket} does not exist") from exc
                self.client.create_bucket(Bucket=self.bucket)
                log.info("created bucket %s", self.bucket)

        await asyncio.to_thread(ensure)

    def presign_upload(self, key: str, content_type: str, max_bytes: int, expires_seconds: int) -> PresignedUpload:
        """A POST form: the store refuses another key, another Content-Type, or a size outside 1..max_bytes."""
        post: dict[str, Any] = self.public.generate_presigned_post(
            Bucket=self.bucket,
            Key=key,
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", 1, max_bytes]],
            ExpiresIn=expires_seconds,
        )
        return PresignedUpload(url=post["url"], fields=post["fields"])

    def presign_view(self, key: str, expires_seconds: int) -> str:
        """A short-lived GET URL for a member allowed to see the check-in (signed locally, no request)."""
        return self.public.generate_presigned_url(
            "get_object", Params={"Bucket": self.bucket, "Key": key}, ExpiresIn=expires_seconds
        )

    async def inspect(self, key: str) -> StoredObject | None:
        """Size, stored Content-Type and first bytes of an object; None when there is none under ``key`` (or it is
        empty: a store answers a range of an empty object with 416, and the upload policy allows no empty one)."""
        return await self.head_reader.read_head(key)

    def close(self) -> None:
        self.head_reader.close()

    async def ping(self) -> bool:
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
            return True
        except Exception:  # any failure means "not reachable"; the store's own logs say why
            return False
