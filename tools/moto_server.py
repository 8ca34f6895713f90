"""Runs moto's server with Secrets Manager made to behave as AWS does.

moto 5.2.1 is laxer than AWS in ways that would let devicepass's tests pass
against code that fails in AWS. Each fix below names the AWS behaviour it
restores; shared/devtools/standins/motofixes_test.go pins every one against the running
server.

1. GetSecretValue without VersionId or VersionStage answers AWSCURRENT.
   moto answers the version it last made current through CreateSecret or
   PutSecretValue, and UpdateSecretVersionStage does not update that when it
   moves AWSCURRENT, so a consumer would read a retired password after a
   regenerate or a rotation.
2. DescribeSecret's VersionIdsToStages and ListSecrets'
   SecretVersionsToStages list only versions that have a staging label; AWS
   calls the others deprecated and leaves them out.
3. PutSecretValue with a ClientRequestToken that names an existing version
   is idempotent for the same value and refused (ResourceExistsException)
   for another. moto overwrites a version labelled AWSPENDING. The one
   version AWS lets a caller fill is the value-less AWSPENDING placeholder
   that Secrets Manager makes when it starts a rotation.
4. PutSecretValue and UpdateSecretVersionStage on a secret marked for
   deletion are refused (InvalidRequestException); moto accepts them.
5. RotateSecret never runs moto's rotation, which makes a copy of the value
   current without calling any function. As AWS does, it records the
   rotation function and rules (DescribeSecret then shows RotationEnabled,
   RotationLambdaARN and RotationRules as given), refuses while another
   rotation is incomplete (AWSPENDING on a version that is not AWSCURRENT),
   and invokes the rotation function through the Lambda Invoke API:
   - RotateImmediately=false (the rotation configuration test): a version
     of Secrets Manager's own under a new token, holding a copy of the
     current value and labelled AWSPENDING; testSecret alone; then the label
     is removed.
   - otherwise (a rotation now): a value-less AWSPENDING placeholder under
     the token, then createSecret, setSecret, testSecret and finishSecret,
     stopping at the first failure.
   The invocations run before RotateSecret answers, so that tests see their
   outcome without waiting; their failure does not fail RotateSecret, whose
   rotation runs asynchronously in AWS. When the function answers an
   error, the server prints it. Scheduled rotations are not run here: the
   local runner's scheduler reads the policy from the table.

Lambda functions are not run by moto either. A process that serves one
(the local runner, or the Lambda Runtime Interface Emulator running a built
function) registers where it listens:

    POST /_devicepass/lambda-functions
    {"FunctionArn": "arn:aws:lambda:...:function:NAME",
     "InvokeURL": "http://127.0.0.1:PORT/2015-03-31/functions/function/invocations"}

RotateSecret naming a function that nobody registered is refused as AWS
refuses a function it cannot invoke (AccessDeniedException).
"""

import json
import re
import sys
import threading
import time
import urllib.request
import uuid

from moto.core.exceptions import JsonRESTError
from moto.secretsmanager import models
from moto.secretsmanager.exceptions import (
    InvalidParameterException,
    InvalidRequestException,
    ResourceExistsException,
    SecretNotFoundException,
)
from moto.server import main

Backend = models.SecretsManagerBackend
FakeSecret = models.FakeSecret

DELETED = "You can't perform this operation on the secret because it was marked for deletion."

# --- 1. GetSecretValue answers AWSCURRENT -----------------------------------

_update_stage = Backend.update_secret_version_stage


def _update_stage_fixed(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    # 4. label changes on a secret marked for deletion
    if secret_id in self.secrets and self.secrets[secret_id].is_deleted():
        raise InvalidRequestException(DELETED)
    result = _update_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return result


Backend.update_secret_version_stage = _update_stage_fixed

# --- 2. versions without a label are left out ---------------------------------


def _labelled_versions(self):
    return {v: list(ver["version_stages"]) for v, ver in self.versions.items() if ver["version_stages"]}


FakeSecret._form_version_ids_to_stages = _labelled_versions

# --- 3. a reused ClientRequestToken with other data ---------------------------

_check_existing = Backend._check_with_existing_secrets_and_versions


def _has_value(version):
    return "secret_string" in version or "secret_binary" in version


def _check_existing_fixed(self, secret_name, client_request_token, secret_string, secret_binary, on_create=False):
    if client_request_token and secret_name in self.secrets:
        existing = self.secrets[secret_name]
        version = existing.versions.get(client_request_token)
        if version is not None and _has_value(version):
            if version.get("secret_string") == secret_string and version.get("secret_binary") == secret_binary:
                return existing
            raise ResourceExistsException(
                f"You can't use ClientRequestToken {client_request_token} because that value is already in use "
                f"for a version of secret {existing.arn}."
            )
    return _check_existing(self, secret_name, client_request_token, secret_string, secret_binary, on_create)


Backend._check_with_existing_secrets_and_versions = _check_existing_fixed

# --- 4. PutSecretValue on a secret marked for deletion ------------------------

_put_value = Backend.put_secret_value


def _put_value_fixed(self, secret_id, secret_string, secret_binary, client_request_token, version_stages):
    if secret_id in self.secrets and self.secrets[secret_id].is_deleted():
        raise InvalidRequestException(DELETED)
    return _put_value(self, secret_id, secret_string, secret_binary, client_request_token, version_stages)


Backend.put_secret_value = _put_value_fixed

# --- 5. RotateSecret ----------------------------------------------------------


class AccessDeniedException(JsonRESTError):
    code = 400

    def __init__(self, message):
        super().__init__("AccessDeniedException", message)


_functions = {}  # function ARN -> Invoke URL
_functions_lock = threading.Lock()

_RATE = re.compile(r"^rate\((\d+) (hour|hours|day|days)\)$")
_CRON = re.compile(r"^cron\([^()]+\)$")
_DURATION = re.compile(r"^(\d{1,2})h$")


def _rules(rules):
    """Validates RotationRules as AWS does and returns what DescribeSecret shows."""
    out = {}
    days = rules.get("AutomaticallyAfterDays")
    expr = rules.get("ScheduleExpression")
    duration = rules.get("Duration")
    if days is not None and expr is not None:
        raise InvalidParameterException("You can't specify both AutomaticallyAfterDays and ScheduleExpression.")
    if days is not None:
        if not 1 <= int(days) <= 1000:
            raise InvalidParameterException("RotationRules.AutomaticallyAfterDays must be within 1-1000.")
        out["AutomaticallyAfterDays"] = int(days)
    if expr is not None:
        m = _RATE.match(expr)
        if m:
            n, unit = int(m.group(1)), m.group(2)
            if unit.startswith("hour") and not 4 <= n <= 23 or unit.startswith("day") and not 1 <= n <= 999:
                raise InvalidParameterException(f"The schedule expression {expr} is out of range.")
        elif not _CRON.match(expr):
            raise InvalidParameterException(f"The schedule expression {expr} is not a valid rate() or cron() expression.")
        out["ScheduleExpression"] = expr
    if duration is not None:
        m = _DURATION.match(duration)
        if not m or not 1 <= int(m.group(1)) <= 24:
            raise InvalidParameterException("RotationRules.Duration must be between 1h and 24h.")
        out["Duration"] = duration
    return out


def _invoke(function_arn, url, event):
    """Invokes a function through the Lambda Invoke API; returns the error it answered, or None."""
    req = urllib.request.Request(url, data=json.dumps(event).encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            body = resp.read().decode(errors="replace")
            failed = resp.headers.get("X-Amz-Function-Error")
    except Exception as e:  # the function is unreachable: a failed invocation
        return f"invoke {function_arn}: {e}"
    try:
        doc = json.loads(body) if body else None
    except ValueError:
        doc = None
    if failed or (isinstance(doc, dict) and "errorMessage" in doc):
        return doc.get("errorMessage", body) if isinstance(doc, dict) else body
    return None


def _run_steps(secret, function_arn, url, token, steps):
    for step in steps:
        event = {"Step": step, "SecretId": secret.arn, "ClientRequestToken": token,
                 "RotationToken": str(uuid.uuid4())}
        err = _invoke(function_arn, url, event)
        if err is not None:
            print(f"devicepass stand-in: {step} of {secret.name} version {token} failed: {err}", flush=True)
            return False
        print(f"devicepass stand-in: {step} of {secret.name} version {token} succeeded", flush=True)
    return True


def _rotate_secret(self, secret_id, client_request_token=None, rotation_lambda_arn=None,
                   rotation_rules=None, rotate_immediately=True):
    if not self._is_valid_identifier(secret_id):
        raise SecretNotFoundException()
    secret = self.secrets[secret_id]
    if not isinstance(secret, FakeSecret):
        raise InvalidParameterException("Operation not permitted on a replica secret.")
    if secret.is_deleted():
        raise InvalidRequestException(DELETED)
    function_arn = rotation_lambda_arn or secret.rotation_lambda_arn
    if not function_arn:
        raise InvalidRequestException(
            "No Lambda rotation function ARN is associated with this secret, and you didn't include one.")
    # Without rules, the ones recorded before (none: a rotation without a schedule).
    rules = _rules(rotation_rules) if rotation_rules else (getattr(secret, "devicepass_rules", None) or {})
    for ver in secret.versions.values():
        if "AWSPENDING" in ver["version_stages"] and "AWSCURRENT" not in ver["version_stages"]:
            raise InvalidRequestException("A previous rotation isn't complete. That rotation will be reattempted.")
    with _functions_lock:
        url = _functions.get(function_arn)
    if url is None:
        raise AccessDeniedException(
            "Secrets Manager cannot invoke the specified Lambda function. Ensure that the function policy "
            "grants access to the principal secretsmanager.amazonaws.com.")
    token = client_request_token or str(uuid.uuid4())
    self._client_request_token_validator(token)
    if token in secret.versions:
        raise ResourceExistsException(f"You can't use ClientRequestToken {token} because that value is already in use.")

    secret.rotation_requested = True
    secret.rotation_enabled = True
    secret.rotation_lambda_arn = function_arn
    secret.devicepass_rules = rules
    secret.auto_rotate_after_days = rules.get("AutomaticallyAfterDays", 0)

    version = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}
    if rotate_immediately:
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = version
        if _run_steps(secret, function_arn, url, token,
                      ["createSecret", "setSecret", "testSecret", "finishSecret"]):
            secret.last_rotation_date = int(time.time())
    else:
        current = secret.versions.get(secret.default_version_id)
        if current is not None:
            for key in ("secret_string", "secret_binary"):
                if key in current:
                    version[key] = current[key]
        secret.remove_version_stages_from_old_versions(["AWSPENDING"])
        secret.versions[token] = version
        _run_steps(secret, function_arn, url, token, ["testSecret"])
        stages = secret.versions[token]["version_stages"]
        if "AWSPENDING" in stages:
            stages.remove("AWSPENDING")
    return json.dumps({"ARN": secret.arn, "Name": secret.name, "VersionId": token})


Backend.rotate_secret = _rotate_secret

_to_dict = FakeSecret.to_dict


def _to_dict_fixed(self):
    dct = _to_dict(self)
    rules = getattr(self, "devicepass_rules", None)
    if self.rotation_requested and rules is not None:
        dct["RotationRules"] = dict(rules)
        if not self.last_rotation_date:
            dct.pop("LastRotatedDate", None)
    return dct


FakeSecret.to_dict = _to_dict_fixed

# --- the registry of rotation functions ---------------------------------------

REGISTRY_PATH = "/_devicepass/lambda-functions"


def _with_registry(app):
    def wsgi(environ, start_response):
        if environ.get("PATH_INFO") != REGISTRY_PATH:
            return app(environ, start_response)
        if environ.get("REQUEST_METHOD") != "POST":
            start_response("405 Method Not Allowed", [("Content-Type", "text/plain")])
            return [b"POST only\n"]
        try:
            size = int(environ.get("CONTENT_LENGTH") or 0)
            doc = json.loads(environ["wsgi.input"].read(size))
            arn, url = doc["FunctionArn"], doc["InvokeURL"]
            if not (isinstance(arn, str) and arn.startswith("arn:") and isinstance(url, str)
                    and url.startswith("http://")):
                raise ValueError("FunctionArn must be an ARN and InvokeURL an http:// URL")
        except (ValueError, KeyError, TypeError) as e:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [f"{e}\n".encode()]
        with _functions_lock:
            _functions[arn] = url
        start_response("204 No Content", [])
        return [b""]

    return wsgi


def _run_simple_with_registry(host, port, application, **kwargs):
    return _run_simple(host, port, _with_registry(application), **kwargs)


import moto.server as _server  # noqa: E402

_run_simple = _server.run_simple
_server.run_simple = _run_simple_with_registry

if __name__ == "__main__":
    sys.exit(main())
