"""Local mode without Docker: execute the pipeline definition JSON on this machine, each job a sandboxed
subprocess laid out as the SageMaker container contract, with the definition's security controls enforced
or emulated and recorded. Entry points: `LocalExecutor` (executor.py) and `run_local` (run_local.py)."""
