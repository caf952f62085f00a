"""Environment selection: every setting validated at load time, every problem named by its variable."""

from __future__ import annotations

import pytest

from resources.settings import LakehouseSettings, SettingsError

CLUSTER = {
    "LAKEHOUSE_ENV": "cluster",
    "LAKEHOUSE_SPARK_MASTER": "spark://127.0.0.1:7077",
    "LAKEHOUSE_S3_BUCKET": "lake",
    "LAKEHOUSE_S3_ENDPOINT": "http://127.0.0.1:9000",
    "AWS_ACCESS_KEY_ID": "key",
    "AWS_SECRET_ACCESS_KEY": "secret",
    "OPENLINEAGE_URL": "http://127.0.0.1:5000",
}


def problems(environ: dict[str, str]) -> list[str]:
    with pytest.raises(SettingsError) as error:
        LakehouseSettings.from_env(environ)
    return [line.strip()[2:] for line in str(error.value).splitlines()[1:]]


def test_local_is_the_default_and_lives_on_the_local_disk(tmp_path):
    settings = LakehouseSettings.from_env({"LAKEHOUSE_ROOT": str(tmp_path)})
    assert (settings.env, settings.root, settings.lineage) == ("local", str(tmp_path), "file")
    assert settings.table_root == f"{tmp_path}/tables"
    assert settings.object_store is None and settings.spark_master is None


def test_cluster_puts_landing_and_tables_in_the_bucket():
    settings = LakehouseSettings.from_env({**CLUSTER, "LAKEHOUSE_S3_PREFIX": "team/lake"})
    assert settings.spark_master == "spark://127.0.0.1:7077" and settings.spark_remote is None
    assert settings.landing_root == "s3://lake/team/lake/landing"
    assert settings.table_root == "s3a://lake/team/lake/tables"
    assert settings.object_store.endpoint == "http://127.0.0.1:9000"
    assert settings.object_store.path_style is True
    assert settings.lineage == "http"  # shared environments send lineage to a backend by default


def test_cluster_names_every_missing_variable_at_once():
    found = problems({"LAKEHOUSE_ENV": "cluster"})
    assert any(p.startswith("exactly one of LAKEHOUSE_SPARK_MASTER") for p in found)
    for variable in ("LAKEHOUSE_S3_BUCKET", "LAKEHOUSE_S3_ENDPOINT", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        assert any(p.startswith(f"{variable} is required when LAKEHOUSE_ENV=cluster") for p in found), found
    assert any("OPENLINEAGE_URL" in p for p in found)


def test_wrong_values_are_named_with_what_was_given():
    found = problems({**CLUSTER, "LAKEHOUSE_SPARK_MASTER": "127.0.0.1:7077", "LAKEHOUSE_S3_ENDPOINT": "minio:9000",
                      "LAKEHOUSE_S3_PATH_STYLE": "maybe", "LAKEHOUSE_START_DATE": "1/1/2026"})
    assert "LAKEHOUSE_SPARK_MASTER must be a spark://host:port URL, got '127.0.0.1:7077'" in found
    assert "LAKEHOUSE_S3_ENDPOINT must be a http:// or https://host:port URL, got 'minio:9000'" in found
    assert "LAKEHOUSE_S3_PATH_STYLE must be on/off (or true/false), got 'maybe'" in found
    assert "LAKEHOUSE_START_DATE must be a date like 2026-01-01, got '1/1/2026'" in found


def test_spark_connect_or_master_but_not_both():
    remote = {**CLUSTER, "LAKEHOUSE_SPARK_MASTER": "", "LAKEHOUSE_SPARK_REMOTE": "sc://127.0.0.1:15002"}
    assert LakehouseSettings.from_env(remote).spark_remote == "sc://127.0.0.1:15002"
    found = problems({**CLUSTER, "LAKEHOUSE_SPARK_REMOTE": "sc://127.0.0.1:15002"})
    assert any(p.endswith("(both are set)") for p in found)


def test_prod_may_use_aws_itself_and_its_default_credentials():
    environ = {k: v for k, v in CLUSTER.items() if not k.startswith(("AWS_", "LAKEHOUSE_S3_ENDPOINT"))}
    settings = LakehouseSettings.from_env({**environ, "LAKEHOUSE_ENV": "prod"})
    assert settings.object_store.endpoint is None and settings.object_store.path_style is False
    found = problems({**environ, "LAKEHOUSE_ENV": "prod", "AWS_ACCESS_KEY_ID": "key"})
    assert any("set both AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY" in p for p in found)


def test_settings_of_one_environment_are_refused_in_another(tmp_path):
    found = problems({"LAKEHOUSE_ENV": "ci", "LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_S3_BUCKET": "lake"})
    assert found == ["LAKEHOUSE_S3_BUCKET is only used when LAKEHOUSE_ENV is cluster or prod (it is ci)"]
    found = problems({"LAKEHOUSE_ENV": "ci", "LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_SPARK_MASTER": "spark://h:7077"})
    assert found == ["LAKEHOUSE_SPARK_MASTER is only used when LAKEHOUSE_ENV is cluster or prod (it is ci)"]
    found = problems({**CLUSTER, "LAKEHOUSE_ROOT": str(tmp_path)})
    assert found[0].startswith("LAKEHOUSE_ROOT is not used when LAKEHOUSE_ENV=cluster")
    assert problems({"LAKEHOUSE_ENV": "staging"}) == ["LAKEHOUSE_ENV must be one of local, ci, cluster, prod, got 'staging'"]


def test_file_lineage_needs_a_local_file_when_the_lakehouse_is_remote(tmp_path):
    found = problems({**CLUSTER, "LAKEHOUSE_LINEAGE": "file"})
    assert found[0].startswith("LAKEHOUSE_LINEAGE=file needs LAKEHOUSE_LINEAGE_FILE")
    events = str(tmp_path / "events.jsonl")
    settings = LakehouseSettings.from_env({**CLUSTER, "LAKEHOUSE_LINEAGE": "file", "LAKEHOUSE_LINEAGE_FILE": events})
    assert settings.lineage_file == events


def test_secrets_never_enter_the_settings():
    settings = LakehouseSettings.from_env(CLUSTER)
    assert "secret" not in repr(settings)
    assert not any("access" in field or "secret" in field for field in vars(settings.object_store))


def test_spark_lineage_needs_a_destination_and_an_in_process_driver():
    assert LakehouseSettings.from_env({"LAKEHOUSE_SPARK_LINEAGE": "on"}).spark_lineage is True
    assert problems({"LAKEHOUSE_SPARK_LINEAGE": "on", "LAKEHOUSE_LINEAGE": "off"}) == [
        "LAKEHOUSE_SPARK_LINEAGE=on needs LAKEHOUSE_LINEAGE=file or http (it sends where they send)"]
    remote = {**CLUSTER, "LAKEHOUSE_SPARK_MASTER": "", "LAKEHOUSE_SPARK_REMOTE": "sc://127.0.0.1:15002",
              "LAKEHOUSE_SPARK_LINEAGE": "on"}
    assert any(p.startswith("LAKEHOUSE_SPARK_LINEAGE=on needs an in-process driver") for p in problems(remote))


def test_a_local_lakehouse_may_use_a_warm_spark_connect_server(tmp_path):
    settings = LakehouseSettings.from_env({"LAKEHOUSE_ENV": "local", "LAKEHOUSE_ROOT": str(tmp_path),
                                           "LAKEHOUSE_SPARK_REMOTE": "sc://127.0.0.1:15002"})
    assert settings.spark_remote == "sc://127.0.0.1:15002" and settings.object_store is None
    assert settings.root == str(tmp_path)
    found = problems({"LAKEHOUSE_ENV": "local", "LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_SPARK_LINEAGE": "on",
                      "LAKEHOUSE_SPARK_REMOTE": "sc://127.0.0.1:15002"})
    assert any("in-process driver" in p for p in found)


def test_monitoring_is_off_until_its_variables_are_set(tmp_path):
    off = LakehouseSettings.from_env({"LAKEHOUSE_ROOT": str(tmp_path)})
    assert (off.pushgateway_url, off.alert_webhook) == (None, False)
    on = LakehouseSettings.from_env({"LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_PUSHGATEWAY_URL": "http://pg:9091",
                                     "LAKEHOUSE_ALERT_WEBHOOK_URL": "https://hooks.example.com/services/T/B/token",
                                     "LAKEHOUSE_MONITORING_TIMEOUT_SECONDS": "2.5"})
    assert (on.pushgateway_url, on.alert_webhook, on.monitoring_timeout_seconds) == ("http://pg:9091", True, 2.5)
    assert "token" not in repr(on)  # the webhook URL is a secret: validated, not kept


def test_a_bad_webhook_url_is_named_without_its_value(tmp_path):
    found = problems({"LAKEHOUSE_ROOT": str(tmp_path), "LAKEHOUSE_ALERT_WEBHOOK_URL": "hooks.example.com/secret-token",
                      "LAKEHOUSE_PUSHGATEWAY_URL": "pushgateway:9091"})
    assert "LAKEHOUSE_ALERT_WEBHOOK_URL must be an http:// or https:// URL (its value is not shown)" in found
    assert "LAKEHOUSE_PUSHGATEWAY_URL must be a http:// or https://host:port URL, got 'pushgateway:9091'" in found
    assert not any("secret-token" in p for p in found)


IMPORT_EVERYTHING = r"""
import importlib, os, pkgutil, sys

ROOT = os.getcwd()

class Recording(type(os.environ)):
    read = set()
    def __getitem__(self, key):
        frame = sys._getframe(1)
        while frame.f_code.co_filename.endswith(("_collections_abc.py", "os.py", " _collections_abc>", " os>")):  # .get()
            frame = frame.f_back
        name = frame.f_code.co_filename
        if name.startswith(ROOT) and "site-packages" not in name:  # the platform's code, not a library's
            Recording.read.add(key)
        return super().__getitem__(key)

recording = Recording(os.environ._data, os.environ.encodekey, os.environ.decodekey,
                      os.environ.encodevalue, os.environ.decodevalue)
os.environ = recording
for package in ("assets", "resources", "sensors"):
    root = importlib.import_module(package)
    for module in pkgutil.walk_packages(root.__path__, package + "."):
        importlib.import_module(module.name)
spec = importlib.util.spec_from_file_location("definitions", "platform/definitions.py")
definitions = importlib.util.module_from_spec(spec)
spec.loader.exec_module(definitions)
ours = sorted(k for k in Recording.read if k.startswith(("LAKEHOUSE_", "OPENLINEAGE", "AWS_", "DAGSTER_PG")))
print(",".join(ours))
"""


def test_no_import_reads_the_platform_settings_from_the_environment(tmp_path):
    """Settings flow in through ``build_definitions(settings)``: importing every module of the
    platform, the Definitions module included, reads none of its variables from the platform's
    own code (``os.environ[...]`` and ``.get`` both go through the recording ``__getitem__``)."""
    import subprocess
    import sys

    from conftest import REPO_ROOT

    env = {"PATH": "/usr/bin:/bin", "LAKEHOUSE_START_DATE": "not a date", "LAKEHOUSE_ENV": "no such env",
           "HOME": str(tmp_path)}
    done = subprocess.run([sys.executable, "-c", IMPORT_EVERYTHING], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().splitlines()[-1:] in ([""], []), done.stdout
