"""In a real browser: the training DAG's trigger form in Airflow's UI, filled in and submitted, and the run's
promotion approved on its Required Actions page.

The session's shared `airflow standalone` (wired to moto's S3/SNS server) serves the UI; headless Chromium,
driven by Selenium, opens the DAG's "Trigger" dialog, checks that the Params render as a usable form (sections,
titles, descriptions, a choice list of model families, bounded numbers), changes a few of them, triggers, and
the REST API then shows the run used exactly those values. The run keeps the default ``approval=required``:
it waits at ``approve`` until the browser opens the Required Actions page, finds the metrics there, enters a
comment and clicks Approve; then ``promote`` runs. Screenshots go to ``out/browser/``; on a failure the
screenshot and page source of that moment are saved there too and named in the error.

Needs the Debian packages ``chromium`` and ``chromium-driver``; nothing is downloaded (Selenium Manager is
bypassed by giving the driver's path, and kept offline).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
from collections.abc import Generator
from pathlib import Path
from urllib.parse import quote, unquote

import pytest
from selenium import webdriver
from selenium.common.exceptions import ElementClickInterceptedException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from devtools import airflow_api, local_aws
from include.bank_marketing import config, families
from tests.support import data

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
MISSING = [str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.is_file()]

# Runs on the same xdist worker as test_scheduler.py, so both use one server (tests/conftest.py XDIST_GROUPS).
pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        bool(MISSING),
        reason=f"browser test needs the Debian packages chromium and chromium-driver: {', '.join(MISSING)} missing",
    ),
]

DAG = airflow_api.TRAINING_DAG
SHOTS = local_aws.ROOT / "out" / "browser"
BUCKET = "trigger-form"  # this module's own bucket and topic: other e2e tests share the moto server
TOPIC = "trigger-form-alerts"
CHOSEN_FAMILY = "logistic_regression"
CHOSEN_FOLDS = 2  # the default is 3; 2 is allowed (minimum) and the quickest
WAIT = 30  # seconds for any element to appear or settle
# Seconds for a page of the UI to load: the first load in a fresh browser compiles the UI's JavaScript, and
# the suite's busiest minutes (approval runs here, the Celery demo on the other worker) share 2 cores with it.
PAGE_LOAD = 90

CHROMIUM_ARGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-dev-shm-usage",
    "--disable-gpu",
    "--window-size=1400,1000",
    # What a test does not need, each costing CPU on 2 shared cores: the UI's animations (every accordion
    # section and dialog animates in and out), background networking, extensions, component updates.
    "--force-prefers-reduced-motion",
    "--disable-smooth-scrolling",
    "--disable-background-networking",
    "--disable-extensions",
    "--disable-component-update",
    "--disable-default-apps",
    "--no-first-run",
    "--mute-audio",
)

APPROVE = "[data-testid='hitl-option-Approve']"
COMMENT = "Reviewed in the browser test"
FORM = "[data-testid='config-form']"
DIALOG = "[role='dialog'][data-scope='dialog'][data-state='open']"


@pytest.fixture(scope="module")
def airflow_ui(airflow_server, aws):
    """The session's shared `airflow standalone` (the DAG unpaused without a catch-up run), with this module's
    bucket holding the stratified sample of banking.csv (the run's model does not matter here) and its topic."""
    aws.create_bucket(BUCKET)
    aws.upload(BUCKET, "banking.csv", data.sample_csv())
    airflow_server.topic_arn, airflow_server.queue_url = aws.create_topic_with_queue(TOPIC)
    return airflow_server


@pytest.fixture(scope="module")
def browser():
    """Headless Chromium through the system chromedriver: no Selenium Manager, no download."""
    offline = os.environ.get("SE_OFFLINE")
    os.environ["SE_OFFLINE"] = "true"  # belt and braces: Selenium Manager is not even called with a driver path
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for arg in CHROMIUM_ARGS:
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(executable_path=str(CHROMEDRIVER)), options=options)
    driver.set_page_load_timeout(60)
    SHOTS.mkdir(parents=True, exist_ok=True)
    print(f"\nbrowser screenshots: {SHOTS}")
    try:
        yield Browser(driver)
    finally:
        driver.quit()
        if offline is None:
            os.environ.pop("SE_OFFLINE", None)
        else:
            os.environ["SE_OFFLINE"] = offline


class Browser:
    """The Selenium driver with the few steps the trigger form needs, each with an explicit wait."""

    def __init__(self, driver: webdriver.Chrome) -> None:
        self.driver = driver
        self.wait = WebDriverWait(driver, WAIT, poll_frequency=0.2)

    def shot(self, name: str) -> Path:
        """Screenshot of the window as ``out/browser/<name>.png``."""
        path = SHOTS / f"{name}.png"
        self.driver.save_screenshot(str(path))
        return path

    @contextlib.contextmanager
    def evidence_on_failure(self, name: str) -> Generator[None]:
        """On any error inside, save a screenshot and the page source, and name both in the error."""
        try:
            yield
        except Exception as exc:
            with contextlib.suppress(Exception):
                html = SHOTS / f"{name}-failure.html"
                html.write_text(self.driver.page_source)
                png = self.shot(f"{name}-failure")
                exc.add_note(f"browser evidence: {png} and {html} (URL {self.driver.current_url})")
                print(f"browser evidence: {png} {html}")
            raise

    def css(self, selector: str, root=None):
        return (root or self.driver).find_element(By.CSS_SELECTOR, selector)

    def visible(self, selector: str):
        return self.wait.until(ec.visibility_of_element_located((By.CSS_SELECTOR, selector)))

    def open_trigger_form(self, base: str) -> None:
        """The DAG's page, then its "Trigger" button: the dialog with the Params form."""
        self.driver.get(f"{base}/dags/{DAG}")
        button = WebDriverWait(self.driver, PAGE_LOAD, poll_frequency=0.2).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, "[data-testid='trigger-dag-button']"))
        )
        button.click()
        self.visible(DIALOG)
        self.visible(FORM)

    def sections(self) -> list[str]:
        """The headings of the form's accordion, in order."""
        return [t.text for t in self.driver.find_elements(By.CSS_SELECTOR, f"{FORM} [data-part='item-trigger']")]

    def open_section(self, title: str):
        """Expand the accordion section ``title`` (the form shows one at a time); returns its visible body."""
        trigger = self.driver.find_element(
            By.XPATH,
            f"//*[@data-testid='config-form']//button[@data-part='item-trigger'][normalize-space(.)='{title}']",
        )
        self.wait.until(lambda _: self._expand(trigger))
        content = (By.ID, trigger.get_attribute("aria-controls"))
        body = self.wait.until(ec.visibility_of_element_located(content))
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'start'})", trigger)
        return body

    def _expand(self, trigger) -> bool:
        """One try at expanding a section: the previous one collapses with an animation, so the layout may
        still move and another element take the click; the caller's wait tries again."""
        if trigger.get_attribute("aria-expanded") == "true":
            return True
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", trigger)
        with contextlib.suppress(ElementClickInterceptedException):
            trigger.click()
        return trigger.get_attribute("aria-expanded") == "true"

    def fields(self, body) -> dict[str, str]:
        """``{title: description}`` of every field row in a section body, as shown (required marks dropped)."""
        rows = body.find_elements(By.CSS_SELECTOR, "[data-scope='field'][data-part='root']")
        shown = {}
        for row in rows:
            label = self.css("[data-part='label']", row).text.removesuffix("*").strip()
            helpers = row.find_elements(By.CSS_SELECTOR, "[data-part='helper-text']")
            shown[label] = helpers[0].text if helpers else ""
        return shown

    def type_into(self, element, text: str) -> None:
        """Replace an input's text as a user does (select all, delete, type), then leave the field.

        One key at a time, each once the page shows the previous one: the form re-renders on every change,
        and keys sent faster than a busy machine re-renders can be lost.
        """
        self.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", element)
        element.click()
        element.send_keys(Keys.CONTROL, "a")
        element.send_keys(Keys.DELETE)
        self.settle(lambda _: element.get_attribute("value") == "", f"could not empty the field to type {text!r}")
        for end in range(1, len(text) + 1):
            element.send_keys(text[end - 1])
            shown = text[:end]
            self.settle(lambda _, shown=shown: element.get_attribute("value") == shown, f"typing {text!r}")
        element.send_keys(Keys.TAB)

    def number(self, param: str):
        return self.visible(f"input[name='element_{param}']")

    def families(self) -> list[str]:
        """The model families the multi-select holds (its hidden inputs carry the values)."""
        inputs = self.driver.find_elements(By.CSS_SELECTOR, "#element_model_families input[type='hidden']")
        return [v for i in inputs if (v := i.get_attribute("value"))]

    def clear_families(self) -> None:
        self.css("#element_model_families button[aria-label='Clear selected options']").click()
        self.wait.until(lambda _: self.families() == [])

    def family_options(self) -> list[str]:
        """Open the families' menu; the labels it offers."""
        self.css("#element_model_families input[role='combobox']").click()
        listbox = "[role='listbox'][aria-multiselectable='true']"
        self.visible(f"{listbox} [role='option']")
        return [o.text for o in self.driver.find_elements(By.CSS_SELECTOR, f"{listbox} [role='option']")]

    def pick_family(self, label: str) -> None:
        option = self.wait.until(
            ec.element_to_be_clickable(
                (
                    By.XPATH,
                    "//*[@role='listbox'][@aria-multiselectable='true']"
                    f"//*[@role='option'][normalize-space(.)={json.dumps(label)}]",
                )
            )
        )
        option.click()

    def submit_button(self):
        return self.css(f"{DIALOG} [data-testid='trigger-dag-submit']")

    def open_required_action(self, base: str, run_id: str):
        """The run's approval request, where the link of the SNS message leads; returns the Approve button."""
        self.driver.get(f"{base}/dags/{DAG}/runs/{quote(run_id)}/tasks/approve/required_actions")
        return WebDriverWait(self.driver, PAGE_LOAD, poll_frequency=0.2).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, APPROVE))
        )

    def settle(self, condition, message: str):
        """Wait until ``condition(driver)`` is truthy (DOM updates are asynchronous)."""
        return self.wait.until(condition, message)

    def eventually(self, read, expected):
        """``read()`` once it equals ``expected``, or its last value after the wait (for the caller to assert)."""
        deadline = time.monotonic() + WAIT
        while True:
            value = None
            with contextlib.suppress(StaleElementReferenceException):  # a re-render between find and read
                value = read()
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.2)


def _approve_in_the_browser(api: airflow_api.Api, browser: Browser, run_id: str) -> str:
    """Wait for the run's approval request, open it as the approver does, check it shows the run's metrics,
    comment and click Approve; returns the screenshots taken. If Airflow loses the answer (the gate is retried
    and asks again: RELIABILITY.md), approve the new request too, as a person would; twice at most."""
    started = time.monotonic()
    gate = api.wait_for_task(run_id, "approve", "awaiting_input", timeout=600)
    evaluation = api.get(f"/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances/evaluate/xcomEntries/return_value")
    metrics = evaluation["value"]["metrics"]
    hitl = api.hitl_path(run_id, "approve")
    shots = []
    with browser.evidence_on_failure("approval"):
        shown_at = time.monotonic()
        for _ in range(3):
            approve = browser.open_required_action(api.root, run_id)
            page = browser.css("body").text
            # The approver decides from this page: the verdict, every metric beside its baseline, the drift and
            # the report.
            assert "Verdict: PASS." in page, page
            for name, title in config.METRIC_TITLES.items():
                shown = re.search(rf"{re.escape(title)} {metrics[name]:.4f} ", page)
                assert shown, f"{title} {metrics[name]:.4f} not shown"
            assert "Drift" in page and "report.html" in page, page
            comment = browser.visible("#element_comment")
            browser.type_into(comment, COMMENT)
            shots.append(browser.shot("approval-page"))
            browser.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", approve)
            approve.click()
            browser.settle(lambda _: api.get(hitl)["response_received"], "no response recorded after clicking Approve")
            shots.append(browser.shot("approval-answered"))
            response = api.get(hitl)
            assert (response["chosen_options"], response["params_input"]) == (["Approve"], {"comment": COMMENT})
            if api.answer_taken(run_id, "approve", gate["try_number"]):
                break
            gate = api.wait_for_task(run_id, "approve", "awaiting_input", after_try=gate["try_number"])
        else:
            raise AssertionError(f"{run_id}: three approvals lost")
    print(
        f"\napproval: the run asked {shown_at - started:.0f} s after the trigger; the browser opened the request "
        f"and approved it in {time.monotonic() - shown_at:.1f} s"
    )
    browser.driver.get("about:blank")
    return ", ".join(str(p) for p in shots)


def _dag_params(api: airflow_api.Api) -> dict[str, dict]:
    """The DAG's Params as the API serves them to the UI: ``{name: {value, description, schema}}``."""
    return api.get(f"/dags/{DAG}/details")["params"]


def test_the_trigger_form_shows_sections_titles_descriptions_choices_and_bounds(airflow_ui, browser):
    params = _dag_params(airflow_ui)
    with browser.evidence_on_failure("form-layout"):
        browser.open_trigger_form(airflow_ui.root)

        declared_sections = list(dict.fromkeys(p["schema"]["section"] for p in params.values()))
        assert {"Data", "Training", "Notification", "Monitoring", "Promotion", "Baselines"} <= set(declared_sections)
        # Where the data comes from first, where the alerts go last.
        assert (declared_sections[0], declared_sections[-1]) == ("Data", "Notification")
        assert browser.sections() == [*declared_sections, "Advanced Options"]

        # Every section lists exactly its Params, by title, each with its description under it.
        for section in declared_sections:
            expected = {
                p["schema"]["title"]: p["description"] for p in params.values() if p["schema"]["section"] == section
            }
            assert all(expected) and all(expected.values()), f"{section}: a Param without title or description"
            body = browser.open_section(section)
            shown = browser.eventually(lambda body=body: browser.fields(body), expected)
            assert shown == expected, f"section {section!r}"
            if section == "Training":
                browser.shot("form-training-defaults")

        # Numbers carry the Params' bounds, and the UI clamps a typed value into them when the field is left.
        for name, param in params.items():
            if param["schema"]["type"] in ("integer", "number"):
                browser.open_section(param["schema"]["section"])
                field = browser.number(name)
                shown = tuple(json.loads(field.get_attribute(a)) for a in ("aria-valuemin", "aria-valuemax"))
                assert shown == (param["schema"]["minimum"], param["schema"]["maximum"]), name
        browser.open_section("Training")
        folds = browser.number("cv_folds")
        browser.type_into(folds, "11")
        browser.settle(lambda _: folds.get_attribute("value") == "10", "cv_folds 11 is not clamped to its maximum 10")
        browser.type_into(folds, "1")
        browser.settle(lambda _: folds.get_attribute("value") == "2", "cv_folds 1 is not clamped to its minimum 2")

        # Model families: a multi-select of the three families, shown by their display names, all chosen by default.
        assert browser.families() == list(families.LABELS)
        browser.clear_families()
        browser.settle(lambda _: not browser.submit_button().is_enabled(), "Trigger stays enabled with no family")
        assert browser.family_options() == list(families.LABELS.values())
        shot = browser.shot("form-family-choices")
        browser.pick_family(families.LABELS[CHOSEN_FAMILY])
        browser.settle(lambda _: browser.families() == [CHOSEN_FAMILY], f"{CHOSEN_FAMILY} not selected ({shot})")
        browser.settle(lambda _: browser.submit_button().is_enabled(), "Trigger disabled with a family chosen")


def test_a_run_triggered_from_the_form_uses_exactly_the_values_entered(airflow_ui, browser, aws):
    params = _dag_params(airflow_ui)
    aws.messages(airflow_ui.queue_url)  # an empty inbox
    started = time.monotonic()
    with browser.evidence_on_failure("form-trigger"):
        # The dialog the layout test left open, when it did: one load of the UI fewer (seconds of CPU on two
        # busy cores). Every value the run needs is entered below either way.
        if not browser.driver.find_elements(By.CSS_SELECTOR, DIALOG):
            browser.open_trigger_form(airflow_ui.root)

        body = browser.open_section("Data")
        bucket = browser.css("#element_bucket", body)
        browser.type_into(bucket, BUCKET)
        browser.settle(lambda _: bucket.get_attribute("value") == BUCKET, "bucket not set")
        form_data = browser.shot("form-filled-data")

        body = browser.open_section("Notification")
        topic = browser.css("#element_sns_topic_arn", body)
        browser.type_into(topic, airflow_ui.topic_arn)
        browser.settle(lambda _: topic.get_attribute("value") == airflow_ui.topic_arn, "topic not set")

        browser.open_section("Training")
        browser.clear_families()
        browser.family_options()
        browser.pick_family(families.LABELS[CHOSEN_FAMILY])
        browser.settle(lambda _: browser.families() == [CHOSEN_FAMILY], f"{CHOSEN_FAMILY} not selected")
        folds = browser.number("cv_folds")
        browser.type_into(folds, str(CHOSEN_FOLDS))
        browser.settle(lambda _: folds.get_attribute("value") == str(CHOSEN_FOLDS), "cv_folds not set")
        browser.open_section("Training")  # a click on the section closes the families' menu, if still open
        form_training = browser.shot("form-filled-training")

        browser.open_section("Advanced Options")
        form_conf = browser.shot("form-filled-conf-json")
        shots = f"screenshots: {form_data}, {form_training}, {form_conf}"

        submit = browser.submit_button()
        browser.settle(lambda _: submit.is_enabled(), f"Trigger is disabled; {shots}")
        submit.click()
        # The UI goes to the new run's page: /dags/<dag>/runs/<run_id>.
        browser.settle(lambda d: "/runs/" in d.current_url, f"no run page after Trigger; {shots}")
        run_id = unquote(re.sub(r"^.*/runs/", "", browser.driver.current_url).split("?")[0].rstrip("/"))

    # Off the run page while waiting: the page polls the API every few seconds, CPU the run's tasks need.
    browser.driver.get("about:blank")
    shots += ", " + _approve_in_the_browser(airflow_ui, browser, run_id)
    try:
        [run] = airflow_ui.wait_for_runs([run_id], timeout=600).values()
    except AssertionError:
        with browser.evidence_on_failure("run-wait"):  # the run's page as it is then
            browser.driver.get(f"{airflow_ui.root}/dags/{DAG}/runs/{quote(run_id)}")
            raise
    elapsed = time.monotonic() - started

    with browser.evidence_on_failure("run-page"):
        browser.driver.get(f"{airflow_ui.root}/dags/{DAG}/runs/{quote(run_id)}")
        badge = "[data-testid='header-card'] [data-testid='state-badge']"
        browser.visible(badge)
        state_shown = browser.settle(lambda d: d.find_element(By.CSS_SELECTOR, badge).text.strip(), "no run state")
        map_cells = "[data-testid='table-cell-rendered_map_index']"
        browser.settle(lambda d: any(c.text for c in d.find_elements(By.CSS_SELECTOR, map_cells)), "no mapped task")
        labels = [c.text for c in browser.driver.find_elements(By.CSS_SELECTOR, map_cells) if c.text]
        cell = browser.driver.find_elements(By.XPATH, f"//a[normalize-space(.)='{CHOSEN_FAMILY}']")
        browser.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'})", (cell or [browser.css(badge)])[0]
        )
        shots += f", {browser.shot('run-page')}"
    print(f"\nrun {run_id}: {run['state']} {elapsed:.0f} s after the form opened; {shots}")

    log = airflow_ui.home / "standalone.log"
    assert run["state"] == "success", f"run {run_id} is {run['state']}; Airflow log {log}; {shots}"
    assert state_shown == "Success", f"run page shows {state_shown!r}; {shots}"
    assert labels == [CHOSEN_FAMILY], f"mapped instances on the run page: {labels}; {shots}"

    # The run's conf: the four values entered, every other Param at its default, with the Params' types.
    conf = airflow_ui.get(f"/dags/{DAG}/dagRuns/{quote(run_id)}")["conf"]
    entered = {
        "bucket": BUCKET,
        "sns_topic_arn": airflow_ui.topic_arn,
        "model_families": [CHOSEN_FAMILY],
        "cv_folds": CHOSEN_FOLDS,
    }
    assert conf == {**{name: p["value"] for name, p in params.items()}, **entered}, f"conf {conf}; {shots}"
    assert type(conf["cv_folds"]) is int, f"cv_folds sent as {conf['cv_folds']!r}; {shots}"

    # The mapped train task ran once, for the chosen family only.
    train = [t for t in airflow_ui.task_instances(run_id) if t["task_id"] == "train"]
    instances = [(t["map_index"], t["rendered_map_index"], t["state"]) for t in train]
    assert instances == [(0, CHOSEN_FAMILY, "success")], f"train instances {train}; {shots}"
    trained = airflow_ui.get(
        f"/dags/{DAG}/dagRuns/{quote(run_id)}/taskInstances/train/xcomEntries/return_value", map_index=0
    )["value"]
    assert (trained["family"], trained["cv_folds"]) == (CHOSEN_FAMILY, CHOSEN_FOLDS), trained

    # What the run wrote and sent agrees: one candidate, in the bucket entered; the report to the topic entered.
    prefix = aws.latest_run_prefix(BUCKET)
    s3 = aws.client("s3")
    candidates = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET, Prefix=f"{prefix}/candidates/")["Contents"]]
    assert candidates == [f"{prefix}/candidates/{CHOSEN_FAMILY}.joblib"]
    model = json.loads(s3.get_object(Bucket=BUCKET, Key=f"{prefix}/model.json")["Body"].read())
    assert model["family"] == CHOSEN_FAMILY
    asked, message = aws.messages(airflow_ui.queue_url)  # the approval request, then the run's report
    assert asked["subject"].startswith("[bank-ml] APPROVAL NEEDED"), asked
    text = message["message"]
    assert re.search(rf"^Leaderboard \(CV AUC\): {CHOSEN_FAMILY} [0-9.]+$", text, re.MULTILINE), text

    # Approved in the browser: promote ran and made the model the champion, with the comment on record.
    states = {t["task_id"]: t["state"] for t in airflow_ui.task_instances(run_id)}
    assert (states["approve"], states["promote"], states["keep_champion"]) == ("success", "success", "skipped")
    assert message["subject"].endswith(", promoted"), message
    assert "Approval: APPROVED by " in text and COMMENT in text, text
    champion = json.loads(s3.get_object(Bucket=BUCKET, Key="models/champion.json")["Body"].read())
    assert champion["run_id"] == run_id
