"""``ClusterConfig``: arguments and environment, validation, and how the Runner carries
it to its supervisor. No Redis needed."""

from __future__ import annotations

import pytest

from livetag import Runner, Tag
from livetag.server.cluster.config import ClusterConfig, parse_relay, redacted
from livetag.server.processes.config import SupervisorConfig

SECRET = "s" * 32
URL = "redis://127.0.0.1:6379/0"


class App(Tag.App):
    def init(self) -> None:
        self <= "hello"


@pytest.fixture(autouse=True)
def no_cluster_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LIVETAG_REDIS_URL", "LIVETAG_CLUSTER_SECRET", "LIVETAG_RELAY", "LIVETAG_MACHINE_ID",
                 "LIVETAG_REDIS_PREFIX", "LIVETAG_LEASE"):
        monkeypatch.delenv(name, raising=False)


def test_no_url_means_no_cluster() -> None:
    assert ClusterConfig.resolve() is None
    assert ClusterConfig.resolve(environ={}) is None
    with pytest.raises(ValueError, match="expected redis_url"):
        ClusterConfig.resolve(cluster_secret=SECRET)


def test_a_url_needs_a_secret_long_enough() -> None:
    with pytest.raises(ValueError, match=r"cluster secret of at least 32 characters .* got none"):
        ClusterConfig.resolve(redis_url=URL)
    with pytest.raises(ValueError, match="got 5 characters"):
        ClusterConfig.resolve(redis_url=URL, cluster_secret="short")


def test_arguments_win_over_the_environment() -> None:
    env = {"LIVETAG_REDIS_URL": "redis://env:6379", "LIVETAG_CLUSTER_SECRET": "e" * 40,
           "LIVETAG_RELAY": "10.0.0.7:9000", "LIVETAG_MACHINE_ID": "m1", "LIVETAG_REDIS_PREFIX": "shop:"}
    config = ClusterConfig.resolve(environ=env)
    assert config is not None
    assert (config.redis_url, config.secret, config.relay, config.machine_id, config.prefix) == (
        "redis://env:6379", "e" * 40, "10.0.0.7:9000", "m1", "shop:")
    config = ClusterConfig.resolve(redis_url=URL, cluster_secret=SECRET, relay="127.0.0.1:9100", environ=env)
    assert config is not None and (config.redis_url, config.secret, config.relay) == (URL, SECRET, "127.0.0.1:9100")


def test_the_lease_comes_from_the_environment_too() -> None:
    env = {"LIVETAG_REDIS_URL": URL, "LIVETAG_CLUSTER_SECRET": SECRET, "LIVETAG_LEASE": "1.5"}
    assert ClusterConfig.resolve(environ=env).lease == 1.5  # type: ignore[union-attr]
    assert ClusterConfig.resolve(environ=env, lease=4).lease == 4  # type: ignore[union-attr]
    assert ClusterConfig.resolve(environ={**env, "LIVETAG_LEASE": ""}).lease == 10.0  # type: ignore[union-attr]
    for bad in ("soon", "0", "-1", "nan"):
        with pytest.raises(ValueError, match=r"LIVETAG_LEASE|lease"):
            ClusterConfig.resolve(environ={**env, "LIVETAG_LEASE": bad})


def test_values_are_checked() -> None:
    with pytest.raises(ValueError, match=r"redis://, rediss:// or unix:// URL .*'http://u:\*\*\*@h'"):
        ClusterConfig.resolve(redis_url="http://u:hunter2@h", cluster_secret=SECRET)
    for relay in ("host", ":80", "h:0", "h:70000", "h:x", "[::1]"):
        with pytest.raises(ValueError, match="relay address"):
            ClusterConfig.resolve(redis_url=URL, cluster_secret=SECRET, relay=relay)
    with pytest.raises(ValueError, match="machine id"):
        ClusterConfig.resolve(redis_url=URL, cluster_secret=SECRET, machine_id="a b")
    with pytest.raises(ValueError, match="prefix"):
        ClusterConfig.resolve(redis_url=URL, cluster_secret=SECRET, prefix="has space")
    with pytest.raises(ValueError, match="lease"):
        ClusterConfig.resolve(redis_url=URL, cluster_secret=SECRET, lease=0)
    assert parse_relay("[::1]:9000") == ("::1", 9000)
    assert parse_relay("10.0.0.7:9000") == ("10.0.0.7", 9000)


def test_secrets_stay_out_of_repr_and_messages() -> None:
    config = ClusterConfig.resolve(redis_url="redis://:hunter2@h:6379", cluster_secret=SECRET, relay="h:9000")
    assert config is not None
    assert "hunter2" not in repr(config) and SECRET not in repr(config)
    assert redacted(config.redis_url) == "redis://:***@h:6379"
    assert config.machine_id.endswith(":9000")  # default: host name and relay port


def test_the_runner_hands_the_configuration_to_its_supervisor() -> None:
    assert Runner(App).cluster is None
    assert Runner(App)._supervisor_config().cluster is None
    runner = Runner(App, redis_url=URL, cluster_secret=SECRET, relay="127.0.0.1:9000")
    assert runner.cluster is not None and runner.cluster.relay == "127.0.0.1:9000"
    sent = SupervisorConfig.from_json(runner._supervisor_config().to_json())
    assert sent.cluster is not None and ClusterConfig.from_dict(sent.cluster) == runner.cluster
    assert SupervisorConfig.from_json(Runner(App)._supervisor_config().to_json()).cluster is None
    with pytest.raises(ValueError, match="cluster secret"):
        Runner(App, redis_url=URL)


def test_the_runner_reads_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVETAG_REDIS_URL", URL)
    with pytest.raises(ValueError, match="LIVETAG_CLUSTER_SECRET"):
        Runner(App)
    monkeypatch.setenv("LIVETAG_CLUSTER_SECRET", SECRET)
    runner = Runner(App)
    assert runner.cluster is not None and runner.cluster.redis_url == URL
