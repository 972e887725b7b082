"""``make airflow``: Airflow's UI (``airflow standalone``) wired to a seeded local S3/SNS server.

Open the printed URL, pick ``bank_marketing_training`` and use "Trigger" to fill in the parameter form.
Local use only: every visitor is an admin (``SIMPLE_AUTH_MANAGER_ALL_ADMINS``). Ctrl-C (or SIGTERM) stops both
servers and every process ``airflow standalone`` started, and returns once they are gone (``processes.run``).
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

from devtools import airflow_api, local_aws, processes


def _port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def run_standalone(env: dict[str, str]) -> int:
    """``airflow standalone`` until it ends; its exit code. On Ctrl-C or SIGTERM it is stopped as it stops
    itself (:func:`airflow_api.stop_standalone`).

    In a session of its own, so that a terminal's Ctrl-C reaches this command only, not each component as well;
    and not run with ``subprocess.run``, which kills its child on an interrupt."""
    process = subprocess.Popen(
        processes.with_default_sigint([str(Path(sys.executable).parent / "airflow"), "standalone"]),
        env=env,
        start_new_session=True,
    )
    try:
        return process.wait()
    except KeyboardInterrupt:
        airflow_api.stop_standalone(process, processes.GRACE_SECONDS)
        raise


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8080, help="API server / UI port (a free one if taken)")
    parser.add_argument("--airflow-home", default=str(local_aws.ROOT / ".airflow"))
    args = parser.parse_args()
    port = args.port if _port_is_free(args.port) else local_aws.free_port()

    with local_aws.LocalAws() as aws:
        topic_arn, queue_url = aws.seed()
        env = local_aws.standalone_env(aws.connection(), Path(args.airflow_home), port)
        print(f"local S3/SNS server (moto): {aws.endpoint}; s3://{local_aws.DEFAULT_BUCKET}/banking.csv uploaded")
        print(f"SNS topic {topic_arn}; its messages land in SQS queue {queue_url}")
        print(
            f"File events: once the DAG is unpaused (its watcher starts at the next parse, within 30 s), a new "
            f"s3://{local_aws.DEFAULT_BUCKET}/{local_aws.INCOMING_PREFIX}*.csv object starts a training run "
            f"(S3 -> SQS queue {local_aws.INCOMING_QUEUE} -> the triggerer), e.g. aws --endpoint-url {aws.endpoint} "
            f"s3 cp banking.csv s3://{local_aws.DEFAULT_BUCKET}/{local_aws.INCOMING_PREFIX}banking.csv"
        )
        print(f"Airflow UI: http://127.0.0.1:{port}/dags/bank_marketing_training (Ctrl-C to stop)")
        print(
            "A run whose model would be promoted waits for your decision (approval=required): Browse > Required "
            "Actions, or the link in the SNS message; choose approval=auto in the trigger form to skip it."
        )
        return run_standalone(env)


if __name__ == "__main__":
    # airflow standalone stops its components on Ctrl-C only partly: processes.run stops the rest.
    sys.exit(processes.run(main))
