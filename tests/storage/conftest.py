"""Private storage on a local S3-compatible server: moto's, started by the tests on 127.0.0.1.

It needs no network and no account (CI included). Each test gets a bucket of its own, this
process's private storage pointed at it (through config.storage.private_storage_settings, as the
environment of a web host or worker configures it), and `worker_env`: the environment a worker
on another host would have, to hand to `start_worker`.
"""

from __future__ import annotations

import logging
import socket
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from django.core.files.storage import storages

from audits.models import ImageFile
from config.storage import private_storage_settings
from reviews.models import EvidenceFile

ACCESS_KEY = "misyn-test"  # moto accepts any credentials
SECRET_KEY = "misyn-test-secret"  # moto's local server: not a real secret


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request otherwise
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@dataclass
class Bucket:
    name: str
    endpoint: str
    env: dict[str, str]  # PRIVATE_STORAGE_BACKEND=s3 and the rest, for a worker's environment
    client: Any

    def keys(self, prefix: str = "") -> list[str]:
        pages = self.client.get_paginator("list_objects_v2").paginate(Bucket=self.name, Prefix=prefix)
        return sorted(entry["Key"] for page in pages for entry in page.get("Contents", []))

    def read(self, key: str) -> bytes:
        return bytes(self.client.get_object(Bucket=self.name, Key=key)["Body"].read())

    def worker_env(self, folder: Path) -> dict[str, str]:
        """A worker host of its own: an empty private folder and cache under `folder`, the bucket shared."""
        (folder / "private").mkdir(parents=True)
        (folder / "cache").mkdir()
        return {**self.env, "PRIVATE_STORAGE_ROOT": str(folder / "private"), "PRIVATE_CACHE_DIR": str(folder / "cache")}


@pytest.fixture
def s3(s3_endpoint: str, settings: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Bucket]:
    name = f"misyn-{uuid.uuid4().hex[:12]}"
    env = {
        "PRIVATE_STORAGE_BACKEND": "s3",
        "AWS_S3_ENDPOINT_URL": s3_endpoint,
        "AWS_STORAGE_BUCKET_NAME": name,
        "AWS_ACCESS_KEY_ID": ACCESS_KEY,
        "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
        "AWS_S3_REGION_NAME": "us-east-1",
    }
    client = boto3.client(
        "s3",
        endpoint_url=s3_endpoint,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key=SECRET_KEY,
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=name)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings.PRIVATE_STORAGE_ROOT = tmp_path / "private"  # must stay empty: nothing falls back to the disk
    settings.PRIVATE_STORAGE_ROOT.mkdir()
    private = private_storage_settings(root=settings.PRIVATE_STORAGE_ROOT)
    settings.STORAGES = {**settings.STORAGES, "default": private, "private": private}
    settings.PRIVATE_CACHE_DIR = str(tmp_path / "cache")
    settings.PRIVATE_CACHE_MAX_MB = 64
    # A FileField resolves its storage callable once, at import: point the private ones at the
    # storage the settings now configure (a web host started with this environment has it from
    # the start), and back afterwards.
    fields = [ImageFile._meta.get_field("stored"), EvidenceFile._meta.get_field("file")]
    before = [field.storage for field in fields]  # type: ignore[union-attr]
    for field in fields:
        field.storage = storages["private"]  # type: ignore[union-attr]
    try:
        yield Bucket(name=name, endpoint=s3_endpoint, env=env, client=client)
    finally:
        for field, storage in zip(fields, before, strict=True):
            field.storage = storage  # type: ignore[union-attr]


@dataclass
class Outage:
    """Points this process's private storage at a port where nothing listens (the object store is
    down) and back at the bucket's server; the bucket and everything in it stay as they were."""

    bucket: Bucket
    settings: Any
    monkeypatch: pytest.MonkeyPatch

    def _point_at(self, endpoint: str) -> None:
        self.monkeypatch.setenv("AWS_S3_ENDPOINT_URL", endpoint)
        private = private_storage_settings(root=self.settings.PRIVATE_STORAGE_ROOT)
        self.settings.STORAGES = {**self.settings.STORAGES, "default": private, "private": private}
        for field in (ImageFile._meta.get_field("stored"), EvidenceFile._meta.get_field("file")):
            field.storage = storages["private"]  # type: ignore[union-attr]

    def down(self) -> None:
        self._point_at(f"http://127.0.0.1:{_free_port()}")

    def up(self) -> None:
        self._point_at(self.bucket.endpoint)


@pytest.fixture
def outage(s3: Bucket, settings: Any, monkeypatch: pytest.MonkeyPatch) -> Outage:
    # One attempt per call: botocore's own retries of a refused connection only slow the tests.
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    return Outage(bucket=s3, settings=settings, monkeypatch=monkeypatch)
