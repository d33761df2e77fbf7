# Kubernetes (kubernetes/README.md): make's part, included by the Makefile.

# The manifests rendered, validated and checked, then run under podman. E2E_REQUIRED: without
# podman these tests fail, where make test, run locally, skips them.
.PHONY: k8s-test
k8s-test: prereqs $(VENV)/.installed ## Kubernetes: render, validate and check the manifests, then run them under podman (sudo kubernetes/provision)
	$(with_base) E2E_REQUIRED=podman $(PYTEST_PARALLEL) kubernetes/tests $(PYTEST_ARGS)

.PHONY: k8s-settings
k8s-settings: ## Write kubernetes/base/settings.env from compose.yaml's defaults, and each feature component's (make k8s-test fails when one is stale)
	$(PYTHON) kubernetes/settings.py
