"""The object store of check-in media, over the S3 API: SeaweedFS locally and in CI, any S3-compatible store in
production (settings ``S3_*``).

Clients never send media through the service: it issues a presigned POST (``presign_upload``) whose policy pins
the key, the exact Content-Type and the allowed size, the client uploads straight to the store, and on
submission the service reads back the object's size and first bytes (``inspect``) for the rules in
``classgroups.domain.media``.

Two clients, each for what it does best. boto3 signs the presigned forms and URLs (local signing, no request; its
POST policies are the reference) and manages the bucket; it is synchronous, so its few calls run in worker
threads. ``inspect`` is on every check-in's hot path and goes through obstore (Rust's ``object_store``, async
natively): one ranged GET costs 0.38 ms of CPU there against boto3's 1.21 ms plus a thread hop (same process, same
object, ``docs/BENCHMARKS.md``).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import boto3
import obstore
from botocore.config import Config
from botocore.exceptions import ClientError
from obstore.exceptions import GenericError, NotFoundError
from obstore.store import S3Store

from classgroups.domain.media import HEAD_BYTES, StoredObject

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
        session = boto3.session.Session()
        common = {
            "aws_access_key_id": access_key_id,
            "aws_secret_access_key": secret_access_key,
            "region_name": region,
            "config": config,
        }
        self.client = session.client("s3", endpoint_url=endpoint_url, **common)
        # Presigned URLs name the host the client reaches, which may differ from the one the service reaches
        # (an in-cluster endpoint vs the public one): a second client signs for the public endpoint.
        self.public = (
            session.client("s3", endpoint_url=public_endpoint_url, **common) if public_endpoint_url else self.client
        )
        given = {"endpoint": endpoint_url, "access_key_id": access_key_id, "secret_access_key": secret_access_key}
        self.reader = S3Store(
            bucket,
            # (unset ones are left to obstore's own lookup, as boto3's: the environment, a pod's web identity)
            **{name: value for name, value in given.items() if value},
            region=region,
            virtual_hosted_style_request=False,  # path style, as for boto3 above
            client_options={
                "allow_http": bool(endpoint_url and endpoint_url.startswith("http://")),
                "connect_timeout": "3s",
                "timeout": "10s",
            },
            retry_config={"max_retries": 2, "retry_timeout": timedelta(seconds=10)},
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
        try:
            got = await obstore.get_async(self.reader, key, options={"range": (0, HEAD_BYTES)})
            head = bytes(await got.bytes_async())
        except (NotFoundError, FileNotFoundError):
            return None
        except GenericError as exc:
            if "416" in str(exc):
                return None
            raise
        content_type = got.attributes.get("Content-Type")
        return StoredObject(size=got.meta["size"], content_type=str(content_type) if content_type else None, head=head)

    async def ping(self) -> bool:
        try:
            await asyncio.to_thread(self.client.head_bucket, Bucket=self.bucket)
            return True
        except Exception:  # any failure means "not reachable"; the store's own logs say why
            return False
