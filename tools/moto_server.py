"""Runs moto's server, with fixes that make it behave as AWS does.

moto 5.2.1's GetSecretValue without VersionId or VersionStage answers the
version it last made current through CreateSecret or PutSecretValue, and
UpdateSecretVersionStage does not update that when it moves AWSCURRENT. AWS
always answers the AWSCURRENT version. devicepass moves AWSCURRENT with
UpdateSecretVersionStage (a compare-and-swap), so without this fix a
consumer running `aws secretsmanager get-secret-value --secret-id ...`
locally would read a retired password after a regenerate or a rotation.

moto 5.2.1 also lets PutSecretValue and UpdateSecretVersionStage change a
secret that is scheduled for deletion. AWS refuses both with
InvalidRequestException ("You can't perform this operation on the secret
because it was marked for deletion."), the answer devicepass must handle
when a secret is deleted behind its back.
"""

import sys

from moto.secretsmanager import models
from moto.secretsmanager.exceptions import InvalidRequestException
from moto.server import main

_update_stage = models.SecretsManagerBackend.update_secret_version_stage


def _update_stage_fixed(self, secret_id, version_stage, remove_from_version_id, move_to_version_id):
    result = _update_stage(self, secret_id, version_stage, remove_from_version_id, move_to_version_id)
    if version_stage == "AWSCURRENT" and move_to_version_id:
        self.secrets[secret_id].set_default_version_id(move_to_version_id)
    return result


models.SecretsManagerBackend.update_secret_version_stage = _update_stage_fixed


def _refuse_if_deleted(method):
    def refusing(self, secret_id, *args, **kwargs):
        if self._is_valid_identifier(secret_id) and self.secrets[secret_id].is_deleted():
            raise InvalidRequestException(
                "You can't perform this operation on the secret because it was marked for deletion."
            )
        return method(self, secret_id, *args, **kwargs)

    return refusing


models.SecretsManagerBackend.put_secret_value = _refuse_if_deleted(models.SecretsManagerBackend.put_secret_value)
models.SecretsManagerBackend.update_secret_version_stage = _refuse_if_deleted(
    models.SecretsManagerBackend.update_secret_version_stage
)

if __name__ == "__main__":
    sys.exit(main())
