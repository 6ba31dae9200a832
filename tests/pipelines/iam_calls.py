"""The AWS calls an execution of a definition makes, derived from the definition itself.

The definition is resolved as SageMaker Pipelines would resolve it for one execution (parameters at
their defaults, a concrete execution id, each step's properties once it has "run"), and every job's
request is turned into the calls SageMaker makes for it with the job's role: list and read each input
prefix, read a real object under it (a build upload where the input is code), decrypt it with the key
it was written under, write each output under the output key, grant the volume key, pull the image,
write logs, create the network interfaces. The pipeline role's calls are the Create* requests, PassRole
of each step role and the property-file reads. Nothing here reads the generated policies.
"""

from __future__ import annotations

from typing import Any

from pipelines.local.definition_eval import EvalContext, resolve

from .iam_eval import Call

EXECUTION_ID = "a1b2c3d4e5f6"
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri[len("s3://") :].partition("/")
    return bucket, key


def _object_under(uri: str, uploads: dict[str, str | None], name: str) -> tuple[str, str | None]:
    """A concrete object under an input prefix: a real build upload when there is one."""
    prefix = uri if uri.endswith("/") or "." in uri.rsplit("/", 1)[-1] else uri + "/"
    for upload, key in sorted(uploads.items()):
        if upload.startswith(prefix) or upload == uri:
            return upload, key
    return (uri if "." in uri.rsplit("/", 1)[-1] else prefix + name), None


class _Calls:
    def __init__(self, config: Any, uploads: dict[str, str | None]) -> None:
        self.config = config
        self.uploads = uploads
        self.calls: list[Call] = []
        self.part, self.region, self.account = config.partition, config.region, config.account_id
        # Which key encrypted each object a step wrote (by URI prefix).
        self.written_under: dict[str, str] = {}

    def add(self, principal: str, action: str, resource: str, context: dict | None = None, why: str = "") -> None:
        self.calls.append(Call(principal, action, resource, {**TLS, **(context or {})}, why))

    def key_arn(self, key: str) -> str:
        return key if key.startswith("arn:") else f"arn:{self.part}:kms:{self.region}:{self.account}:{key}"

    def read(self, role: str, uri: str, why: str) -> None:
        bucket, key = _split(uri)
        self.add(role, "s3:ListBucket", f"arn:{self.part}:s3:::{bucket}", {"s3:prefix": key}, why)
        obj, upload_key = _object_under(uri, self.uploads, "part-00000.csv")
        self.add(role, "s3:GetObject", f"arn:{self.part}:s3:::{obj[len('s3://'):]}", {}, why)
        kms = upload_key or next((k for p, k in self.written_under.items() if obj.startswith(p)), None)
        kms = kms or self.config.key_arn("data")  # inputs the operator uploads go under the data key
        self.add(role, "kms:Decrypt", self.key_arn(kms), {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}, why)

    def write(self, role: str, uri: str, kms_key: str, why: str) -> None:
        self.written_under[uri.rstrip("/") + "/"] = kms_key
        obj = uri.rstrip("/") + "/part-00000.csv" if not uri.endswith(".tar.gz") else uri
        sse = {"s3:x-amz-server-side-encryption": "aws:kms",
               "s3:x-amz-server-side-encryption-aws-kms-key-id": self.key_arn(kms_key)}
        self.add(role, "s3:PutObject", f"arn:{self.part}:s3:::{obj[len('s3://'):]}", sse, why)
        via = {"kms:ViaService": f"s3.{self.region}.amazonaws.com"}
        for action in ("kms:GenerateDataKey", "kms:Encrypt"):
            self.add(role, action, self.key_arn(kms_key), via, why)

    def runtime(self, role: str, kind: str, job: str, image: str, vpc: dict | None, volume_key: str | None,
                why: str) -> None:
        group = {"processing-job": "ProcessingJobs", "training-job": "TrainingJobs", "model": "Endpoints"}[kind]
        stream = (f"arn:{self.part}:logs:{self.region}:{self.account}:log-group:/aws/sagemaker/{group}:"
                  f"log-stream:{job}/algo-1-1700000000")
        for action in ("logs:CreateLogStream", "logs:PutLogEvents"):
            self.add(role, action, stream, {}, why)
        self.add(role, "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": f"/aws/sagemaker/{group}"}, why)
        registry, _, rest = image.partition("/")
        account, region = registry.split(".")[0], registry.split(".")[3]
        repository = rest.split(":")[0].split("@")[0]
        self.add(role, "ecr:GetAuthorizationToken", "*", {}, why)
        for action in ("ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"):
            self.add(role, action, f"arn:{self.part}:ecr:{region}:{account}:repository/{repository}", {}, why)
        if volume_key:
            self.add(role, "kms:CreateGrant", self.key_arn(volume_key), {"kms:GrantIsForAWSResource": "true"}, why)
        if vpc and vpc.get("Subnets"):
            ec2 = f"arn:{self.part}:ec2:{self.region}:{self.account}"
            for resource in [f"{ec2}:network-interface/eni-0123456789abcdef0",
                             *(f"{ec2}:subnet/{s}" for s in vpc["Subnets"]),
                             *(f"{ec2}:security-group/{g}" for g in vpc["SecurityGroupIds"])]:
                self.add(role, "ec2:CreateNetworkInterface", resource, {}, why)
            self.add(role, "ec2:DescribeSubnets", "*", {}, why)
            self.add(role, "ec2:DeleteNetworkInterface", f"{ec2}:network-interface/eni-0123456789abcdef0", {}, why)


def _steps(steps: list[dict]) -> list[dict]:
    out = []
    for step in steps:
        out.append(step)
        if step.get("Type") == "Condition":
            out += _steps([*step["Arguments"].get("IfSteps", []), *step["Arguments"].get("ElseSteps", [])])
    return out


def execution_calls(config: Any, definition: dict, uploads: dict[str, str | None]) -> list[Call]:
    """Every call one execution of `definition` makes (jobs' roles and the pipeline role)."""
    out = _Calls(config, uploads)
    ctx = EvalContext(parameters={p["Name"]: p.get("DefaultValue") for p in definition["Parameters"]},
                      execution={"PipelineExecutionId": EXECUTION_ID, "PipelineName": config.pipeline_name})
    pipeline_role = config.role_arn
    sagemaker = f"arn:{out.part}:sagemaker:{out.region}:{out.account}"
    for step in _steps(definition["Steps"]):
        kind = step["Type"]
        if kind not in ("Processing", "Training", "Model"):
            continue
        name = step["Name"]
        args = resolve(step["Arguments"], ctx)
        job = f"pipelines-{EXECUTION_ID}-{name}-x7y8z9".lower()
        why = f"step {name}"
        if kind == "Processing":
            role = args["RoleArn"]
            cluster = args["ProcessingResources"]["ClusterConfig"]
            network = args.get("NetworkConfig") or {}
            create = {"sagemaker:NetworkIsolation": str(network.get("EnableNetworkIsolation", False)).lower(),
                      "sagemaker:InterContainerTrafficEncryption":
                          str(network.get("EnableInterContainerTrafficEncryption", False)).lower()}
            out.add(pipeline_role, "sagemaker:CreateProcessingJob", f"{sagemaker}:processing-job/{job}", create, why)
            out.add(pipeline_role, "sagemaker:DescribeProcessingJob", f"{sagemaker}:processing-job/{job}", {}, why)
            for item in args.get("ProcessingInputs", []):
                out.read(role, item["S3Input"]["S3Uri"], f"{why} input {item['InputName']}")
            output_key = args["ProcessingOutputConfig"]["KmsKeyId"]
            for item in args["ProcessingOutputConfig"]["Outputs"]:
                out.write(role, item["S3Output"]["S3Uri"], output_key, f"{why} output {item['OutputName']}")
            out.runtime(role, "processing-job", job, args["AppSpecification"]["ImageUri"], network.get("VpcConfig"),
                        cluster.get("VolumeKmsKeyId"), why)
            ctx.step_properties[name] = {**args, "ProcessingJobName": job}
            for pf in step.get("PropertyFiles", []):
                output = next(o for o in args["ProcessingOutputConfig"]["Outputs"]
                              if o["OutputName"] == pf["OutputName"])
                uri = output["S3Output"]["S3Uri"].rstrip("/") + "/" + pf["FilePath"]
                out.add(pipeline_role, "s3:GetObject", f"arn:{out.part}:s3:::{uri[len('s3://'):]}", {},
                        f"{why} JsonGet")
                out.add(pipeline_role, "kms:Decrypt", out.key_arn(output_key),
                        {"kms:ViaService": f"s3.{out.region}.amazonaws.com"}, f"{why} JsonGet")
        elif kind == "Training":
            role = args["RoleArn"]
            create = {"sagemaker:NetworkIsolation": str(args.get("EnableNetworkIsolation", False)).lower(),
                      "sagemaker:InterContainerTrafficEncryption":
                          str(args.get("EnableInterContainerTrafficEncryption", False)).lower()}
            out.add(pipeline_role, "sagemaker:CreateTrainingJob", f"{sagemaker}:training-job/{job}", create, why)
            out.add(pipeline_role, "sagemaker:DescribeTrainingJob", f"{sagemaker}:training-job/{job}", {}, why)
            for channel in args["InputDataConfig"]:
                out.read(role, channel["DataSource"]["S3DataSource"]["S3Uri"],
                         f"{why} channel {channel['ChannelName']}")
            model_uri = f"{args['OutputDataConfig']['S3OutputPath'].rstrip('/')}/{job}/output/model.tar.gz"
            out.write(role, model_uri, args["OutputDataConfig"]["KmsKeyId"], f"{why} model artifact")
            out.runtime(role, "training-job", job, args["AlgorithmSpecification"]["TrainingImage"],
                        args.get("VpcConfig"), args["ResourceConfig"].get("VolumeKmsKeyId"), why)
            ctx.step_properties[name] = {**args, "TrainingJobName": job,
                                         "ModelArtifacts": {"S3ModelArtifacts": model_uri}}
        else:
            role = args["ExecutionRoleArn"]
            out.add(pipeline_role, "sagemaker:CreateModel", f"{sagemaker}:model/{job}", {}, why)
            model_calls(out, role, args, job, why)
        out.add(pipeline_role, "iam:PassRole", role, {"iam:PassedToService": "sagemaker.amazonaws.com"}, why)
        if args.get("Tags"):
            resource = {"Processing": "processing-job", "Training": "training-job", "Model": "model"}[kind]
            out.add(pipeline_role, "sagemaker:AddTags", f"{sagemaker}:{resource}/{job}", {}, why)
    return out.calls


def model_calls(out: _Calls, role: str, model: dict, name: str, why: str) -> None:
    container = model["PrimaryContainer"]
    out.read(role, container["ModelDataUrl"], f"{why} model data")
    out.runtime(role, "model", name, container["Image"], model.get("VpcConfig"), None, why)


def endpoint_calls(config: Any, plan: Any) -> list[Call]:
    """What SageMaker does with the model's role once deploy --aws has created the endpoint of `plan`."""
    out = _Calls(config, {})
    out.written_under[f"{config.base_uri}/models/"] = config.key_arn("model")
    model, endpoint_config = plan.model, plan.endpoint_config
    model_calls(out, model["ExecutionRoleArn"], model, plan.endpoint_name, "endpoint")
    capture = endpoint_config.get("DataCaptureConfig") or {}
    if capture.get("EnableCapture"):
        # SageMaker writes <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl
        dest = f"{capture['DestinationS3Uri'].rstrip('/')}/{plan.endpoint_name}/AllTraffic/2026/12/01/23"
        out.write(model["ExecutionRoleArn"], dest, capture["KmsKeyId"], "endpoint data capture")
    return out.calls
