"""A moto server on 127.0.0.1 stands in for AWS: no real account can be used here. The suite starts it on a
free port, points boto3 at it with AWS_ENDPOINT_URL and dummy credentials (only inside each test's
environment), resets its state before every test, and stops it by its process group at the end."""

from __future__ import annotations

import httpx
import pytest
from aws_world import REGION
from moto_server import moto_server

from harness import safety


@pytest.fixture(scope="session")
def moto_url(tmp_path_factory):
    with moto_server(tmp_path_factory.mktemp("moto")) as url:
        yield url


@pytest.fixture
def aws(moto_url, monkeypatch, tmp_path):
    """A clean moto state and an environment where boto3's normal chain finds dummy credentials."""
    import boto3

    httpx.post(f"{moto_url}/moto-api/reset", timeout=10).raise_for_status()
    for var in (
        "AWS_PROFILE",
        "AWS_SESSION_TOKEN",
        "AWS_SECURITY_TOKEN",
        "AWS_ROLE_ARN",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_url)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-aws-config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-aws-credentials"))
    monkeypatch.setenv("DRILL_STATE_DIR", str(tmp_path / "state"))  # the intent log the AWS faults write
    boto3.DEFAULT_SESSION = None
    safety.forget()
    yield boto3.session.Session(region_name=REGION)
    boto3.DEFAULT_SESSION = None
    safety.forget()
