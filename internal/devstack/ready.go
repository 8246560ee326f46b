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

package devstack

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
)

// WaitDefinitionsReady waits until the manager has checked every
// ReportDefinition of the namespace against the database (Ready for its
// current generation), and fails naming any it found broken: a stack
// whose sample reports cannot run is not ready.
func (s *Stack) WaitDefinitionsReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, definitionsReadyWait)
	defer cancel()
	for {
		pending, broken, err := s.checkDefinitions(ctx)
		if err == nil && len(broken) > 0 {
			return fmt.Errorf("report definitions are not ready: %s", strings.Join(broken, "; "))
		}
		if err == nil && len(pending) == 0 {
			return nil
		}
		select {
		case <-s.managerDone:
			return fmt.Errorf("the manager stopped: %w", s.managerErr)
		case <-ctx.Done():
			return fmt.Errorf("definitions %s were not checked in time: %w", strings.Join(pending, ", "), errors.Join(ctx.Err(), err))
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// checkDefinitions lists the definitions not checked yet and those
// found broken (with the manager's reason and message).
func (s *Stack) checkDefinitions(ctx context.Context) (pending, broken []string, err error) {
	var defs v1alpha1.ReportDefinitionList
	if err := s.Client.List(ctx, &defs, client.InNamespace(s.Namespace)); err != nil {
		return nil, nil, err
	}
	for _, d := range defs.Items {
		c := apimeta.FindStatusCondition(d.Status.Conditions, v1alpha1.ConditionReady)
		switch {
		case c == nil || c.ObservedGeneration != d.Generation || c.Status == metav1.ConditionUnknown:
			pending = append(pending, d.Name)
		case c.Status == metav1.ConditionFalse:
			broken = append(broken, fmt.Sprintf("%s: %s: %s", d.Name, c.Reason, c.Message))
		}
	}
	sort.Strings(pending)
	return pending, broken, nil
}
