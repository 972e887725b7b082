"""The deployment: docker-compose.yaml, docker/Dockerfile and the LocalStack hook agree with each other, with the
pinned versions and with the DAGs' defaults.

Docker does not run where the tests run, so this reads the files (no network, no containers): what a typo or a
drifting pin would break at `docker compose up` fails here first.
"""

from __future__ import annotations

import json
import re
import shlex
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from tests.conftest import ROOT

COMPOSE_FILE = ROOT / "docker-compose.yaml"
DOCKERFILE = ROOT / "docker" / "Dockerfile"
INIT_SCRIPT = ROOT / "docker" / "localstack-init.sh"
DEV_ONLY = {"pytest", "pytest-xdist", "ruff", "mypy", "pre-commit", "moto", "selenium", "pyinstrument"}
REQUIRED_SERVICES = {
    *("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"),
    *("airflow-worker-1", "airflow-worker-2", "airflow-init", "postgres", "redis", "localstack"),
}
# Compose's ${VAR:-default} and ${VAR}: the tests read the defaults, i.e. what runs with no .env.
_VARIABLE = re.compile(r"\$\{(\w+)(?::?-([^}]*))?\}")


def interpolate(value: str) -> str:
    """``value`` as Compose resolves it with no variable set: ``${VAR:-default}`` becomes default, ``$$`` ``$``."""
    return _VARIABLE.sub(lambda m: m.group(2) or "", value.replace("$$", "\0")).replace("\0", "$")


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def services(compose) -> dict[str, dict]:
    return compose["services"]


@pytest.fixture(scope="module")
def airflow_services(services) -> dict[str, dict]:
    """Every service that runs the project's Airflow image (they all take the common anchor's environment)."""
    return {name: svc for name, svc in services.items() if "AIRFLOW__CORE__EXECUTOR" in svc.get("environment", {})}


@pytest.fixture(scope="module")
def env(services) -> dict[str, str]:
    """The Airflow environment, interpolated, as the scheduler sees it."""
    return {k: interpolate(str(v)) for k, v in services["airflow-scheduler"]["environment"].items()}


@pytest.fixture(scope="module")
def dag_defaults() -> dict[str, str]:
    """The training DAG's own Param defaults, from the parsed DAG (not copied here)."""
    from airflow.dag_processing.dagbag import BundleDagBag

    # As the DAG processor parses it: the DAG folder is the bundle, on sys.path for bank_marketing_common.
    dagbag = BundleDagBag(dag_folder=str(ROOT / "dags" / "bank_marketing_training.py"), bundle_path=ROOT / "dags")
    assert dagbag.import_errors == {}
    params = dagbag.dags["bank_marketing_training"].params
    return {name: params.get_param(name).value for name in ("bucket", "input_key", "sns_topic_arn")}


def requirements_in() -> dict[str, str]:
    """Direct dependencies: name (extras dropped) to pinned version."""
    pins = {}
    for line in (ROOT / "requirements.in").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[re.sub(r"\[.*\]", "", name).lower()] = version
    return pins


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them: pip freeze writes pre_commit for pre-commit."""
    return re.sub(r"[-_.]+", "-", re.sub(r"\[.*\]", "", name)).lower()


def requirements_lock() -> dict[str, str]:
    return {
        canonical(name): version
        for name, version in re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)$", (ROOT / "requirements.lock").read_text(), re.M)
    }


def dockerfile_installs() -> tuple[str, list[str], list[str]]:
    """The Dockerfile's pip install: the constraints file, the requirement files (``-r``) and the package names
    it asks for by name."""
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    (command,) = [line for line in text.splitlines() if line.startswith("RUN") and "pip install" in line]
    words = shlex.split(command)[1:]
    constraint = words[words.index("--constraint") + 1]
    files = [words[i + 1] for i, w in enumerate(words) if w in ("-r", "--requirement")]
    packages = [
        w for w in words[words.index("install") + 1 :] if not w.startswith("-") and w != constraint and w not in files
    ]
    return constraint, files, packages


def bind_mounts(service: dict) -> list[tuple[str, str]]:
    """``(host path, container path)`` of the service's bind mounts (named volumes left out)."""
    out = []
    for volume in service.get("volumes", []):
        host, container = volume.split(":")[:2]
        if host.startswith((".", "/")):
            out.append((host, container))
    return out


def healthcheck_of(service: dict) -> list | str | None:
    check = service.get("healthcheck") or {}
    return None if check.get("disable") else check.get("test")


def test_compose_file_parses_with_every_required_service(services):
    assert set(services) >= REQUIRED_SERVICES, f"missing: {sorted(REQUIRED_SERVICES - set(services))}"


def test_every_airflow_service_runs_the_same_image_built_from_the_dockerfile(airflow_services):
    assert set(airflow_services) >= {s for s in REQUIRED_SERVICES if s.startswith("airflow-")}
    images = {interpolate(svc["image"]) for svc in airflow_services.values()}
    builds = {json.dumps(svc.get("build"), sort_keys=True) for svc in airflow_services.values()}
    assert len(images) == 1, f"Airflow services use different images: {images}"
    assert len(builds) == 1, f"Airflow services use different builds: {builds}"
    build = next(iter(airflow_services.values()))["build"]
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE


def test_image_versions_match_the_pins(airflow_services):
    airflow_pin = requirements_in()["apache-airflow"]
    requires_python = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["requires-python"]
    python = re.search(r">=\s*(\d+\.\d+)", requires_python).group(1)

    (base,) = re.findall(r"^FROM\s+(\S+)", DOCKERFILE.read_text(), re.M)
    assert base == f"apache/airflow:{airflow_pin}-python{python}"
    # The built image's tag names the same Airflow version, so a bump cannot reuse a stale local image.
    image = interpolate(next(iter(airflow_services.values()))["image"])
    assert image.rsplit(":", 1)[1] == airflow_pin


def copied_files() -> dict[str, str]:
    """What the Dockerfile's COPY lines bring in: image path (file or folder) to repository path."""
    out = {}
    for line in DOCKERFILE.read_text().splitlines():
        words = line.split()
        if words[:1] == ["COPY"]:
            *sources, target = [w for w in words[1:] if not w.startswith("--")]
            for source in sources:
                into_folder = target.endswith("/") and not source.endswith("/")
                out[target + Path(source).name if into_folder else target] = source
    return out


def test_image_installs_the_runtime_pins_only(airflow_services):
    constraint, files, packages = dockerfile_installs()
    pins, lock = requirements_in(), requirements_lock()
    copied = copied_files()

    assert constraint.endswith("requirements.lock")
    assert copied.get(constraint) == "requirements.lock", f"{constraint} is not requirements.lock copied in"
    # The image installs requirements.in (by file or by name), every package at the version the lock pins.
    for file in files:
        assert copied.get(file) == "requirements.in", f"pip installs -r {file}, which is not requirements.in"
    installed = set(pins) if files else set(packages)
    for package in packages:
        assert package in pins, f"{package} is installed in the image but not a direct dependency"
    for package in installed:
        assert lock.get(package) == pins[package], f"requirements.lock does not pin {package}=={pins[package]}"
    assert not DEV_ONLY & installed, "development tools do not belong in the image"
    assert not DEV_ONLY & set(pins), "development tools belong in requirements-dev.in, not requirements.in"
    # What the DAGs and include/ import at run time.
    assert {"apache-airflow", "apache-airflow-providers-amazon", "apache-airflow-providers-celery"} <= installed
    assert {"psycopg2-binary", "pandas", "pyarrow", "scikit-learn", "joblib", "matplotlib", "jinja2"} <= installed


def test_development_requirements_build_on_the_runtime_ones():
    lines = [line.split("#", 1)[0].strip() for line in (ROOT / "requirements-dev.in").read_text().splitlines()]
    assert "-r requirements.in" in lines
    dev = {canonical(line.split("==")[0]) for line in lines if "==" in line}
    assert dev >= DEV_ONLY, f"not in requirements-dev.in: {sorted(DEV_ONLY - dev)}"
    lock = requirements_lock()
    for line in lines:
        if "==" in line:
            name, version = line.split("==")
            assert lock.get(canonical(name)) == version, f"requirements.lock does not pin {line}"


def test_build_context_is_small_and_holds_what_the_dockerfile_copies():
    sources = list(copied_files().values())
    assert {"requirements.in", "requirements.lock", "dags/", "include/"} <= set(sources)
    for source in sources:
        assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
    ignore = (ROOT / ".dockerignore").read_text().split()
    assert "*" in ignore, ".dockerignore must exclude everything by default (.venv/ alone is about 1 GB)"
    for source in sources:
        assert f"!{source.rstrip('/')}" in ignore, f".dockerignore excludes {source}, which the Dockerfile copies"


def test_executor_is_celery(airflow_services):
    for name, svc in airflow_services.items():
        assert svc["environment"]["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor", name


def test_broker_is_the_redis_service(env, services):
    broker = urlsplit(env["AIRFLOW__CELERY__BROKER_URL"])
    assert broker.scheme == "redis"
    assert broker.hostname == "redis" and "redis" in services
    assert (broker.port or 6379) == 6379
    assert "redis-cli" in json.dumps(services["redis"]["healthcheck"]["test"])


def test_metadata_database_and_result_backend_are_the_postgres_service(env, services):
    postgres = {k: interpolate(str(v)) for k, v in services["postgres"]["environment"].items()}
    for key, scheme in [
        ("AIRFLOW__DATABASE__SQL_ALCHEMY_CONN", "postgresql+psycopg2"),
        ("AIRFLOW__CELERY__RESULT_BACKEND", "db+postgresql+psycopg2"),
    ]:
        url = urlsplit(env[key])
        assert url.scheme == scheme, key
        assert url.hostname == "postgres", key
        assert url.username == postgres["POSTGRES_USER"], key
        assert url.password == postgres["POSTGRES_PASSWORD"], key
        assert url.path.lstrip("/") == postgres["POSTGRES_DB"], key
    # One variable sets both sides, so overriding the password cannot split them.
    raw = services["airflow-scheduler"]["environment"]["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]
    assert services["postgres"]["environment"]["POSTGRES_PASSWORD"] in raw


def test_mounts_exist_and_agree_with_the_dags_folder_and_pythonpath(airflow_services, services, env):
    for name, svc in {**airflow_services, "localstack": services["localstack"]}.items():
        for host, _ in bind_mounts(svc):
            assert (ROOT / host).exists(), f"{name} mounts {host}, which is not in the repository"
    mounts = dict(bind_mounts(services["airflow-worker-1"]))
    for name, svc in airflow_services.items():
        assert dict(bind_mounts(svc)) == mounts, f"{name} mounts other paths than the workers"
    assert mounts["./dags"] == env["AIRFLOW__CORE__DAGS_FOLDER"]
    assert mounts["./plugins"] == env["AIRFLOW__CORE__PLUGINS_FOLDER"]
    # Airflow imports airflow_local_settings from $AIRFLOW_HOME/config (the image's AIRFLOW_HOME is /opt/airflow).
    assert mounts["./config"] == "/opt/airflow/config"
    # `from include.bank_marketing import ...`: include/ must sit directly under a PYTHONPATH entry.
    assert str(Path(mounts["./include"]).parent) in env["PYTHONPATH"].split(":")
    assert (ROOT / "include" / "__init__.py").exists()
    assert "ENV PYTHONPATH=/opt/airflow" in DOCKERFILE.read_text()


def test_localstack_runs_the_executable_init_hook(services):
    mounts = dict(bind_mounts(services["localstack"]))
    hook = mounts["./docker/localstack-init.sh"]
    assert hook.startswith("/etc/localstack/init/ready.d/") and hook.endswith(".sh")
    assert INIT_SCRIPT.stat().st_mode & 0o111, "LocalStack runs only executable hooks"
    assert INIT_SCRIPT.read_text().startswith("#!"), "LocalStack runs shell hooks through their shebang"
    assert {"s3", "sns"} <= set(services["localstack"]["environment"]["SERVICES"].split(","))
    image, tag = services["localstack"]["image"].rsplit(":", 1)
    # LocalStack's images after 4.14 need an auth token: a pinned community release keeps `up` token-free.
    assert image == "localstack/localstack"
    assert tuple(int(p) for p in tag.split(".")[:2]) <= (4, 14), tag


def test_aws_connection_points_at_localstack_in_the_dags_account(env, services, dag_defaults):
    from airflow.models.connection import Connection
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    raw = env["AIRFLOW_CONN_AWS_DEFAULT"]
    json.loads(raw)
    conn = AwsConnectionWrapper(Connection.from_json(raw, conn_id="aws_default"))
    endpoint = urlsplit(conn.endpoint_url)
    assert conn.conn_type == "aws"
    assert endpoint.hostname == "localstack" and "localstack" in services
    assert f"{endpoint.port}" in {p.split(":")[-1] for p in services["localstack"]["ports"]}
    _, _, _, region, account, _ = dag_defaults["sns_topic_arn"].split(":")
    assert conn.region_name == region
    # LocalStack takes a 12-digit access key ID as the account: the DAG's default topic ARN must resolve.
    assert conn.aws_access_key_id == account
    assert f"AWS_ACCESS_KEY_ID={account}" in INIT_SCRIPT.read_text()
    assert f"AWS_DEFAULT_REGION={region}" in INIT_SCRIPT.read_text()


def test_execution_api_is_the_api_servers(env, services):
    url = urlsplit(env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"])
    assert url.hostname == "airflow-apiserver" and url.hostname in services
    container_ports = {interpolate(p).rsplit(":", 1)[1] for p in services["airflow-apiserver"]["ports"]}
    assert str(url.port) in container_ports
    assert url.path == "/execution/"
    assert services["airflow-apiserver"]["command"] == "api-server"


def test_every_airflow_setting_is_one_airflow_knows(env):
    from airflow.configuration import conf

    known = conf.configuration_description
    settings = [k for k in env if k.startswith("AIRFLOW__")]
    assert len(settings) > 10
    for key in settings:
        _, section, option = key.split("__", 2)
        assert option.lower() in known.get(section.lower(), {}).get("options", {}), f"{key}: no such option"


def test_no_login_and_shared_secrets_stay_on_loopback(env, services):
    assert env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS"] == "True"
    assert env["AIRFLOW__API_AUTH__JWT_SECRET"], "components need one shared JWT secret"
    # A UI without login and default secrets is local only: every published port listens on 127.0.0.1.
    for name, svc in services.items():
        for port in svc.get("ports", []):
            assert interpolate(str(port)).startswith("127.0.0.1:"), f"{name} publishes {port} beyond loopback"


def test_long_running_services_have_health_checks(services):
    for name, svc in services.items():
        if name != "airflow-init":
            assert healthcheck_of(svc), f"{name} has no health check"
    assert "service_completed_successfully" not in json.dumps(services["airflow-init"].get("depends_on", {}))
    assert "db migrate" in json.dumps(services["airflow-init"]["command"])


def test_depends_on_names_existing_services_with_sound_conditions(services):
    graph = {}
    for name, svc in services.items():
        depends = svc.get("depends_on", {})
        graph[name] = set(depends)
        for dep, spec in depends.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            condition = spec["condition"]
            if condition == "service_healthy":
                assert healthcheck_of(services[dep]), f"{name} waits for {dep} to be healthy; it has no check"
            else:
                assert (condition, dep) == ("service_completed_successfully", "airflow-init"), (name, dep)
    for name in REQUIRED_SERVICES - {"airflow-init", "postgres", "redis", "localstack"}:
        assert services[name]["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"
        assert {"postgres", "redis"} <= graph[name], name
    for worker in ("airflow-worker-1", "airflow-worker-2"):
        assert services[worker]["depends_on"]["airflow-apiserver"]["condition"] == "service_healthy"
    # No cycles: Compose would refuse to start.
    done: set[str] = set()
    while len(done) < len(graph):
        ready = {n for n, deps in graph.items() if n not in done and deps <= done}
        assert ready, f"dependency cycle among {sorted(set(graph) - done)}"
        done |= ready


def test_two_celery_workers_with_distinct_hostnames(services):
    workers = {n: s for n, s in services.items() if s.get("command") == "celery worker"}
    assert len(workers) >= 2
    hostnames = [s.get("hostname") for s in workers.values()]
    assert all(hostnames) and len(set(hostnames)) == len(hostnames), hostnames
    for name, svc in workers.items():
        assert "celery@$${HOSTNAME}" in json.dumps(svc["healthcheck"]["test"]), name
        assert svc["environment"].get("DUMB_INIT_SETSID") == "0", f"{name}: no warm shutdown"


def test_worker_concurrency_caps_the_training_fan_out(env, services):
    # Celery's default is 16 slots a worker, each training task using every core (n_jobs=-1): a few, not 16.
    assert 1 <= int(env["AIRFLOW__CELERY__WORKER_CONCURRENCY"]) <= 4
    # Concurrent boosting fits must not each start a thread per core (measured: 354 s instead of 76 s).
    for name in ("airflow-worker-1", "airflow-worker-2"):
        assert interpolate(str(services[name]["environment"]["OMP_NUM_THREADS"])) == "1", name


def test_project_env_vars_keep_their_defaults(services):
    for name, svc in services.items():
        assert "BANK_ML_RETRY_DELAY_SECONDS" not in svc.get("environment", {}), name


def test_init_script_creates_what_the_dag_defaults_name(services, dag_defaults):
    script = INIT_SCRIPT.read_text()
    bucket, input_key = dag_defaults["bucket"], dag_defaults["input_key"]
    topic = dag_defaults["sns_topic_arn"].rsplit(":", 1)[1]
    assert re.findall(r"s3api create-bucket --bucket (\S+)", script) == [bucket]
    assert re.findall(r"sns create-topic --name (\S+)", script) == [topic]
    # The seed file goes to the DAG's default input key, from the repository's data through the /seed mount.
    ((source, target),) = re.findall(r"s3 cp (\S+) (\S+)", script)
    assert target == f"s3://{bucket}/{input_key}"
    seed = {c: h for h, c in bind_mounts(services["localstack"])}
    folder, name = source.rsplit("/", 1)
    assert (ROOT / seed[folder] / name) == ROOT / "include" / "data" / "banking.csv"
    assert (ROOT / "include" / "data" / "banking.csv").exists()
    assert "set -euo pipefail" in script, "a failed step must fail the hook (and so the health check)"


def test_init_script_keeps_the_bucket_private():
    script = INIT_SCRIPT.read_text().replace("\\\n", " ")
    block = re.search(
        r"put-public-access-block\s+--bucket\s+(\S+)\s+--public-access-block-configuration\s+(\S+)", script
    )
    assert block, "the bucket must get a public access block"
    assert re.findall(r"create-bucket --bucket (\S+)", script) == [block.group(1)]
    settings = dict(item.split("=") for item in block.group(2).split(","))
    assert settings == dict.fromkeys(
        ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets"), "true"
    )
    code = "\n".join(line for line in script.splitlines() if not line.lstrip().startswith("#"))
    for forbidden in ("put-bucket-policy", "put-bucket-acl", "--acl", "public-read", '"*"'):
        assert forbidden not in code, f"init script must not make the bucket public ({forbidden})"
    # The one policy it writes is the file-event queue's: S3 may send this bucket's notifications, nobody else.
    principals = re.findall(r'"Principal":\s*(\{[^}]*\})', code)
    assert principals == ['{"Service": "s3.amazonaws.com"}']
    assert '"aws:SourceArn": "arn:aws:s3:::bank-ml"' in code


def test_no_real_looking_aws_credentials_in_deployment_files(env):
    files = [COMPOSE_FILE, DOCKERFILE, INIT_SCRIPT, ROOT / ".dockerignore"]
    for path in files:
        text = path.read_text()
        assert not re.search(r"\b(AKIA|ASIA|ABIA|ACCA)[A-Z0-9]{16}\b", text), f"{path.name}: AWS access key ID"
        assert not re.search(r"(?<![A-Za-z0-9/+=])[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+=])", text), (
            f"{path.name}: 40-character string shaped like an AWS secret access key"
        )
    conn = json.loads(env["AIRFLOW_CONN_AWS_DEFAULT"])
    assert (conn["login"], conn["password"]) == ("123456789012", "test"), "only LocalStack's dummy credentials"
    assert re.findall(r"AWS_SECRET_ACCESS_KEY=(\S+)", INIT_SCRIPT.read_text()) == ["test"]


def test_readme_iam_policy_is_least_privilege_for_the_dags(dag_defaults):
    readme = (ROOT / "README.md").read_text()
    policies = [json.loads(text) for text in re.findall(r"```json\n(\{\s*\"Version\".*?)\n```", readme, re.S)]
    # The workers' and triggerer's identity policy (no Principal), and the file-event queue's resource policy.
    [identity] = [p for p in policies if not any("Principal" in s for s in p["Statement"])]
    [queue_policy] = [p for p in policies if p is not identity]
    statements = identity["Statement"]
    actions = {a for s in statements for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])}
    assert actions == {
        *("s3:GetObject", "s3:PutObject", "s3:ListBucket", "s3:GetBucketLocation", "sns:Publish"),
        *("sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"),
    }
    assert all(s["Effect"] == "Allow" for s in statements)
    [send] = queue_policy["Statement"]
    assert (send["Principal"], send["Action"]) == ({"Service": "s3.amazonaws.com"}, "sqs:SendMessage")
    assert send["Condition"]["ArnLike"]["aws:SourceArn"] == f"arn:aws:s3:::{dag_defaults['bucket']}"

    def resources(action: str) -> set[str]:
        out = set()
        for s in statements:
            if action in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"]):
                out |= {s["Resource"]} if isinstance(s["Resource"], str) else set(s["Resource"])
        return out

    bucket = dag_defaults["bucket"]
    queue_arn = "arn:aws:sqs:us-east-1:123456789012:bank-ml-incoming"
    assert resources("sqs:ReceiveMessage") == resources("sqs:DeleteMessage") == {queue_arn} == {send["Resource"]}
    assert dag_defaults["sns_topic_arn"] in resources("sns:Publish")
    assert resources("s3:ListBucket") == resources("s3:GetBucketLocation") == {f"arn:aws:s3:::{bucket}"}
    # Every file the scoring DAG writes beside the customers file may be written, and nothing else there.
    assert {f"arn:aws:s3:::{bucket}/scoring/*/{name}" for name in ("predictions.csv", "call_list.csv")} <= resources(
        "s3:PutObject"
    )
    assert f"arn:aws:s3:::{bucket}/{dag_defaults['input_key']}" in resources("s3:GetObject")
    assert f"arn:aws:s3:::{bucket}/*" not in resources("s3:PutObject"), "writes go to named prefixes only"
    assert f"arn:aws:s3:::{bucket}/{dag_defaults['input_key']}" not in resources("s3:PutObject")
