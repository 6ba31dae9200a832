"""Which SageMaker instance types carry local NVMe instance storage, and what follows for volume keys.

The SageMaker API refuses a volume key for those types: `ResourceConfig.VolumeKmsKeyId`,
`ProcessingClusterConfig.VolumeKmsKeyId` and `CreateEndpointConfig.KmsKeyId` all say "Certain
Nitro-based instances include local storage ... Local storage volumes are encrypted using a hardware
module on the instance. You can't request a VolumeKmsKeyId when using an instance type with local
storage" (botocore's SageMaker service model, the documentation of those members). The EC2 user guide
says what that hardware encryption is: "The data on NVMe instance storage is encrypted using an
XTS-AES-256 block cipher implemented in a hardware module on the instance ... All encryption keys are
destroyed when the instance is stopped or terminated"
(https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/ssd-instance-store.html).

The families below are the instance families of botocore's `ProcessingInstanceType`,
`TrainingInstanceType` and `ProductionVariantInstanceType` enums, classified from the EC2 instance store
tables (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instance-store-volumes.html, and per family
https://docs.aws.amazon.com/ec2/latest/instancetypes/ "Instance store specifications"). A family in
neither table is refused rather than guessed: a wrong guess either sends a request the API refuses or
leaves an EBS volume without the configured key.
"""

from __future__ import annotations

from functools import cache

# Every size of these families has NVMe instance store volumes.
LOCAL_STORAGE_FAMILIES: frozenset[str] = frozenset({
    "c5d", "c6gd", "m5d", "m6gd", "r5d", "r6gd", "r7gd",     # general purpose / compute / memory, "d" variants
    "g4dn", "g5", "g6", "g6e",                               # GPU
    "p3dn", "p4d", "p4de", "p5", "p5e", "p5en", "p6-b200",   # GPU training
    "dl1", "trn1", "trn1n", "trn2",                          # Gaudi, Trainium
})

# EBS-only families: the job's storage volume is an EBS volume SageMaker encrypts with VolumeKmsKeyId.
EBS_ONLY_FAMILIES: frozenset[str] = frozenset({
    "c4", "c5", "c5n", "c6g", "c6gn", "c6i", "c6in", "c7g", "c7i", "c7i-flex", "c8g", "c8i", "c8i-flex",
    "m4", "m5", "m6g", "m6i", "m7i", "m7i-flex", "m8g", "m8i", "m8i-flex",
    "r5", "r6g", "r6i", "r7i", "r8g", "r8i", "r8i-flex",
    "t2", "t3", "p2", "p3", "inf1", "inf2",
})

# Which botocore enum lists the instance types each kind of request accepts.
ENUM_OF_KIND = {
    "processing": "ProcessingInstanceType",
    "training": "TrainingInstanceType",
    "endpoint": "ProductionVariantInstanceType",
}


class UnknownInstanceFamily(ValueError):
    """An instance family this table does not classify."""


def family(instance_type: str) -> str:
    """`ml.m5d.xlarge` → `m5d`."""
    parts = instance_type.split(".")
    if len(parts) != 3 or parts[0] != "ml":
        raise ValueError(f"{instance_type}: not a SageMaker instance type (ml.<family>.<size>)")
    return parts[1]


def has_local_storage(instance_type: str) -> bool:
    """True for instance types with NVMe instance storage (no volume key allowed); False for EBS-only ones."""
    name = family(instance_type)
    if name in LOCAL_STORAGE_FAMILIES:
        return True
    if name in EBS_ONLY_FAMILIES:
        return False
    raise UnknownInstanceFamily(
        f"{instance_type}: privml does not know whether the {name} family has local instance storage "
        "(pipelines/instance_storage.py classifies the families it knows)"
    )


@cache
def accepted_types(kind: str) -> frozenset[str]:
    """The instance types the SageMaker API accepts for a kind of request (from botocore's service model)."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return frozenset(model.shape_for(ENUM_OF_KIND[kind]).enum)


def check_instance_type(kind: str, instance_type: str) -> None:
    """Raise ValueError naming the problem when the API would refuse the type or privml cannot classify it."""
    if instance_type == "local":  # the SageMaker SDK's local mode
        return
    if instance_type not in accepted_types(kind):
        raise ValueError(f"{instance_type} is not an instance type SageMaker accepts for {kind} (botocore's "
                         f"{ENUM_OF_KIND[kind]} enum)")
    has_local_storage(instance_type)


def volume_key_for(instance_type: str, key: str | None) -> str | None:
    """The volume key to request for an instance type: none for local-storage types (hardware-encrypted)."""
    if instance_type == "local" or key is None:
        return key
    return None if has_local_storage(instance_type) else key
