"""Expression evaluation and the step graph, without running jobs."""

from __future__ import annotations

import pytest

from pipelines.local.definition_eval import (
    DefinitionError,
    EvalContext,
    evaluate_conditions,
    parse_parameters,
    path_tokens,
    resolve,
)
from pipelines.local.graph import build_graph, topological_order

DEFN = {"Parameters": [
    {"Name": "K", "Type": "Integer", "DefaultValue": 5},
    {"Name": "Threshold", "Type": "Float", "DefaultValue": 0.7},
    {"Name": "Data", "Type": "String", "DefaultValue": "s3://b/raw/"},
    {"Name": "Flag", "Type": "Boolean", "DefaultValue": False},
]}


def ctx() -> EvalContext:
    c = EvalContext(parameters=parse_parameters(DEFN, {"K": "7"}), execution={"PipelineExecutionId": "run-1"})
    c.step_properties["Anonymize"] = {"ProcessingOutputConfig": {"Outputs": [
        {"OutputName": "train", "S3Output": {"S3Uri": "s3://b/out/train"}},
        {"OutputName": "test", "S3Output": {"S3Uri": "s3://b/out/test"}}]}}
    c.step_properties["Train"] = {"ModelArtifacts": {"S3ModelArtifacts": "s3://b/m/job/output/model.tar.gz"}}
    c.property_files[("Evaluate", "EvaluationReport")] = lambda: {
        "metrics": {"accuracy": 0.83}, "gates": {"passed": 1, "reason": "k=4 below target 5"},
        "per_class": [{"f1": 0.5}, {"f1": 0.9}]}
    return c


def test_parameters_defaults_overrides_and_types() -> None:
    values = parse_parameters(DEFN, {"K": "7", "Flag": "true"})
    assert values == {"K": 7, "Threshold": 0.7, "Data": "s3://b/raw/", "Flag": True}
    with pytest.raises(DefinitionError, match="unknown pipeline parameter"):
        parse_parameters(DEFN, {"Nope": 1})
    with pytest.raises(DefinitionError, match="parameter K: not a valid Integer"):
        parse_parameters(DEFN, {"K": "seven"})


def test_get_on_parameters_execution_and_step_properties() -> None:
    c = ctx()
    assert resolve({"Get": "Parameters.K"}, c) == 7
    assert resolve({"Get": "Execution.PipelineExecutionId"}, c) == "run-1"
    assert resolve({"Get": "Steps.Anonymize.ProcessingOutputConfig.Outputs['test'].S3Output.S3Uri"}, c) \
        == "s3://b/out/test"
    assert resolve({"Get": "Steps.Anonymize.ProcessingOutputConfig.Outputs[0].S3Output.S3Uri"}, c) \
        == "s3://b/out/train"
    assert resolve({"Get": "Steps.Train.ModelArtifacts.S3ModelArtifacts"}, c).endswith("model.tar.gz")
    with pytest.raises(DefinitionError, match="step Evaluate has not run"):
        resolve({"Get": "Steps.Evaluate.ProcessingJobName"}, c)
    with pytest.raises(DefinitionError, match="no element named 'nope'"):
        resolve({"Get": "Steps.Anonymize.ProcessingOutputConfig.Outputs['nope'].S3Output.S3Uri"}, c)


def test_join_and_jsonget_nested_in_arguments() -> None:
    c = ctx()
    expr = {"ContainerArguments": ["--k", {"Std:Join": {"On": "", "Values": [{"Get": "Parameters.K"}]}}],
            "Uri": {"Std:Join": {"On": "/", "Values": ["s3://b", "runs", {"Get": "Execution.PipelineExecutionId"}]}},
            "Msg": {"Std:Join": {"On": "", "Values": ["Gate failed: ", {"Std:JsonGet": {
                "PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                "Path": "gates.reason"}}]}},
            "F1": {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                   "Path": "per_class[1].f1"}}}
    assert resolve(expr, c) == {"ContainerArguments": ["--k", "7"], "Uri": "s3://b/runs/run-1",
                                "Msg": "Gate failed: k=4 below target 5", "F1": 0.9}
    with pytest.raises(DefinitionError, match="no property 'missing'"):
        resolve({"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                                 "Path": "metrics.missing"}}, c)


def test_conditions() -> None:
    c = ctx()
    acc = {"Std:JsonGet": {"PropertyFile": {"Get": "Steps.Evaluate.PropertyFiles.EvaluationReport"},
                           "Path": "metrics.accuracy"}}
    gte = {"Type": "GreaterThanOrEqualTo", "LeftValue": acc, "RightValue": {"Get": "Parameters.Threshold"}}
    assert evaluate_conditions([gte], c)
    assert not evaluate_conditions([gte, {"Type": "LessThan", "LeftValue": acc, "RightValue": 0.5}], c)
    assert evaluate_conditions([{"Type": "Or", "Conditions": [
        {"Type": "Equals", "LeftValue": 1, "RightValue": 2},
        {"Type": "In", "QueryValue": {"Get": "Parameters.K"}, "Values": [3, 7]}]}], c)
    assert evaluate_conditions([{"Type": "Not", "Condition": {"Type": "GreaterThan", "LeftValue": 1,
                                                              "RightValue": 2}}], c)


def test_path_tokens() -> None:
    assert path_tokens("Steps.A.Outputs['x y'].B[2]") == ["Steps", "A", "Outputs", "x y", "B", 2]
    with pytest.raises(DefinitionError):
        path_tokens("Steps..A")


def _step(name: str, typ: str = "Processing", **args: object) -> dict:
    return {"Name": name, "Type": typ, "Arguments": dict(args)}


def test_graph_orders_by_data_and_explicit_dependencies_and_branches() -> None:
    b = _step("B", Uri={"Get": "Steps.A.ProcessingOutputConfig.Outputs['o'].S3Output.S3Uri"})
    c = {**_step("C"), "DependsOn": ["B"]}
    fail = _step("F", "Fail", ErrorMessage="x")
    cond = _step("Cond", "Condition", Conditions=[{"Type": "Equals", "LeftValue": {"Get": "Steps.C.X"},
                                                   "RightValue": 1}], IfSteps=[], ElseSteps=[fail])
    nodes = build_graph({"Steps": [cond, c, b, _step("A")]})
    assert topological_order(nodes) == ["A", "B", "C", "Cond", "F"]
    assert nodes["F"].branch == ("Cond", "ElseSteps")


def test_graph_errors() -> None:
    with pytest.raises(DefinitionError, match="cycle"):
        build_graph({"Steps": [{**_step("A"), "DependsOn": ["B"]}, {**_step("B"), "DependsOn": ["A"]}]})
    with pytest.raises(DefinitionError, match="unknown step"):
        build_graph({"Steps": [{**_step("A"), "DependsOn": ["Z"]}]})
    with pytest.raises(DefinitionError, match=r"Tune \(Tuning\), X \(EMR\)"):
        build_graph({"Steps": [_step("X", "EMR"), _step("Tune", "Tuning")]})


def test_cache_expire_after_durations() -> None:
    from datetime import timedelta

    from pipelines.local.executor import parse_duration

    assert parse_duration("P30D") == timedelta(days=30)
    assert parse_duration("PT1H30M") == timedelta(hours=1, minutes=30)
    assert parse_duration("P1W2DT3S") == timedelta(days=9, seconds=3)
    with pytest.raises(DefinitionError, match="ISO 8601"):
        parse_duration("30 days")
