"""The SageMaker Pipeline definition, built with the SDK v3, every control on.

[PrepareKeys (processing, the key-preparation path: pipelines/key_preparation.py)] → Anonymize
(processing) → Train (training) → Evaluate (processing, property file `EvaluationReport`) → Gates
(condition: `gates.passed`, the quality gate against the baseline AND the privacy gates, membership
audit included) → CreateModel, else Fail with the reason.
Every job: KMS volume key (or, on instance types with local NVMe storage, the hardware-encrypted instance
store), KMS output key, a VPC, inter-container encryption, and network isolation except PrepareKeys (its
own role, KMS only, no data). Every step names its key provider. No experiment config.

The build needs no AWS: it runs under moto (see sdk_env.py).
"""

from __future__ import annotations

import json
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pipelines import key_preparation as keyprep
from pipelines import packaging
from pipelines.config import PipelineConfig
from pipelines.instance_storage import volume_key_for
from pipelines.sdk_env import Artifact, BuildArtifacts, collect_uploads, offline_sdk, session

__all__ = [
    "Artifact",
    "BuildArtifacts",
    "build_definition",
    "build_definition_with_artifacts",
    "endpoint_config_request",
    "images",
    "session",
]

ANONYMIZE, TRAIN, EVALUATE, GATES, MODEL, FAIL = "Anonymize", "Train", "Evaluate", "Gates", "CreateModel", "GateFailed"
PREPARE_KEYS = keyprep.STEP
EVALUATION_PROPERTY_FILE = "EvaluationReport"
# JsonGet paths into evaluation.json (docs/architecture.md, The evaluation property file).
# Every gate (quality against the baseline, absolute threshold, k/l/t/risk, membership advantage) is
# decided by Evaluate and read from one path: nothing task-specific in the definition.
GATE_PASSED_PATH = "gates.passed"
GATE_REASON_PATH = "gates.reason"
# MaxMembershipAdvantage at 1.0 is "off": an advantage (max TPR - FPR) never exceeds 1.
MEMBERSHIP_GATE_OFF = 1.0

JOB_SCRIPTS = {
    ANONYMIZE: Path("processing/anonymize.py"),
    TRAIN: Path("training/train.py"),
    EVALUATE: Path("processing/evaluate.py"),
    PREPARE_KEYS: keyprep.SCRIPT,  # only when the config has the key-preparation path
}
# `anonymize.engine: spark`: the Anonymize job on Spark, a PySparkProcessor in the Spark processing image.
SPARK_ANONYMIZE_SCRIPT = Path("processing/spark_anonymize.py")
PROC = "/opt/ml/processing"
# The serving toolkit `pip install`s the program's directory (code/) offline: "false" turns pip's build
# isolation off (pip reads PIP_NO_BUILD_ISOLATION inverted), so that step builds with the image's own
# setuptools instead of fetching one (see inference/privml_inference.py).
SERVING_ENV = {
    "SAGEMAKER_PROGRAM": "privml_inference.py",
    "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
    "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
    "PIP_NO_BUILD_ISOLATION": "false",
}


def build_definition(
    config: PipelineConfig,
    *,
    local_store: Any = None,
    scripts_root: Path | None = None,
) -> dict:
    """The pipeline definition (the dict form of `Pipeline.definition()`), built with no AWS access.

    With `local_store` (a privml LocalObjectStore), every object the SDK uploaded during the build
    is copied into it at the same s3:// URI, encrypted under the key the upload named.
    """
    definition, artifacts = build_definition_with_artifacts(config, scripts_root=scripts_root)
    if local_store is not None:
        for uri, artifact in sorted(artifacts.objects.items()):
            local_store.put_bytes(uri, artifact.data, key_id=artifact.kms_key_id)
    return definition


def build_definition_with_artifacts(
    config: PipelineConfig, *, scripts_root: Path | None = None
) -> tuple[dict, BuildArtifacts]:
    """The definition and the objects the SDK uploaded while building it (by s3:// URI)."""
    root = scripts_root or packaging.REPO_ROOT
    with tempfile.TemporaryDirectory(prefix="privml-build-") as tmp, offline_sdk(config) as boto_session:
        pipeline = _pipeline(config, Path(tmp), root, boto_session)
        definition = json.loads(pipeline.definition())
        artifacts = collect_uploads(boto_session, config)
    return definition, artifacts


def images(config: PipelineConfig) -> dict[str, str]:
    """The image URI of each role, from its image profile (pipelines/images/); no usability check here:
    `run --aws`, `deploy --aws` and `run --local` refuse a profile privml cannot run on."""
    from pipelines.images import role_images

    return {role: chosen.uri for role, chosen in role_images(config).items()}


def _key(config: PipelineConfig, purpose: str) -> str:
    # As configured: a key ARN on AWS, a local key store alias in local mode.
    return str(getattr(config.kms, purpose))


def _tags(config: PipelineConfig) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in sorted(config.tags.items())]


def job_script(config: PipelineConfig, step: str) -> Path:
    """The entry script of a step's job: the Anonymize job's depends on `anonymize.engine`."""
    if step == ANONYMIZE and config.anonymize.engine == "spark":
        return SPARK_ANONYMIZE_SCRIPT
    return JOB_SCRIPTS[step]


def spark_image(config: PipelineConfig) -> str:
    """The Spark processing image of the Anonymize step (`anonymize.spark_image`)."""
    from pipelines.images import ecr_domain, get_profile

    choice = config.anonymize.spark_image
    profile = get_profile(choice.profile, field_name="anonymize.spark_image.profile")
    return choice.uri or profile.uri(region=config.region, account=config.account_id,
                                     domain=ecr_domain(config.partition), role="processing",
                                     instance_type=config.instances.processing.type)


def _upload_bundle(sess: Any, config: PipelineConfig, step: str, bundle: Path) -> str:
    """Upload a code bundle (content-addressed, SSE-KMS) and return the entry script's S3 URI."""
    digest = packaging.tree_digest(bundle)
    key_prefix = f"{config.prefix}/code/{step.lower()}/{digest}"
    s3 = sess.boto_session.client("s3", region_name=config.region)
    for path in sorted(p for p in bundle.rglob("*") if p.is_file()):
        s3.put_object(
            Bucket=config.bucket,
            Key=f"{key_prefix}/{path.relative_to(bundle).as_posix()}",
            Body=path.read_bytes(),
            ServerSideEncryption="aws:kms",
            SSEKMSKeyId=_key(config, "data"),
        )
    return f"s3://{config.bucket}/{key_prefix}/{job_script(config, step).name}"


def _bundle_processor_class(spark: bool = False) -> type:
    from sagemaker.core.processing import ScriptProcessor
    from sagemaker.core.shapes import ProcessingInput, ProcessingS3Input
    from sagemaker.core.spark.processing import PySparkProcessor

    class BundleScriptProcessor(PySparkProcessor if spark else ScriptProcessor):  # type: ignore[misc]
        """A ScriptProcessor whose code input is the whole bundle prefix (script + wheels/), not the
        script alone, so the wheelhouse lands in /opt/ml/processing/input/code/wheels."""

        def _convert_code_and_add_to_inputs(self, inputs: Any, s3_uri: str) -> Any:
            prefix = s3_uri.rsplit("/", 1)[0] + "/"
            code = ProcessingInput(
                input_name="code",
                s3_input=ProcessingS3Input(
                    s3_uri=prefix,
                    local_path=f"{PROC}/input/code",
                    s3_data_type="S3Prefix",
                    s3_input_mode="File",
                    s3_data_distribution_type="FullyReplicated",
                ),
            )
            return (inputs or []) + [code]

    return BundleScriptProcessor


def _pipeline(config: PipelineConfig, tmp: Path, root: Path, boto_session: Any) -> Any:
    from sagemaker.core.network import NetworkConfig
    from sagemaker.core.shapes import ProcessingInput, ProcessingOutput, ProcessingS3Input, ProcessingS3Output, Tag
    from sagemaker.core.training.configs import Compute, InputData, Networking, OutputDataConfig, SourceCode
    from sagemaker.core.workflow.conditions import ConditionEquals
    from sagemaker.core.workflow.execution_variables import ExecutionVariables
    from sagemaker.core.workflow.functions import Join, JsonGet
    from sagemaker.core.workflow.parameters import ParameterFloat, ParameterInteger, ParameterString
    from sagemaker.core.workflow.properties import PropertyFile
    from sagemaker.mlops.workflow.condition_step import ConditionStep
    from sagemaker.mlops.workflow.fail_step import FailStep
    from sagemaker.mlops.workflow.model_step import ModelStep
    from sagemaker.mlops.workflow.pipeline import Pipeline
    from sagemaker.mlops.workflow.steps import ProcessingStep, TrainingStep
    from sagemaker.train.model_trainer import ModelTrainer

    sess = session(config, boto_session)
    image = images(config)
    tags = _tags(config)
    privacy = config.privacy
    params = {
        "input": ParameterString("InputDataUri", default_value=config.default_input_data_uri),
        "policy": ParameterString("PolicyUri", default_value=config.default_policy_uri),
        "k": ParameterInteger("K", default_value=privacy.k),
        "epsilon": ParameterString("DpEpsilon", default_value=repr(float(privacy.dp_epsilon))),
        "model": ParameterString("ModelKind", default_value=privacy.model),
        "quality": ParameterFloat("QualityThreshold", default_value=float(privacy.quality_threshold)),
        "margin": ParameterFloat("QualityMargin", default_value=float(privacy.quality_margin)),
        "membership": ParameterFloat("MaxMembershipAdvantage", default_value=float(
            MEMBERSHIP_GATE_OFF if privacy.max_membership_advantage is None else privacy.max_membership_advantage)),
        "proc_type": ParameterString("ProcessingInstanceType", default_value=config.instances.processing.type),
        "proc_count": ParameterInteger("ProcessingInstanceCount", default_value=config.instances.processing.count),
        "train_type": ParameterString("TrainingInstanceType", default_value=config.instances.training.type),
        "train_count": ParameterInteger("TrainingInstanceCount", default_value=config.instances.training.count),
        # The label column for this execution; empty: the policy's. Anonymize checks it against the data
        # before it writes anything and records it in the policy it hands to Train.
        "label": ParameterString("Label", default_value=""),
        # binary | multiclass | regression; empty: Train chooses it from the train split's label
        # (privml.models.tasks) and records it in metadata.json.
        "task": ParameterString("Task", default_value=""),
    }
    subnets = list(config.network.subnets) or None
    groups = list(config.network.security_group_ids) or None

    keyed = config.key_preparation
    wheel = packaging.build_privml_wheel(tmp / "dist")
    code_uri = {}
    for step, script in JOB_SCRIPTS.items():
        if step == PREPARE_KEYS and not keyed:
            continue
        script = job_script(config, step)
        bundle = packaging.make_bundle(root / script, tmp / "bundles" / step, wheel, config.code.wheelhouse)
        code_uri[step] = bundle if step == TRAIN else _upload_bundle(sess, config, step, bundle)

    def run_uri(*parts: str) -> Join:
        return Join(on="/", values=[config.base_uri, "runs", ExecutionVariables.PIPELINE_EXECUTION_ID, *parts])

    def processor(name: str, env: dict[str, str], *, role: str | None = None, isolated: bool = True,
                  output_key: str | None = None, spark: bool = False) -> Any:
        # the Spark image's entry point is the processor's own (smspark-submit SCRIPT); every control the same
        return _bundle_processor_class(spark)(
            role=role or config.role_arn,
            image_uri=spark_image(config) if spark else image["processing"],
            **({} if spark else {"command": ["python3"]}),
            instance_type=params["proc_type"],
            instance_count=params["proc_count"],
            # Instance types with NVMe instance storage take no volume key (the API refuses one; the
            # instance store is hardware-encrypted): see instance_storage.py.
            volume_kms_key=volume_key_for(config.instances.processing.type, _key(config, "volume")),
            output_kms_key=output_key or _key(config, "data"),
            max_runtime_in_seconds=3 * 3600,
            base_job_name=f"{config.pipeline_name}-{name.lower()}",
            sagemaker_session=sess,
            tags=tags,
            env=env,
            network_config=NetworkConfig(
                enable_network_isolation=isolated,
                security_group_ids=groups,
                subnets=subnets,
                encrypt_inter_container_traffic=True,
            ),
        )

    def s3_in(name: str, uri: Any, local: str) -> ProcessingInput:
        return ProcessingInput(
            input_name=name,
            s3_input=ProcessingS3Input(
                s3_uri=uri,
                local_path=local,
                s3_data_type="S3Prefix",
                s3_input_mode="File",
                s3_data_distribution_type="FullyReplicated",
            ),
        )

    def s3_out(step: str, name: str) -> ProcessingOutput:
        return ProcessingOutput(
            output_name=name,
            s3_output=ProcessingS3Output(
                s3_uri=run_uri(step.lower(), name), local_path=f"{PROC}/output/{name}", s3_upload_mode="EndOfJob"
            ),
        )

    def output_uri(step: Any, name: str) -> Any:
        return step.properties.ProcessingOutputConfig.Outputs[name].S3Output.S3Uri

    # --- PrepareKeys: the one step that may call KMS (not isolated; VPC; its own role; no data) ------
    prepare = None
    key_inputs = []
    if keyed:
        prepare_args = processor(
            PREPARE_KEYS, keyprep.prepare_keys_env(config), role=config.key_preparation_role_arn,
            isolated=False, output_key=_key(config, "secrets"),
        ).run(
            code=code_uri[PREPARE_KEYS],
            inputs=[s3_in("policy", params["policy"], f"{PROC}/input/policy")],
            outputs=[s3_out(PREPARE_KEYS, name) for name in keyprep.OUTPUTS],
            arguments=keyprep.prepare_keys_arguments(config),
        )
        prepare = ProcessingStep(name=PREPARE_KEYS, step_args=prepare_args)
        key_inputs = [s3_in(keyprep.ANONYMIZE_INPUT, output_uri(prepare, "secrets"), keyprep.ANONYMIZE_KEY_DIR)]

    # --- Anonymize --------------------------------------------------------------------------------
    splits = ("train", "validation", "test", "report", "transformer")
    on_spark = config.anonymize.engine == "spark"
    anonymize_processor = processor(ANONYMIZE, keyprep.anonymize_env(keyed), spark=on_spark)
    anonymize_args = anonymize_processor.run(
        **({"submit_app": code_uri[ANONYMIZE]} if on_spark else {"code": code_uri[ANONYMIZE]}),
        inputs=[
            s3_in("data", params["input"], f"{PROC}/input/data"),
            s3_in("policy", params["policy"], f"{PROC}/input/policy"),
            *key_inputs,
        ],
        outputs=[s3_out(ANONYMIZE, name) for name in splits],
        arguments=[
            "--policy",
            f"{PROC}/input/policy/policy.yaml",
            "--input",
            f"{PROC}/input/data",
            "--output",
            f"{PROC}/output",
            "--k",
            params["k"].to_string(),
            "--seed",
            str(privacy.seed),
            # one argument, `--label=` when empty: an argument list item may not be an empty string
            Join(on="", values=["--label=", params["label"]]),
            *(["--max-partition-rows", str(config.anonymize.max_partition_rows)] if on_spark else []),
        ],
    )
    anonymize = ProcessingStep(name=ANONYMIZE, step_args=anonymize_args)

    # --- Train ------------------------------------------------------------------------------------
    trainer = ModelTrainer(
        training_image=image["training"],
        source_code=SourceCode(source_dir=str(code_uri[TRAIN]), entry_script=JOB_SCRIPTS[TRAIN].name),
        compute=Compute(
            instance_type=params["train_type"],
            instance_count=params["train_count"],
            volume_size_in_gb=30,
            volume_kms_key_id=volume_key_for(config.instances.training.type, _key(config, "volume")),
        ),
        networking=Networking(
            subnets=subnets,
            security_group_ids=groups,
            enable_network_isolation=True,
            enable_inter_container_traffic_encryption=True,
        ),
        output_data_config=OutputDataConfig(
            s3_output_path=f"{config.base_uri}/models", kms_key_id=_key(config, "model")
        ),
        hyperparameters={"model": params["model"], "dp_epsilon": params["epsilon"], "seed": str(privacy.seed),
                         "label": params["label"], "task": params["task"]},
        environment=keyprep.env("none"),
        role=config.role_arn,
        sagemaker_session=sess,
        base_job_name=f"{config.pipeline_name}-train",
        tags=[Tag(key=t["Key"], value=t["Value"]) for t in tags] or None,
    )
    train_args = trainer.train(
        input_data_config=[
            InputData(channel_name=name, data_source=output_uri(anonymize, name))
            for name in ("train", "validation", "transformer")
        ]
    )
    train = TrainingStep(name=TRAIN, step_args=train_args)
    model_data = train.properties.ModelArtifacts.S3ModelArtifacts

    # --- Evaluate ---------------------------------------------------------------------------------
    evaluation = PropertyFile(name=EVALUATION_PROPERTY_FILE, output_name="evaluation", path="evaluation.json")
    evaluate_args = processor(EVALUATE, keyprep.env("none")).run(
        code=code_uri[EVALUATE],
        inputs=[
            s3_in("model", model_data, f"{PROC}/input/model"),
            # the baseline's training labels and the membership audit's members
            s3_in("train", output_uri(anonymize, "train"), f"{PROC}/input/train"),
            s3_in("test", output_uri(anonymize, "test"), f"{PROC}/input/test"),
            s3_in("report", output_uri(anonymize, "report"), f"{PROC}/input/report"),
        ],
        outputs=[s3_out(EVALUATE, "evaluation")],
        arguments=[
            "--model-dir",
            f"{PROC}/input/model",
            "--train",
            f"{PROC}/input/train",
            "--test",
            f"{PROC}/input/test",
            "--report",
            f"{PROC}/input/report",
            "--output",
            f"{PROC}/output/evaluation",
            "--quality-margin",
            params["margin"].to_string(),
            "--quality-threshold",
            params["quality"].to_string(),
            "--max-membership-advantage",
            params["membership"].to_string(),
            "--k",
            params["k"].to_string(),
        ],
    )
    evaluate = ProcessingStep(name=EVALUATE, step_args=evaluate_args, property_files=[evaluation])

    # --- Model, gates -----------------------------------------------------------------------------
    serving_keys = Join(on="/", values=[output_uri(prepare, "serving"), keyprep.SECRETS_FILE]) if prepare else None
    model = ModelStep(
        name=MODEL,
        step_args=_create_model_args(sess, config, image["inference"], model_data, subnets, groups, serving_keys),
    )

    def gate(path: str) -> JsonGet:
        return JsonGet(step_name=evaluate.name, property_file=evaluation, json_path=path)

    fail = FailStep(name=FAIL, error_message=Join(on="", values=["Gate failed: ", gate(GATE_REASON_PATH)]))
    gates = ConditionStep(
        name=GATES,
        conditions=[ConditionEquals(left=gate(GATE_PASSED_PATH), right=1)],
        if_steps=[model],
        else_steps=[fail],
    )
    return Pipeline(
        name=config.pipeline_name,
        parameters=list(params.values()),
        steps=[*([prepare] if prepare else []), anonymize, train, evaluate, gates],
        sagemaker_session=sess,
        # The SDK's default experiment config makes every execution create an experiment and a trial
        # (sagemaker:CreateExperiment/CreateTrial, a role permission nothing else needs); privml records
        # its runs itself.
        pipeline_experiment_config=None,
    )


@dataclass
class _ServingModel:
    """What ModelStep needs to see of a model: the PipelineSession that captured its request."""

    sagemaker_session: Any


def _create_model_args(
    sess: Any, config: PipelineConfig, image_uri: str, model_data: Any, subnets: Any, groups: Any,
    serving_keys: Any = None,
) -> Any:
    # The SDK's own CreateModel request builder, intercepted by the PipelineSession (as
    # ModelBuilder.build() does) — without ModelBuilder's framework detection, which wants the model.
    sess.context = None
    sess.init_model_step_arguments(_ServingModel(sess))
    container: dict[str, Any] = {"Image": image_uri, "ModelDataUrl": model_data,
                                 "Environment": {**SERVING_ENV, **keyprep.serving_env(serving_keys is not None)}}
    if serving_keys is not None:
        # The endpoint's feature secrets: a separate model data source, never inside model.tar.gz.
        container["AdditionalModelDataSources"] = keyprep.serving_data_sources(serving_keys)
    sess.create_model(
        name=f"{config.pipeline_name}-model",
        role=config.role_arn,
        container_defs=container,
        vpc_config={"Subnets": subnets, "SecurityGroupIds": groups} if subnets else None,
        enable_network_isolation=True,
        tags=_tags(config),
    )
    return sess.context


def endpoint_config_request(config: PipelineConfig, model_name: str, *, name: str | None = None) -> dict:
    """The CreateEndpointConfig request for a model: KMS on the volume, capture encrypted, outputs only."""
    capture_modes = [{"CaptureMode": "Output"}]
    if config.capture.capture_inputs:
        capture_modes.insert(0, {"CaptureMode": "Input"})
    request: dict[str, Any] = {
        "EndpointConfigName": name or f"{model_name}-config",
        "ProductionVariants": [
            {
                "VariantName": "AllTraffic",
                "ModelName": model_name,
                "InstanceType": config.instances.endpoint.type,
                "InitialInstanceCount": config.instances.endpoint.count,
            }
        ],
        "DataCaptureConfig": {
            "EnableCapture": config.capture.enabled,
            "InitialSamplingPercentage": config.capture.sampling_percentage,
            "DestinationS3Uri": f"{config.base_uri}/capture",
            "KmsKeyId": _key(config, "capture"),
            "CaptureOptions": capture_modes,
            "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
        },
    }
    endpoint_key = volume_key_for(config.instances.endpoint.type, _key(config, "endpoint"))
    if endpoint_key:
        request["KmsKeyId"] = endpoint_key
    if config.tags:
        request["Tags"] = _tags(config)
    return request
