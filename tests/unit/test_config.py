"""covenant.kernel.config: load_config precedence, interpolation, errors; render_config masking."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from covenant.kernel.config import CovenantConfig, load_config, render_config, resolve_config_path
from covenant.kernel.errors import ConfigError, ErrorKind, exit_code_for


@pytest.fixture(autouse=True)
def _in_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test runs where no ./covenant.yaml exists unless it writes one."""
    monkeypatch.chdir(tmp_path)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def _config_error(
    path: Path | None = None,
    *,
    environ: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path, environ=environ, overrides=overrides)
    assert caught.value.kind is ErrorKind.CONFIG
    assert exit_code_for(caught.value) == 2
    return caught.value


# --- defaults and sources -------------------------------------------------------------------


def test_defaults_without_any_file(tmp_path: Path) -> None:
    assert not (tmp_path / "covenant.yaml").exists()
    config = load_config(environ={})
    assert config == CovenantConfig()
    assert config.server.host == "127.0.0.1"
    assert config.server.port == 8080
    assert config.server.health_timeout_s == 3.0
    assert config.log_level == "info"
    assert config.engines.postgres.url is None
    assert config.engines.kafka.bootstrap_servers is None
    assert config.engines.loki.url is None
    assert config.stack.state_dir == Path(".covenant")
    assert config.stack.install_missing_packages is True
    assert resolve_config_path(environ={}) is None


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.yaml", "")
    assert load_config(path, environ={}) == CovenantConfig()


def test_values_from_the_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conf.yaml",
        """\
log_level: debug
server:
  host: 0.0.0.0
  port: 9000
  health_timeout_s: 1.5
engines:
  kafka:
    bootstrap_servers: kafka:9092
  loki:
    url: http://loki:3100
stack:
  state_dir: /srv/covenant
  engines: [postgres, kafka]
  install_missing_packages: false
""",
    )
    config = load_config(path, environ={})
    assert config.log_level == "debug"
    assert config.server.host == "0.0.0.0"
    assert config.server.port == 9000
    assert config.server.health_timeout_s == 1.5
    assert config.engines.kafka.bootstrap_servers == "kafka:9092"
    assert config.engines.loki.url == "http://loki:3100"
    assert config.stack.state_dir == Path("/srv/covenant")
    assert config.stack.engines == ("postgres", "kafka")
    assert config.stack.install_missing_packages is False
    # Untouched sections keep their defaults.
    assert config.server.shutdown_timeout_s == 10.0
    assert config.engines.grafana.url is None


def test_covenant_yaml_in_the_working_directory_is_used(tmp_path: Path) -> None:
    _write(tmp_path / "covenant.yaml", "server:\n  port: 7001\n")
    assert load_config(environ={}).server.port == 7001
    assert resolve_config_path(environ={}) == Path("covenant.yaml")


def test_covenant_config_env_selects_the_file(tmp_path: Path) -> None:
    _write(tmp_path / "covenant.yaml", "server:\n  port: 7001\n")
    other = _write(tmp_path / "other.yaml", "server:\n  port: 7002\n")
    env = {"COVENANT_CONFIG": str(other)}
    assert load_config(environ=env).server.port == 7002
    assert resolve_config_path(environ=env) == other


def test_explicit_path_beats_covenant_config_env(tmp_path: Path) -> None:
    from_env = _write(tmp_path / "env.yaml", "server:\n  port: 7002\n")
    explicit = _write(tmp_path / "explicit.yaml", "server:\n  port: 7003\n")
    config = load_config(explicit, environ={"COVENANT_CONFIG": str(from_env)})
    assert config.server.port == 7003


def test_explicit_path_that_does_not_exist(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    error = _config_error(missing, environ={})
    assert str(missing) in str(error)
    assert "not found" in str(error)


def test_covenant_config_env_naming_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "gone.yaml"
    error = _config_error(environ={"COVENANT_CONFIG": str(missing)})
    assert str(missing) in str(error)
    assert "COVENANT_CONFIG" in str(error)


# --- precedence -----------------------------------------------------------------------------


def test_precedence_override_then_env_then_file_then_default(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conf.yaml",
        "server:\n  port: 9000\n  host: 10.0.0.1\n  health_timeout_s: 2\n",
    )
    env = {"COVENANT_SERVER__PORT": "9001", "COVENANT_SERVER__HOST": "10.0.0.2"}

    config = load_config(path, environ=env, overrides={"server.port": 9002})
    assert config.server.port == 9002  # explicit argument
    assert config.server.host == "10.0.0.2"  # environment
    assert config.server.health_timeout_s == 2.0  # file
    assert config.server.shutdown_timeout_s == 10.0  # default

    assert load_config(path, environ=env).server.port == 9001
    assert load_config(path, environ={}).server.port == 9000
    assert load_config(environ={}).server.port == 8080


def test_env_override_without_any_file() -> None:
    config = load_config(environ={"COVENANT_ENGINES__LOKI__URL": "http://loki:3100"})
    assert config.engines.loki.url == "http://loki:3100"


def test_env_values_are_yaml_scalars() -> None:
    config = load_config(
        environ={
            "COVENANT_SERVER__PORT": "9001",
            "COVENANT_SERVER__HEALTH_TIMEOUT_S": "0.25",
            "COVENANT_STACK__INSTALL_MISSING_PACKAGES": "false",
            "COVENANT_STACK__ENGINES": "[postgres, kafka]",
            "COVENANT_LOG_LEVEL": "warning",
        }
    )
    assert config.server.port == 9001
    assert isinstance(config.server.port, int)
    assert config.server.health_timeout_s == 0.25
    assert config.stack.install_missing_packages is False
    assert config.stack.engines == ("postgres", "kafka")
    assert config.log_level == "warning"


def test_env_value_that_looks_like_a_mapping_stays_a_string() -> None:
    config = load_config(environ={"COVENANT_ENGINES__GRAFANA__USERNAME": "team: ops"})
    assert config.engines.grafana.username == "team: ops"


def test_non_covenant_env_vars_are_ignored() -> None:
    config = load_config(environ={"SERVER__PORT": "1", "PORT": "2", "COVENANTX": "3"})
    assert config.server.port == 8080


# --- ${VAR} interpolation -------------------------------------------------------------------


def test_interpolation_from_the_environment(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conf.yaml",
        """\
engines:
  loki:
    url: http://${LOKI_HOST}:3100
  grafana:
    url: ${GRAFANA_URL:-http://grafana:3000}
  prometheus:
    url: ${PROM_URL:-http://unused:1}
  alertmanager:
    url: "http://am/$${NOT_A_VAR}"
""",
    )
    env = {"LOKI_HOST": "loki.internal", "PROM_URL": "http://prom:9090"}
    config = load_config(path, environ=env)
    assert config.engines.loki.url == "http://loki.internal:3100"
    assert config.engines.grafana.url == "http://grafana:3000"  # default used
    assert config.engines.prometheus.url == "http://prom:9090"  # set value beats default
    assert config.engines.alertmanager.url == "http://am/${NOT_A_VAR}"  # $${ escape


def test_interpolated_value_is_validated_as_its_field(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "server:\n  port: ${PORT:-7005}\n")
    assert load_config(path, environ={}).server.port == 7005
    assert load_config(path, environ={"PORT": "7006"}).server.port == 7006


def test_interpolation_inside_lists(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "stack:\n  engines:\n    - ${FIRST}\n    - kafka\n")
    config = load_config(path, environ={"FIRST": "postgres"})
    assert config.stack.engines == ("postgres", "kafka")


def test_missing_variable_names_file_line_and_key_path(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conf.yaml",
        "server:\n  port: 9000\nengines:\n  loki:\n    url: ${LOKI_URL}\n",
    )
    error = _config_error(path, environ={})
    message = str(error)
    assert f"{path}:5" in message
    assert "engines.loki.url" in message
    assert "LOKI_URL" in message
    assert error.key == "engines.loki.url"


def test_missing_variable_in_a_list_item(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "stack:\n  engines:\n    - kafka\n    - ${SECOND}\n")
    message = str(_config_error(path, environ={}))
    assert f"{path}:4" in message
    assert "stack.engines[1]" in message


# --- errors ---------------------------------------------------------------------------------


def test_malformed_yaml_names_file_and_line(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "server:\n  port: 8080\n  host: [unclosed\nstack: {}\n")
    error = _config_error(path, environ={})
    assert f"{path}:4" in str(error)
    assert "invalid YAML" in str(error)


def test_wrong_type_names_file_line_key_and_expectation(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", 'log_level: info\nserver:\n  port: "abc"\n')
    message = str(_config_error(path, environ={}))
    assert f"{path}:3" in message
    assert "server.port" in message
    assert "valid integer" in message


def test_every_problem_is_reported(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "conf.yaml",
        "server:\n  port: abc\nstack:\n  ready_timeout_s: -1\n",
    )
    message = str(_config_error(path, environ={}))
    assert f"{path}:2: server.port" in message
    assert f"{path}:4: stack.ready_timeout_s" in message


def test_out_of_range_value(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "server:\n  port: 70000\n")
    message = str(_config_error(path, environ={}))
    assert f"{path}:2" in message
    assert "server.port" in message
    assert "65535" in message


def test_unknown_key_names_its_path(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "server:\n  port: 1\nengines:\n  loki:\n    uri: x\n")
    message = str(_config_error(path, environ={}))
    assert "unknown key" in message
    assert "engines.loki.uri" in message
    assert f"{path}:5" in message


def test_unknown_top_level_section(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "servers:\n  port: 1\n")
    message = str(_config_error(path, environ={}))
    assert "unknown key" in message
    assert f"{path}:1: servers" in message


def test_bad_env_override_names_the_variable(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "server:\n  port: 9000\n")
    message = str(_config_error(path, environ={"COVENANT_SERVER__PORT": "not-a-port"}))
    assert "COVENANT_SERVER__PORT" in message
    assert "server.port" in message
    assert "valid integer" in message
    assert f"{path}:2" not in message  # the bad value did not come from the file


def test_unknown_key_from_env_names_the_variable() -> None:
    message = str(_config_error(environ={"COVENANT_SERVER__PROT": "1"}))
    assert "COVENANT_SERVER__PROT" in message
    assert "server.prot" in message
    assert "unknown key" in message


def test_env_override_nesting_under_a_scalar() -> None:
    message = str(_config_error(environ={"COVENANT_SERVER__PORT__X": "1"}))
    assert "COVENANT_SERVER__PORT__X" in message
    assert "server.port" in message


def test_malformed_env_override_name() -> None:
    message = str(_config_error(environ={"COVENANT_SERVER____PORT": "1"}))
    assert "COVENANT_SERVER____PORT" in message


def test_bad_explicit_override_names_the_argument() -> None:
    message = str(_config_error(environ={}, overrides={"server.port": "x"}))
    assert "server.port" in message
    assert "argument" in message


def test_secret_values_are_not_echoed_in_errors(tmp_path: Path) -> None:
    path = _write(tmp_path / "conf.yaml", "engines:\n  loki:\n    url: [hunter2]\n")
    message = str(_config_error(path, environ={}))
    assert "engines.loki.url" in message
    assert "hunter2" not in message


@pytest.mark.parametrize("text", ["- a\n- b\n", "just a string\n", "42\n"])
def test_top_level_must_be_a_mapping(tmp_path: Path, text: str) -> None:
    path = _write(tmp_path / "conf.yaml", text)
    message = str(_config_error(path, environ={}))
    assert f"{path}:1" in message
    assert "mapping" in message


# --- render_config --------------------------------------------------------------------------


def _secret_config() -> CovenantConfig:
    return CovenantConfig.model_validate(
        {
            "engines": {
                "postgres": {"url": "postgresql://u:hunter2@db:5432/x"},
                "grafana": {
                    "url": "http://g:3000",
                    "token": "tok-secret",
                    "username": "admin",
                    "password": "pass-secret",
                },
                "loki": {"url": "http://reader:loki-secret@loki:3100"},
            }
        }
    )


def test_render_config_masks_every_secret() -> None:
    text = render_config(_secret_config())
    for secret in ("hunter2", "tok-secret", "pass-secret", "loki-secret"):
        assert secret not in text
    assert "***" in text
    rendered = yaml.safe_load(text)
    assert rendered["engines"]["postgres"]["url"] == "postgresql://u:***@db:5432/x"
    assert rendered["engines"]["grafana"]["token"] == "***"
    assert rendered["engines"]["grafana"]["password"] == "***"
    assert rendered["engines"]["loki"]["url"] == "http://reader:***@loki:3100"
    # What is not secret is shown as is.
    assert rendered["engines"]["grafana"]["url"] == "http://g:3000"
    assert rendered["engines"]["grafana"]["username"] == "admin"


def test_render_config_shows_the_resolved_values() -> None:
    config = CovenantConfig.model_validate(
        {"server": {"port": 9100}, "stack": {"state_dir": "state"}}
    )
    rendered = yaml.safe_load(render_config(config))
    assert rendered["server"]["port"] == 9100
    assert rendered["server"]["host"] == "127.0.0.1"
    assert rendered["stack"]["state_dir"] == "state"
    assert rendered["engines"]["postgres"]["url"] is None
    assert rendered["stack"]["engines"] == list(config.stack.engines)


def test_render_config_masks_a_multi_host_postgres_url() -> None:
    config = CovenantConfig.model_validate(
        {"engines": {"postgres": {"url": "postgresql://u:hunter2@db1:5432,db2:5432/x"}}}
    )
    text = render_config(config)
    assert "hunter2" not in text
    assert "***" in text


def test_all_digit_secret_from_the_environment_stays_a_string() -> None:
    from covenant.kernel.config import load_config

    config = load_config(
        environ={
            "COVENANT_ENGINES__GRAFANA__PASSWORD": "12345",
            "COVENANT_STACK__ENGINES": "[postgres, kafka]",
            "COVENANT_SERVER__PORT": "9001",
        }
    )
    assert config.engines.grafana.password is not None
    assert config.engines.grafana.password.get_secret_value() == "12345"
    assert config.stack.engines == ("postgres", "kafka")
    assert config.server.port == 9001
