"""The scikit-learn image's serving framework module (its SAGEMAKER_SERVING_MODULE), restated.

The image's own package (sagemaker_sklearn_container, aws/sagemaker-scikit-learn-container) is not on
PyPI, so this module states the loading rules its serving.py documents, on the real sagemaker-containers
API that the image runs them on:
- the program is imported by name (`importlib.import_module`), and when that fails through
  sagemaker-containers' `modules.import_module(module_dir, name)` (its copy and `pip install` step);
- `model_fn`, `input_fn`, `predict_fn`, `output_fn`, `transform_fn` are looked up on it, and a
  `transform_fn` together with any of the other three is refused;
- the toolkit's own Transformer and Flask Worker serve it, as gunicorn's app.
"""

import importlib

from sagemaker_containers.beta.framework import encoders, env, modules, transformer, worker

_SEPARATE = ("input_fn", "predict_fn", "output_fn")


def _default_output_fn(prediction, accept):
    return worker.Response(encoders.encode(prediction, accept), mimetype=accept)


def _transformer(module):
    found = {name: getattr(module, name, None) for name in ("model_fn", "transform_fn", *_SEPARATE)}
    if found["transform_fn"] is not None and any(found[name] for name in _SEPARATE):
        raise ValueError("Cannot use transform_fn implementation with input_fn, predict_fn, and/or output_fn")
    if found["transform_fn"] is not None:
        return transformer.Transformer(model_fn=found["model_fn"], transform_fn=found["transform_fn"])
    return transformer.Transformer(model_fn=found["model_fn"], input_fn=found["input_fn"],
                                   predict_fn=found["predict_fn"],
                                   output_fn=found["output_fn"] or _default_output_fn)


app = None


def main(environ, start_response):
    global app
    if app is None:
        serving_env = env.ServingEnv()
        try:
            module = importlib.import_module(serving_env.module_name)
        except ImportError:
            module = modules.import_module(serving_env.module_dir, serving_env.module_name)
        served = _transformer(module)
        served.initialize()
        app = worker.Worker(transform_fn=served.transform, module_name=serving_env.module_name)
    return app(environ, start_response)
