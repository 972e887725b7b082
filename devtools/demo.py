"""``make demo``: one end-to-end run of bank_marketing_training against a local S3/SNS server.

Starts moto's server on a free 127.0.0.1 port, creates the bucket and the topic, uploads
include/data/banking.csv, runs ``airflow dags test``, shows the metrics against the baselines, the SNS
message and the S3 objects written, stops the server and prints a one-line RESULT.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from devtools import local_aws, processes
from include.bank_marketing.notification import metrics_table


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conf", default="{}", help="JSON conf for the run (overrides the DAG's Params)")
    parser.add_argument("--airflow-home", default=str(local_aws.ROOT / ".airflow"))
    parser.add_argument("--out", default=str(local_aws.ROOT / "out"), help="folder for a local copy of the report")
    args = parser.parse_args()
    # Unattended: nobody is there to approve a promotion, so the demo runs with approval=auto unless --conf
    # says otherwise (the DAG's default, "required", waits for a person in the UI: see make airflow).
    conf = {"approval": "auto", **json.loads(args.conf)}
    bucket = conf.get("bucket", local_aws.DEFAULT_BUCKET)
    key = conf.get("input_key", "banking.csv")

    with local_aws.LocalAws() as aws:
        print(f"local S3/SNS server (moto) at {aws.endpoint}")
        topic_arn, queue_url = aws.seed(bucket, key)
        print(f"uploaded {local_aws.DATA_FILE.relative_to(local_aws.ROOT)} to s3://{bucket}/{key}; topic {topic_arn}")

        env = local_aws.airflow_env(aws.connection(), Path(args.airflow_home))
        local_aws.migrate(env)
        logical_date = datetime.now(UTC).replace(microsecond=0)
        log_path = Path(args.airflow_home) / "demo-dags-test.log"
        print(f"running: airflow dags test bank_marketing_training {logical_date.isoformat()} (log: {log_path})")
        print(
            f"approval={conf['approval']}: "
            + (
                "a model that passes the rules is promoted without a person's sign-off (the demo is unattended; "
                "the DAG's default is approval=required)"
                if conf["approval"] == "auto"
                else "a promotion waits for a person (airflow dags test waits for an answer through the REST API)"
            )
        )
        started = time.perf_counter()
        with log_path.open("w") as log:
            local_aws.dags_test(env, conf, logical_date.isoformat(), stdout=log, stderr=log, capture_output=False)
        wall_s = time.perf_counter() - started

        s3 = aws.client("s3")
        prefix = aws.latest_run_prefix(bucket) or "runs/(none)"
        keys = s3.list_objects_v2(Bucket=bucket, Prefix=f"{prefix}/").get("Contents", [])
        root = [o for o in s3.list_objects_v2(Bucket=bucket).get("Contents", []) if "/" not in o["Key"]]
        messages = aws.messages(queue_url)
        model_json = next((o for o in keys if o["Key"] == f"{prefix}/model.json"), None)

        print(f"\n== SNS messages on {topic_arn}: {len(messages)}")
        for msg in messages:
            print(f"-- subject: {msg['subject']}\n{msg['message']}")
        print(f"== S3 objects in s3://{bucket}/ (this run and the bucket root)")
        for obj in [*root, *keys]:
            print(f"{obj['Size']:>12,}  s3://{bucket}/{obj['Key']}")

        if model_json is None:
            print(f"\nThe run did not publish a model; see {log_path}. Last lines:")
            print("\n".join(log_path.read_text().splitlines()[-25:]))
            return 1
        metrics = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/metrics.json")["Body"].read())
        model = json.loads(s3.get_object(Bucket=bucket, Key=f"{prefix}/model.json")["Body"].read())
        # The report is self-contained (charts embedded): one file to open in a browser.
        report_path = Path(args.out) / "report.html"
        report_path.parent.mkdir(parents=True, exist_ok=True)
        report_path.write_bytes(s3.get_object(Bucket=bucket, Key=f"{prefix}/report.html")["Body"].read())

    m = metrics["metrics"]
    print(f"\n== Test metrics of {metrics['family']} on {m['rows']} held-out rows vs baselines")
    print(metrics_table(metrics["checks"]))
    print("\n" + m["classification_report"])
    at = model["metrics_at_threshold"]
    print(
        f"At the chosen threshold {model['threshold']:.4f} (max F1 on training folds; new.csv uses it): "
        f"F1 {at['f1']:.4f} precision {at['precision']:.4f} recall {at['recall']:.4f}"
    )
    print(f"Report: s3://{bucket}/{prefix}/report.html, copied to {report_path} (open it in a browser)")
    print(
        f"RESULT auc={m['auc']:.4f} f1={m['f1']:.4f} precision={m['precision']:.4f} recall={m['recall']:.4f} "
        f"verdict={metrics['verdict']} family={metrics['family']} wall_s={wall_s:.1f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(processes.run(main))  # Ctrl-C or SIGTERM: everything it started is stopped before it returns
