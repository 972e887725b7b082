"""
### Bank marketing: daily scoring with the champion

Scores the day's customers with the promoted model and publishes the predictions.

1. **wait_for_customers**: waits for `s3://{bucket}/{input_key}` (default `scoring/{{ ds }}/customers.csv`:
   the training data's columns, no `y`).
2. **score**: loads the champion from `models/champion.json` (its pickle is verified against the recorded
   sha256 before loading), labels every row at the champion's threshold of `threshold_rule` and writes
   `predictions.csv` beside the input (input columns, `probability`, `predicted`), and `call_list.csv`: whom
   to call, best first (customer columns, `probability`, `rank`, `expected_value`), every customer at or above
   the threshold or the `top_k` most likely.
3. **notify**: SNS message with the row count, the share predicted positive, the calls listed and their
   expected subscriptions and profit.

Runs daily at 06:00 UTC and also whenever the training DAG promotes a new champion (an asset event on
`models/champion.json`). A run started by that event scores the file of its own day.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, dag, task
from airflow.sdk.exceptions import AirflowFailException

from bank_marketing_common.aws import (
    CHAMPION_ASSET,
    alert_run_failure,
    default_args,
    input_key_template,
    publish_sns,
    s3_client,
    wait_for_file,
)
from bank_marketing_common.params import scoring_params
from include.bank_marketing import notification
from include.bank_marketing.contracts import ScoringResult
from include.bank_marketing.layout import render_key

# Asset-triggered runs have no logical date: they score the file of the day they run (run_after).
INPUT_KEY = input_key_template(ds="ds if ds is defined else dag_run.run_after | ds")


@dag(
    dag_id="bank_marketing_scoring",
    dag_display_name="Bank marketing: daily scoring",
    description="Score the day's customers with the champion model and publish predictions.csv.",
    doc_md=__doc__,
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("0 6 * * *", timezone="UTC"),
        assets=CHAMPION_ASSET,
    ),
    start_date=pendulum.datetime(2026, 11, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,  # two scorings of the same day would write the same predictions.csv
    tags=["ml", "bank-marketing", "s3", "sns", "scoring"],
    params=scoring_params(),
    user_defined_macros={"render_key": render_key},
    default_args=default_args(),
    on_failure_callback=alert_run_failure,
)
def bank_marketing_scoring():
    wait_for_customers = wait_for_file("wait_for_customers", INPUT_KEY)

    @task(multiple_outputs=False)
    def score(key: str, params=None) -> ScoringResult:
        from include.bank_marketing import scoring, storage
        from include.bank_marketing.validation import InputError

        try:
            s3 = s3_client(params["bucket"])
            return scoring.score_object(s3, params["bucket"], key, params["threshold_rule"], params["top_k"])
        except (InputError, storage.IntegrityError) as exc:
            raise AirflowFailException(str(exc)) from None  # bad file or tampered model: no retry

    @task
    def notify(result: ScoringResult, params=None) -> str:
        subject, message = notification.scoring_report(result)
        publish_sns(params["sns_topic_arn"], subject, message)
        return subject

    scored = score(INPUT_KEY)
    wait_for_customers >> scored
    notify(scored)


bank_marketing_scoring()
