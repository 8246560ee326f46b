/*
Copyright 2026 The reportd Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

// Package chart holds the checks of the Helm chart in charts/reportd, run
// by `make test`: helm lint; rendering with the default values and with
// ci/full-values.yaml; a server-side dry run of every rendered object
// against a real kube-apiserver (envtest); the chart's CRDs, RBAC rules and
// admission policy against what config/ holds; the admission policy
// enforced by the API server; and the manager's environment variables
// against the flags of `reportd manager`. The tests need bin/helm (`make
// test-servers`) and the control plane (`make envtest`).
package chart
