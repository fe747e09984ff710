"""Earth Engine connection: sources, plain messages, and that key material never leaks.

Offline: ``ee.apitestcase`` provides the algorithm list that ``ee.Initialize`` fetches; token
refreshes (the HTTP boundary of google-auth) are faked.
"""

from __future__ import annotations

import json
import logging
import threading

import pytest

ee = pytest.importorskip("ee")
from ee import apitestcase  # noqa: E402

from urbanseg_core.errors import EarthEngineError  # noqa: E402
from urbanseg_core.gee import auth  # noqa: E402
from urbanseg_core.gee.errors import diagnose, scrub  # noqa: E402

pytestmark = pytest.mark.gee


@pytest.fixture(scope="module")
def key_info() -> dict:
    """A real (throwaway) RSA service-account key, so google-auth parses it for real."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    return {"type": "service_account", "project_id": "key-project",
            "private_key_id": "0123456789abcdef0123456789abcdef01234567",
            "private_key": pem, "client_email": "urbanseg@key-project.iam.gserviceaccount.com",
            "client_id": "123", "token_uri": "https://oauth2.googleapis.com/token"}


def secret_fragments(info: dict) -> list[str]:
    """Pieces of the key that must never appear anywhere: its id and chunks of the PEM body."""
    body = "".join(info["private_key"].splitlines()[1:-1])
    return [info["private_key_id"], body[:40], body[200:240], body[-40:]]


@pytest.fixture
def ee_api(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))  # no real ~/.config/earthengine
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    monkeypatch.delenv("CLOUDSDK_CONFIG", raising=False)
    case = apitestcase.ApiTestCase()
    case.setUp()
    ee.Reset()  # start disconnected; ee.Initialize must run again
    try:
        yield case
    finally:
        case.tearDown()


def assert_no_leak(info, *texts):
    for text in texts:
        for frag in secret_fragments(info):
            assert frag not in text


def test_gee_service_account_from_secrets_connects_without_leaking(ee_api, key_info, caplog):
    caplog.set_level(logging.DEBUG)
    secrets = {"gee": {"service_account_key": json.dumps(key_info), "project": "my-project"}}
    conn = auth.connect(secrets, env={})
    assert conn.connected and conn.project == "my-project"
    assert conn.message == "Connected to Earth Engine project my-project"
    assert conn.method == "service account"
    assert conn.account == key_info["client_email"]
    assert ee.data.is_initialized()
    assert ee.data._get_state().cloud_api_user_project == "my-project"
    assert_no_leak(key_info, repr(conn), str(conn.__dict__), caplog.text)


def test_gee_service_account_file_from_env_and_toml_table(ee_api, key_info, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    path = tmp_path / "sa.json"
    path.write_text(json.dumps(key_info))
    conn = auth.connect(None, env={"EE_SERVICE_ACCOUNT_KEY": str(path)})
    assert conn.connected and conn.project == "key-project"  # the key's own project
    ee.Reset()
    conn = auth.connect({"gee": {"service_account_key": dict(key_info)}},
                        env={"EE_PROJECT": "env-project"})
    assert conn.connected and conn.project == "env-project"
    assert_no_leak(key_info, repr(conn), caplog.text)


@pytest.mark.parametrize("mangle", ["truncated", "bad_pem", "not_a_path", "wrong_type"])
def test_gee_bad_keys_give_plain_messages_without_key_material(ee_api, key_info, caplog, mangle):
    caplog.set_level(logging.DEBUG)
    text = json.dumps(key_info)
    value = {
        "truncated": text[: len(text) // 2],
        "bad_pem": json.dumps({**key_info, "private_key": key_info["private_key"][:600]}),
        "not_a_path": key_info["private_key"],
        "wrong_type": json.dumps({**key_info, "type": "authorized_user"}),
    }[mangle]
    conn = auth.connect({"gee": {"service_account_key": value}}, env={})
    assert not conn.connected and conn.project is None
    assert conn.message.startswith("Not connected:")
    assert "secrets [gee] service_account_key" in conn.message
    assert_no_leak(key_info, conn.message, repr(conn), caplog.text)
    assert not ee.data.is_initialized()


def test_gee_no_credentials_says_how_to_connect(ee_api):
    conn = auth.connect({}, env={})
    assert not conn.connected
    assert conn.message.startswith("Not connected: no Earth Engine credentials were found")
    assert "earthengine authenticate" in conn.message and "EE_PROJECT" in conn.message
    with pytest.raises(EarthEngineError, match="Not connected to Earth Engine"):
        auth.require_initialized()


def test_gee_expired_user_credentials_are_plain(ee_api, tmp_path, monkeypatch):
    """`earthengine authenticate` left a refresh token that Google now refuses."""
    import google.auth.exceptions
    import google.oauth2.credentials

    creds = tmp_path / ".config" / "earthengine" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({"refresh_token": "1//fake-refresh-token-0123456789abcdef",
                                 "project": "user-project"}))

    def refuse(self, request):
        raise google.auth.exceptions.RefreshError(
            "invalid_grant: Token has been expired or revoked.")

    monkeypatch.setattr(google.oauth2.credentials.Credentials, "refresh", refuse)
    conn = auth.connect(None, env={})
    assert not conn.connected
    assert "expired or revoked" in conn.message and "earthengine authenticate" in conn.message
    assert "fake-refresh-token" not in conn.message


def test_gee_valid_user_credentials_and_initialise_failure(ee_api, tmp_path, monkeypatch):
    import google.auth.exceptions
    import google.oauth2.credentials

    creds = tmp_path / ".config" / "earthengine" / "credentials"
    creds.parent.mkdir(parents=True)
    creds.write_text(json.dumps({"refresh_token": "1//tok", "project": "user-project"}))
    monkeypatch.setattr(google.oauth2.credentials.Credentials, "refresh",
                        lambda self, request: None)
    conn = auth.connect(None, env={})
    assert conn.connected and conn.project == "user-project"
    assert conn.method == "user credentials"
    # the connection check itself refused (token revoked between refresh and first call)
    ee.Reset()

    def refused():
        raise google.auth.exceptions.RefreshError("invalid_grant: Token has been revoked.")

    monkeypatch.setattr(ee.data, "getAlgorithms", refused)
    conn = auth.connect(None, env={"EE_PROJECT": "other"})
    assert not conn.connected and "expired or revoked" in conn.message
    # a project not registered for Earth Engine
    ee.Reset()
    monkeypatch.setattr(ee.data, "getAlgorithms", lambda: (_ for _ in ()).throw(
        ee.EEException("Caller does not have required permission to use project other.")))
    conn = auth.connect(None, env={"EE_PROJECT": "other"})
    assert not conn.connected and "registered for Earth Engine" in conn.message


def test_gee_diagnose_and_scrub(key_info):
    leaky = Exception("bad key " + key_info["private_key"] + " id " + key_info["private_key_id"])
    diag = diagnose(leaky)
    assert_no_leak(key_info, diag.message, scrub(str(leaky)))
    assert diagnose(ee.EEException("Quota exceeded for quota metric")).kind == "quota"
    assert diagnose(ee.EEException("Too many concurrent aggregations.")).retryable
    assert diagnose(TimeoutError("timed out")).retryable
    assert not diagnose(ee.EEException("User memory limit exceeded.")).retryable
    assert diagnose(ee.EEException("Please authorize access to your Earth Engine account")
                    ).kind == "auth"


def test_gee_secrets_file_example_parses(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parents[2] / ".streamlit" / "secrets.toml.example"
    data = auth.load_secrets_file(example)
    assert set(data["gee"]) >= {"project", "service_account_key"}
    assert auth.load_secrets_file(tmp_path / "missing.toml") == {}
    bad = tmp_path / "bad.toml"
    bad.write_text("[gee\nproject = ")
    with pytest.raises(EarthEngineError, match="not valid TOML"):
        auth.load_secrets_file(bad)


def test_connect_within_gives_up_waiting_with_a_plain_message(monkeypatch):
    release = threading.Event()
    monkeypatch.setattr(auth, "connect", lambda secrets=None, env=None: release.wait(30))
    conn = auth.connect_within(0.3)  # returns while the check still hangs (until released)
    release.set()
    assert not conn.connected and "did not answer within 0.3 s" in conn.message
