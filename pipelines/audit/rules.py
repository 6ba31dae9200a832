"""The audit rules: stable ids, a severity, a fix hint and the counterpart in other tools.

AWS Config and Checkov have no rules for processing or training jobs; where a counterpart exists for
a neighbouring resource (a model, an endpoint config) or in Steampipe/Prowler, it is named.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: str  # "high" | "medium" | "warning" (a warning is reported but does not fail the audit)
    fix: str
    counterparts: dict[str, str] = field(default_factory=dict)

    @property
    def blocking(self) -> bool:
        return self.severity != "warning"


RULES: dict[str, Rule] = {
    rule.id: rule
    for rule in (
        Rule(
            "PRIVML-JOB-001",
            "job storage volume is not encrypted with a KMS key",
            "high",
            "set VolumeKmsKeyId (ScriptProcessor volume_kms_key / Compute(volume_kms_key_id=...))",
            {"prowler": "sagemaker_training_jobs_volume_and_output_encryption_enabled"},
        ),
        Rule(
            "PRIVML-JOB-002",
            "job output is not encrypted with a KMS key",
            "high",
            "set the output KmsKeyId (ScriptProcessor output_kms_key / OutputDataConfig(kms_key_id=...))",
            {"prowler": "sagemaker_training_jobs_volume_and_output_encryption_enabled"},
        ),
        Rule(
            "PRIVML-JOB-003",
            "network isolation is off",
            "high",
            "set EnableNetworkIsolation: true (NetworkConfig / Networking / CreateModel)",
            {
                "aws_config": "SAGEMAKER_MODEL_ISOLATION_ENABLED (models only)",
                "prowler": (
                    "sagemaker_training_jobs_network_isolation_enabled, sagemaker_models_network_isolation_enabled"
                ),
            },
        ),
        Rule(
            "PRIVML-JOB-004",
            "no VPC configuration (subnets and security groups)",
            "medium",
            "set VpcConfig with private subnets and security groups (config: network.subnets, "
            "network.security_group_ids)",
            {
                "aws_config": "SAGEMAKER_MODEL_IN_VPC (models only)",
                "steampipe": "sagemaker_training_jobs_vpc_settings_enabled (training jobs)",
            },
        ),
        Rule(
            "PRIVML-JOB-005",
            "inter-container traffic is not encrypted",
            "medium",
            "set EnableInterContainerTrafficEncryption: true",
            {"prowler": "sagemaker_training_jobs_intercontainer_encryption_enabled"},
        ),
        Rule(
            "PRIVML-JOB-006",
            "the job's instance type and volume key are a pair the SageMaker API refuses, or the type is unknown",
            "high",
            "instance types with local NVMe storage (ml.m5d, ml.g4dn, ml.p4d, ...) take no VolumeKmsKeyId (their "
            "instance store is hardware-encrypted); EBS-only types need one: set instances.<job>.type in the "
            "config and rebuild rather than overriding the type parameter",
        ),
        Rule(
            "PRIVML-JOB-007",
            "more than one instance for a job whose inputs are all fully replicated",
            "high",
            "use InstanceCount 1 (instances.<job>.count): every instance would write the same output names",
        ),
        Rule(
            "PRIVML-EP-001",
            "endpoint config has no KmsKeyId for its storage volume",
            "high",
            "set KmsKeyId on the endpoint config (config: kms.endpoint)",
            {
                "aws_config": "SAGEMAKER_ENDPOINT_CONFIGURATION_KMS_KEY_CONFIGURED",
                "checkov": "CKV_AWS_98",
                "steampipe": "sagemaker_endpoint_configuration_encryption_at_rest_enabled",
            },
        ),
        Rule(
            "PRIVML-EP-002",
            "captured endpoint data is not encrypted with a KMS key",
            "high",
            "set DataCaptureConfig.KmsKeyId (config: kms.capture)",
        ),
        Rule(
            "PRIVML-EP-004",
            "endpoint config sets KmsKeyId for an instance type with local NVMe storage",
            "high",
            "leave KmsKeyId out for those types (CreateEndpointConfig refuses it; the instance store is "
            "hardware-encrypted)",
        ),
        Rule(
            "PRIVML-EP-003",
            "data capture records request bodies, which carry personal data before the privacy transform",
            "warning",
            "capture outputs only (CaptureOptions: [{CaptureMode: Output}]; config: capture.capture_inputs: false)",
        ),
        Rule(
            "PRIVML-URI-001",
            "plaintext http:// URI",
            "high",
            "use https:// or s3:// (TLS)",
        ),
        Rule(
            "PRIVML-SEC-001",
            "secret-looking value in environment variables or hyperparameters",
            "high",
            "pass secrets through KMS-encrypted inputs or Secrets Manager, never in the job request",
            {"checkov": "CKV_SECRET_* (secrets scanning of templates)"},
        ),
        Rule(
            "PRIVML-S3-001",
            "S3 URI outside the configured bucket",
            "high",
            "keep every input and output under s3://<bucket>/ of the config (its bucket policy enforces "
            "TLS and SSE-KMS)",
        ),
    )
}
