"""`train` as the image runs a script job: sagemaker-training's own entry-point runner (copy of the code
channel into <base>/code, its requirements step, `python <entry point> <hyperparameters as args>`)."""

import json
import sys

from sagemaker_training import entry_point, environment

env = environment.Environment()
entry_point.run(uri=sys.argv[1], user_entry_point=sys.argv[2], args=env.to_cmd_args(),
                env_vars=env.to_env_vars(), capture_error=True)
print(json.dumps({"module_dir": env.module_dir}))
