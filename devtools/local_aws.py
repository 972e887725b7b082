"""A local stand-in for S3 and SNS: moto's server mode on a free 127.0.0.1 port, and the Airflow wiring to it.

Used by ``make demo``, ``make airflow`` and the end-to-end tests. The DAG talks to it over HTTP exactly as
it talks to AWS: the only difference is ``endpoint_url`` in the ``aws_default`` connection.
The credentials below are moto's dummy ones; they open nothing outside this process.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from include.bank_marketing import config

ROOT = Path(__file__).resolve().parents[1]
REGION = "us-east-1"
ACCOUNT = "123456789012"  # moto's default account, matching the DAG's default topic ARN
DEFAULT_BUCKET = "bank-ml"
DEFAULT_TOPIC = "bank-ml-alerts"
INCOMING_QUEUE = "bank-ml-incoming"  # the DAG's default BANK_ML_EVENTS_QUEUE
INCOMING_PREFIX = "raw/"  # and BANK_ML_EVENTS_PREFIX
DATA_FILE = ROOT / "include" / "data" / "banking.csv"
DUMMY_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}  # moto only


_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now, and not one this process handed out before:
    the ports of one topology (API server, log servers, PostgreSQL, Redis) are chosen before any is bound, and
    the kernel may offer a released port again (seen once: the Celery demo's API server found its port taken)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in _HANDED_OUT:
            _HANDED_OUT.add(port)
            return port


class LocalEndpoint:
    """Helpers to seed a local S3/SNS endpoint (moto's server, wherever it runs) and read what the DAG sent."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self._session: boto3.session.Session | None = None

    def client(self, service: str) -> Any:
        """A boto3 client of ``service`` bound to this server."""
        # A session of its own, not boto3's default one: a default session created here, before moto is
        # imported, would lack moto's request hook, and unit tests in the same process build their mocked
        # clients from the default session.
        if self._session is None:
            self._session = boto3.session.Session()
        return self._session.client(service, endpoint_url=self.endpoint, region_name=REGION, **DUMMY_CREDENTIALS)

    def connection(self) -> dict[str, Any]:
        """The ``aws_default`` Airflow connection for this server, as Airflow's JSON form."""
        return {
            "conn_type": "aws",
            "login": DUMMY_CREDENTIALS["aws_access_key_id"],
            "password": DUMMY_CREDENTIALS["aws_secret_access_key"],
            "extra": {"endpoint_url": self.endpoint, "region_name": REGION},
        }

    def create_bucket(self, bucket: str = DEFAULT_BUCKET) -> None:
        """A private bucket: every public-access block on, as production buckets should be."""
        s3 = self.client("s3")
        s3.create_bucket(Bucket=bucket)
        s3.put_public_access_block(
            Bucket=bucket,
            PublicAccessBlockConfiguration={
                "BlockPublicAcls": True,
                "IgnorePublicAcls": True,
                "BlockPublicPolicy": True,
                "RestrictPublicBuckets": True,
            },
        )

    def create_topic_with_queue(self, topic: str = DEFAULT_TOPIC) -> tuple[str, str]:
        """SNS topic plus an SQS queue subscribed to it, so tests can read what was published."""
        sns, sqs = self.client("sns"), self.client("sqs")
        topic_arn = sns.create_topic(Name=topic)["TopicArn"]
        queue_url = sqs.create_queue(QueueName=f"{topic}-inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)
        return topic_arn, queue_url

    def watch_incoming(
        self, bucket: str = DEFAULT_BUCKET, queue: str = INCOMING_QUEUE, prefix: str = INCOMING_PREFIX
    ) -> str:
        """File events: the SQS queue the training DAG's watcher reads, with the policy that lets S3 send to it,
        and ``bucket``'s notification of every new ``prefix``*.csv object to it. Returns the queue's URL.

        The same set-up as against real AWS (README, "File events"). S3 sends an ``s3:TestEvent`` to the queue
        when the notification is configured; the watcher drops it.
        """
        sqs, s3 = self.client("sqs"), self.client("s3")
        queue_url = sqs.create_queue(QueueName=queue)["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        policy = incoming_queue_policy(queue_arn, bucket, ACCOUNT)
        sqs.set_queue_attributes(QueueUrl=queue_url, Attributes={"Policy": json.dumps(policy)})
        s3.put_bucket_notification_configuration(
            Bucket=bucket,
            NotificationConfiguration={
                "QueueConfigurations": [
                    {
                        "Id": "bank-ml-new-training-files",
                        "QueueArn": queue_arn,
                        "Events": ["s3:ObjectCreated:*"],
                        "Filter": {
                            "Key": {
                                "FilterRules": [
                                    {"Name": "prefix", "Value": prefix},
                                    {"Name": "suffix", "Value": ".csv"},
                                ]
                            }
                        },
                    }
                ]
            },
        )
        return queue_url

    def upload(self, bucket: str, key: str, body: bytes | Path) -> None:
        """Put ``body`` (bytes or a file's content) at ``s3://bucket/key``."""
        data = body.read_bytes() if isinstance(body, Path) else body
        self.client("s3").put_object(Bucket=bucket, Key=key, Body=data)

    def seed(
        self, bucket: str = DEFAULT_BUCKET, key: str = "banking.csv", data: bytes | Path = DATA_FILE
    ) -> tuple[str, str]:
        """The private ``bucket`` with ``data`` (default ``include/data/banking.csv``) at ``key``, its file events
        (:meth:`watch_incoming`), and the alert topic with its SQS inbox: what a DAG run needs. Returns
        ``(topic_arn, queue_url)`` of the alerts."""
        self.create_bucket(bucket)
        self.watch_incoming(bucket)
        self.upload(bucket, key, data)
        return self.create_topic_with_queue()

    def latest_run_prefix(self, bucket: str) -> str | None:
        """``runs/<run_id>`` of the run that wrote to ``bucket`` last, or None when no run wrote there."""
        newest: dict[str, Any] = {}
        for page in self.client("s3").get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="runs/"):
            for obj in page.get("Contents", []):
                if not newest or obj["LastModified"] >= newest["LastModified"]:
                    newest = obj
        return "/".join(newest["Key"].split("/")[:2]) if newest else None

    def messages(self, queue_url: str) -> list[dict[str, str]]:
        """Drain the queue: every SNS message as ``{"subject", "message"}``."""
        sqs = self.client("sqs")
        out = []
        while True:
            batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
            if not batch.get("Messages"):
                return out
            for msg in batch["Messages"]:
                envelope = json.loads(msg["Body"])
                out.append({"subject": envelope.get("Subject") or "", "message": envelope["Message"]})
                sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=msg["ReceiptHandle"])


def incoming_queue_policy(queue_arn: str, bucket: str, account: str) -> dict[str, Any]:
    """The SQS queue policy that lets S3 send ``bucket``'s notifications to the queue, and nothing else."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "S3SendsNewFileNotifications",
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": queue_arn,
                "Condition": {
                    "ArnLike": {"aws:SourceArn": f"arn:aws:s3:::{bucket}"},
                    "StringEquals": {"aws:SourceAccount": account},
                },
            }
        ],
    }


class LocalAws(LocalEndpoint):
    """moto's HTTP server in a background thread of this process, on a free 127.0.0.1 port."""

    def __init__(self, port: int | None = None) -> None:
        from moto.server import ThreadedMotoServer

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access-log line per request otherwise
        self.port = port or free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def __enter__(self) -> LocalAws:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        """Start serving."""
        self._server.start()

    def stop(self) -> None:
        """Stop serving (the state is dropped with the process)."""
        self._server.stop()


def _die_with_parent() -> None:
    """In a child, before exec: have Linux send it SIGTERM when its parent dies, so that a test run killed
    hard leaves no server behind (elsewhere, a no-op)."""
    with contextlib.suppress(Exception):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class MotoProcess(LocalEndpoint):
    """moto's HTTP server in a child process of its own, on a free 127.0.0.1 port.

    Its state lives in that process, out of reach of moto's in-process mock (``mock_aws`` resets every backend
    of the process it runs in), and it serves requests on its own interpreter, not competing for this one's GIL.
    """

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        super().__init__(f"http://127.0.0.1:{self.port}")
        self._process: subprocess.Popen | None = None

    def __enter__(self) -> MotoProcess:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 30) -> None:
        """Start the server and wait until it answers."""
        exe = str(Path(sys.executable).parent / "moto_server")
        self._process = subprocess.Popen(
            [exe, "-H", "127.0.0.1", "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                self.client("s3").list_buckets()
                return
            except Exception:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"moto_server on port {self.port} did not come up") from None
                time.sleep(0.2)

    def stop(self) -> None:
        """Stop the server (its state goes with it)."""
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None


def airflow_env(endpoint_conn: dict[str, Any], airflow_home: Path) -> dict[str, str]:
    """Environment for Airflow commands that run this project's DAGs against the given AWS connection."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}  # no stray real credentials
    venv_bin = str(Path(sys.executable).parent)
    env.update(
        {
            "AIRFLOW_HOME": str(airflow_home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(ROOT / "dags"),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(ROOT / "plugins"),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            # The scheduler's pause between loops with nothing to do (default 1 s): a dependent task waited
            # 0.5-1 s for the next loop, 11 times on a run's critical path (README, "Scale").
            "AIRFLOW__SCHEDULER__SCHEDULER_IDLE_SLEEP_TIME": "0.1",
            "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(endpoint_conn),
            # config/ holds airflow_local_settings.py, which Airflow otherwise looks for in $AIRFLOW_HOME/config.
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), str(ROOT / "config"), env.get("PYTHONPATH", "")])),
            "PATH": os.pathsep.join([venv_bin, env.get("PATH", "")]),
        }
    )
    return env


def airflow(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.CompletedProcess:
    """Run the venv's ``airflow`` CLI with ``args``."""
    exe = str(Path(sys.executable).parent / "airflow")
    return subprocess.run([exe, *args], env=env, text=True, **kwargs)


def migrate(env: dict[str, str]) -> None:
    """Create or upgrade the metadata database of ``env``'s AIRFLOW_HOME (idempotent)."""
    Path(env["AIRFLOW_HOME"]).mkdir(parents=True, exist_ok=True)
    result = airflow(["db", "migrate"], env, capture_output=True)
    if result.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{result.stdout}\n{result.stderr}")


def _dags_test_args(conf: dict[str, Any] | None, logical_date: str | None) -> list[str]:
    args = ["dags", "test", "bank_marketing_training"]
    if logical_date:
        args.append(logical_date)
    if conf:
        args += ["-c", json.dumps(conf)]
    return args


def dags_test(
    env: dict[str, str], conf: dict[str, Any] | None = None, logical_date: str | None = None, **kwargs: Any
) -> subprocess.CompletedProcess:
    """``airflow dags test bank_marketing_training`` with ``conf``; output captured unless told otherwise."""
    kwargs.setdefault("capture_output", True)
    return airflow(_dags_test_args(conf, logical_date), env, **kwargs)


def dags_test_async(
    env: dict[str, str], conf: dict[str, Any] | None = None, logical_date: str | None = None
) -> subprocess.Popen:
    """The same run in the background (stdout and stderr merged into ``stdout``), for fault injection."""
    exe = str(Path(sys.executable).parent / "airflow")
    return subprocess.Popen(
        [exe, *_dags_test_args(conf, logical_date)],
        env=env,
        text=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )


def standalone_env(connection: dict[str, Any], airflow_home: Path, port: int) -> dict[str, str]:
    """Environment of ``airflow standalone`` (local only: no login, every visitor is an admin)."""
    env = airflow_env(connection, airflow_home)
    env.update(
        {
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__API__HOST": "127.0.0.1",  # the default is every interface
            "AIRFLOW__API__PORT": str(port),
            "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{port}",
            # Workers reach the Execution API on the API server's port.
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{port}/execution/",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # The deadline alert reads a late run's task states through the REST API (no login needed here).
            "AIRFLOW_CONN_AIRFLOW_API": json.dumps({"conn_type": "http", "host": f"http://127.0.0.1:{port}"}),
            # The scheduler's and the triggerer's log servers on free ports, clear of another Airflow's 8793/8794
            # (Airflow binds them to every interface; it has no setting for their host).
            "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
            "AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT": str(free_port()),
            # Each of a run's training tasks (they run side by side) gets its share of the cores, not all of
            # them: three fits each threading over every core spin against each other (boosting took 32.5 s
            # instead of 6.8 s on 2 cores; BENCHMARKS.md).
            **dict.fromkeys(("OMP_NUM_THREADS", "BANK_ML_N_JOBS"), str(cores_per_task(config.TRAIN_TASKS_PER_RUN))),
        }
    )
    return env


def cores_per_task(tasks: int) -> int:
    """This machine's cores shared among ``tasks`` tasks running at once (at least 1)."""
    return max(1, (os.cpu_count() or 1) // tasks)
