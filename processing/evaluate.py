"""Evaluate: the pipeline's evaluation job (SageMaker processing container contract).

Thin on purpose: the work is `privml.models.evaluation.evaluate`. Reads the model (model.tar.gz from the
training step), the anonymized train split (the baseline's labels, the membership audit's members), the
anonymized test split and the Anonymize report; writes evaluation.json (the
`EvaluationReport` PropertyFile the ConditionStep reads), model_card.json and model_card.md into the
output directory. On failure: no output; the job runner (privml/job_runner.py) writes the reason to
/opt/ml/output/message and gives the exit code (2 bad input, 3 internal error).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

try:
    import job_runner  # the bundle ships it beside this script (pipelines/packaging.py)
except ModuleNotFoundError:  # run from a source checkout, or in an image that holds privml
    from privml import job_runner


def _parse(argv: list[str]) -> argparse.Namespace:
    p = job_runner.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model-dir", required=True, type=Path)
    p.add_argument("--train", required=True, type=Path, help="the anonymized train split the model was fitted on")
    p.add_argument("--test", required=True, type=Path)
    p.add_argument("--report", required=True, type=Path)
    p.add_argument("--output", required=True, type=Path)
    p.add_argument("--quality-margin", type=float, default=0.05,
                   help="the model must beat the baseline by this much (balanced accuracy or R²)")
    p.add_argument("--quality-threshold", type=float, default=0.0,
                   help="absolute floor on accuracy (regression: R²); 0 = none")
    p.add_argument("--max-membership-advantage", type=float, default=1.0,
                   help="membership-inference advantage allowed; 1 = no gate unless the policy declares one")
    p.add_argument("--k", type=int)
    p.add_argument("--config-dir", type=Path, help="job configuration directory (default: /opt/ml/config)")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> dict:
    from privml.models.evaluation import evaluate
    from privml.models.jobenv import processing_config_dir

    return evaluate(
        model_dir=args.model_dir, train_dir=args.train, test_dir=args.test, report_dir=args.report,
        output_dir=args.output, quality_margin=args.quality_margin, quality_threshold=args.quality_threshold,
        max_membership_advantage=args.max_membership_advantage, k_required=args.k,
        config_dir=args.config_dir or processing_config_dir(args.output),
    )


def _summary(result: dict) -> str:
    gates, quality = result["gates"], result["quality"]
    audit = result.get("membership")
    advantage = f"membership advantage {audit['advantage']:.4f}" if audit else "no membership audit"
    return (f"{quality['metric']} {quality['model']:.4f} (baseline {quality['baseline']:.4f}); {advantage}; "
            f"gates passed={gates['passed']} ({gates['reason']})")


JOB = job_runner.Job("evaluation", "processing", _parse, run, _summary)
main = job_runner.entry_point(JOB, __file__)

if __name__ == "__main__":
    sys.exit(main())
