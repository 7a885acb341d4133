"""``s3://`` URIs and SageMaker ARNs, as both Lambdas (one asset) read and write them.

Standard library only: local mode imports the planning code that uses it.
"""

from __future__ import annotations

from dataclasses import dataclass


def split_s3_uri(
    uri: str,
    what: str,
    *,
    require_key: bool = False,
    error: type[ValueError] = ValueError,
) -> tuple[str, str]:
    """``s3://bucket/key`` → (bucket, key); ``what`` names the setting in the message."""
    scheme, _, rest = uri.partition("://")
    bucket, _, key = rest.partition("/")
    if scheme != "s3" or not bucket or (require_key and not key.strip("/")):
        expected = "s3://bucket/key" if require_key else "s3://bucket/prefix"
        raise error(f"{what} is {uri!r}; expected {expected}")
    return bucket, key


@dataclass(frozen=True)
class ArnScope:
    """Where an ARN's resource lives: what another resource of the same place needs."""

    partition: str
    region: str
    account: str

    @classmethod
    def of(cls, arn: str) -> ArnScope:
        """``arn:PARTITION:SERVICE:REGION:ACCOUNT:...`` → its partition, region and account."""
        parts = arn.split(":", 5)
        if len(parts) < 6 or parts[0] != "arn" or not parts[1] or not parts[4]:
            raise ValueError(f"{arn!r} is not an ARN; expected arn:aws:SERVICE:REGION:ACCOUNT:...")
        return cls(parts[1], parts[3], parts[4])

    def model_package_arn(self, group: str, version: int) -> str:
        """A model package version's ARN; SageMaker writes the group lower-case in it."""
        return (
            f"arn:{self.partition}:sagemaker:{self.region}:{self.account}:model-package/"
            f"{group.lower()}/{version}"
        )
