"""config.storage on object storage: the settings it reads, and each operation against a real S3 server."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from config.storage import (
    bucket_ensure,
    cache_trim,
    copy,
    delete_prefix,
    download,
    is_local,
    local_path,
    private_storage,
    private_storage_settings,
    write_atomic,
)


def test_the_filesystem_is_the_default(monkeypatch, tmp_path):
    monkeypatch.delenv("PRIVATE_STORAGE_BACKEND", raising=False)
    configured = private_storage_settings(root=tmp_path)
    assert configured["BACKEND"] == "django.core.files.storage.FileSystemStorage"
    assert configured["OPTIONS"]["location"] == str(tmp_path)


def test_s3_settings_are_read_from_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("PRIVATE_STORAGE_BACKEND", "S3")
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", "board-files")
    monkeypatch.setenv("AWS_S3_ENDPOINT_URL", "http://minio:9000")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "key")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "secret")
    monkeypatch.setenv("AWS_LOCATION", "/misyn/")
    options = private_storage_settings(root=tmp_path)["OPTIONS"]
    assert options["bucket_name"] == "board-files" and options["endpoint_url"] == "http://minio:9000"
    assert (options["access_key"], options["secret_key"]) == ("key", "secret")
    assert options["location"] == "misyn" and options["addressing_style"] == "path"
    # Private: no ACL on the objects, no signed URLs (files are served by views that check permissions).
    assert options["default_acl"] is None and options["querystring_auth"] is False
    # A large evidence file being downloaded waits on disk, not in the web process's memory.
    assert options["max_memory_size"] == 8 * 1024 * 1024


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"PRIVATE_STORAGE_BACKEND": "nfs"}, "PRIVATE_STORAGE_BACKEND='nfs' is not one of: filesystem, s3"),
        ({"PRIVATE_STORAGE_BACKEND": "s3"}, "needs AWS_STORAGE_BUCKET_NAME"),
        (
            {"PRIVATE_STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ENDPOINT_URL": "minio:9000"},
            "AWS_S3_ENDPOINT_URL='minio:9000' is not a service address",
        ),
        (
            {"PRIVATE_STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_ACCESS_KEY_ID": "key"},
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY are set together",
        ),
        (
            {"PRIVATE_STORAGE_BACKEND": "s3", "AWS_STORAGE_BUCKET_NAME": "b", "AWS_S3_ADDRESSING_STYLE": "dns"},
            "AWS_S3_ADDRESSING_STYLE='dns' is not one of: path, virtual, auto",
        ),
    ],
)
def test_a_malformed_storage_setting_stops_start_up_naming_it(monkeypatch, tmp_path, env, message):
    for name in ("AWS_STORAGE_BUCKET_NAME", "AWS_S3_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(ImproperlyConfigured, match=message.replace("(", r"\(").replace(")", r"\)")):
        private_storage_settings(root=tmp_path)


def test_write_read_copy_and_delete_go_through_the_bucket_not_the_disk(s3, settings, tmp_path):
    assert not is_local()
    assert write_atomic("runs/7/chunk-0.npz", b"first") == "runs/7/chunk-0.npz"
    assert write_atomic("runs/7/chunk-0.npz", b"second") == "runs/7/chunk-0.npz"  # replaced whole, same name
    assert s3.read("runs/7/chunk-0.npz") == b"second"
    copy("runs/7/chunk-0.npz", "runs/7/copy.npz")
    assert s3.keys("runs/") == ["runs/7/chunk-0.npz", "runs/7/copy.npz"]

    with local_path("runs/7/copy.npz") as path:
        assert path.read_bytes() == b"second"
        assert path.is_relative_to(Path(settings.PRIVATE_CACHE_DIR))
    cached = Path(settings.PRIVATE_CACHE_DIR) / "runs/7/copy.npz"
    assert cached.read_bytes() == b"second"  # kept by name: the next reader on this host downloads nothing
    s3.client.delete_object(Bucket=s3.name, Key="runs/7/copy.npz")
    with local_path("runs/7/copy.npz") as path:
        assert path.read_bytes() == b"second"

    assert download("runs/7/chunk-0.npz", tmp_path / "own" / "chunk.npz").read_bytes() == b"second"
    write_atomic("runs/70/chunk-0.npz", b"another run's")
    delete_prefix("runs/7")
    assert s3.keys() == ["runs/70/chunk-0.npz"] and not (Path(settings.PRIVATE_CACHE_DIR) / "runs/7").exists()
    delete_prefix("runs/7")  # nothing there: no error


def test_a_missing_object_is_file_not_found(s3):
    with pytest.raises(FileNotFoundError), local_path("images/1/none"):
        pass
    assert not private_storage().exists("images/1/none")


def test_the_cache_evicts_the_least_recently_used_copies_but_none_in_use(s3, settings):
    for index in range(4):
        write_atomic(f"images/1/{index}", bytes([index]) * 1000)
    cache = Path(settings.PRIVATE_CACHE_DIR) / "images/1"
    for index in range(4):
        with local_path(f"images/1/{index}"):
            pass
        os.utime(cache / str(index), (1000 + index, 1000 + index))  # 0 is the least recently used
    with local_path("images/1/0") as held:  # in use: its reader holds it
        os.utime(held, (1000, 1000))
        assert cache_trim(max_bytes=2000) == 2000  # 1 and 2; 0 stays although it is the oldest
        assert sorted(p.name for p in cache.iterdir()) == ["0", "3"]
        assert held.read_bytes() == bytes([0]) * 1000
    assert cache_trim(max_bytes=1500) == 1000  # released: now it goes
    assert sorted(p.name for p in cache.iterdir()) == ["3"]


def test_a_copy_evicted_between_open_and_lock_is_fetched_again(s3, settings):
    """A reader that opened the cached copy just as another process removed it downloads it anew
    rather than reading a file no longer in the cache."""
    write_atomic("images/2/a", b"bytes of a")
    with local_path("images/2/a"):
        pass
    cached = Path(settings.PRIVATE_CACHE_DIR) / "images/2/a"
    descriptor = os.open(cached, os.O_RDONLY)
    fcntl.flock(descriptor, fcntl.LOCK_EX)  # the evictor's lock
    cached.unlink()
    os.close(descriptor)
    with local_path("images/2/a") as path:
        assert path.read_bytes() == b"bytes of a" and path.exists()


def test_the_bucket_is_created_once_when_missing(s3, settings, monkeypatch, tmp_path):
    assert bucket_ensure() is False  # the test's bucket exists
    monkeypatch.setenv("AWS_STORAGE_BUCKET_NAME", f"{s3.name}-new")
    private = private_storage_settings(root=tmp_path)
    settings.STORAGES = {**settings.STORAGES, "private": private}
    assert bucket_ensure() is True
    assert bucket_ensure() is False
    write_atomic("evidence/x", b"in the new bucket")
    assert s3.client.get_object(Bucket=f"{s3.name}-new", Key="evidence/x")["Body"].read() == b"in the new bucket"


def test_a_key_prefix_keeps_every_object_under_it(s3, settings, monkeypatch, tmp_path):
    """AWS_LOCATION: two installations can share a bucket, each under its own prefix."""
    monkeypatch.setenv("AWS_LOCATION", "board-a")
    settings.STORAGES = {**settings.STORAGES, "private": private_storage_settings(root=tmp_path)}
    write_atomic("images/1/x", b"pixels")
    copy("images/1/x", "uploads/1/y")
    with local_path("uploads/1/y") as path:
        assert path.read_bytes() == b"pixels"
    assert s3.keys() == ["board-a/images/1/x", "board-a/uploads/1/y"]
    delete_prefix("images/1")
    assert s3.keys() == ["board-a/uploads/1/y"]
