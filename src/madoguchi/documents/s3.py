"""The S3 storage backend (``MADOGUCHI_STORAGE_URL=s3://bucket/prefix``), through boto3.

Objects live at ``<prefix>/<key>`` in the bucket, where ``key`` is the server-generated
``tenants/<tenant-id>/<area>/<random>``. Signature version 4 and path-style addressing, so the same code
talks to AWS and to S3-compatible servers (the tests use ``rclone serve s3``). With a KMS key configured,
every object is written with SSE-KMS and an encryption context naming its tenant: a key policy can then
limit decryption per tenant, and CloudTrail shows which tenant's object was read. Downloads are short-lived
presigned GETs that carry the ``Content-Disposition`` and ``Content-Type`` the browser should see.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from madoguchi.config import Settings
from madoguchi.documents.backend import StorageError, StoredObjectMissing, check_key, content_disposition

_MISSING_CODES = frozenset({"404", "NoSuchKey", "NotFound"})


def encryption_context(tenant_id: uuid.UUID) -> dict[str, str]:
    """The SSE-KMS encryption context of a tenant's objects."""
    return {"tenant_id": str(tenant_id)}


class S3Storage:
    """A bucket (and key prefix) on S3 or an S3-compatible server."""

    def __init__(self, client: Any, bucket: str, prefix: str = "", *, kms_key_id: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.kms_key_id = kms_key_id

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Storage:
        parsed = urlparse(settings.storage_url.strip())
        if parsed.scheme != "s3" or not parsed.netloc:
            raise ValueError("MADOGUCHI_STORAGE_URL must look like s3://bucket/prefix")
        region = settings.storage_region or ("us-east-1" if settings.storage_endpoint_url else None)
        client = boto3.client(
            "s3",
            endpoint_url=settings.storage_endpoint_url or None,
            region_name=region,
            config=Config(
                signature_version="s3v4",
                s3={"addressing_style": "path"},
                retries={"max_attempts": 3, "mode": "standard"},
                connect_timeout=5,
                read_timeout=30,
            ),
        )
        return cls(client, parsed.netloc, parsed.path, kms_key_id=settings.storage_kms_key_id)

    def object_name(self, key: str, tenant_id: uuid.UUID) -> str:
        """The bucket key of a storage key (the configured prefix in front)."""
        check_key(key, tenant_id)
        return f"{self.prefix}/{key}" if self.prefix else key

    def put(self, key: str, data: bytes, *, tenant_id: uuid.UUID, content_type: str) -> None:
        extra: dict[str, str] = {}
        if self.kms_key_id:
            context = json.dumps(encryption_context(tenant_id), separators=(",", ":")).encode()
            extra = {
                "ServerSideEncryption": "aws:kms",
                "SSEKMSKeyId": self.kms_key_id,
                "SSEKMSEncryptionContext": base64.b64encode(context).decode(),
            }
        try:
            self.client.put_object(
                Bucket=self.bucket, Key=self.object_name(key, tenant_id), Body=data, ContentType=content_type, **extra
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 put failed: {exc}") from exc

    def get(self, key: str, *, tenant_id: uuid.UUID) -> bytes:
        try:
            response = self.client.get_object(Bucket=self.bucket, Key=self.object_name(key, tenant_id))
            return bytes(response["Body"].read())
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                raise StoredObjectMissing(key) from exc
            raise StorageError(f"S3 get failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 get failed: {exc}") from exc

    def delete(self, key: str, *, tenant_id: uuid.UUID) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self.object_name(key, tenant_id))
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 delete failed: {exc}") from exc

    def exists(self, key: str, *, tenant_id: uuid.UUID) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self.object_name(key, tenant_id))
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in _MISSING_CODES:
                return False
            raise StorageError(f"S3 head failed: {exc}") from exc
        except BotoCoreError as exc:
            raise StorageError(f"S3 head failed: {exc}") from exc
        return True

    def download_url(
        self, key: str, *, tenant_id: uuid.UUID, filename: str, content_type: str, seconds: int
    ) -> str | None:
        try:
            return str(
                self.client.generate_presigned_url(
                    "get_object",
                    Params={
                        "Bucket": self.bucket,
                        "Key": self.object_name(key, tenant_id),
                        "ResponseContentDisposition": content_disposition(filename, content_type),
                        "ResponseContentType": content_type,
                    },
                    ExpiresIn=seconds,
                )
            )
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"S3 presign failed: {exc}") from exc
