"""The Flux and kustomize model of a checkout, with template and rendered pairs."""
