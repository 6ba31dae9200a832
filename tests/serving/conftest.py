"""The endpoint tests' fitted models, shared: the compiled form is checked against the same pipelines."""

from tests.inference.conftest import fitted_model, model_workspace, spied_model  # noqa: F401 - fixtures
