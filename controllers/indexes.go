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

package controllers

import (
	"context"
	"fmt"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"reportd.io/reportd/api/v1alpha1"
)

// Cache field indexes of the controllers in this file's package.
const (
	// IndexRequestType holds a ReportRequest's spec.type: the requests
	// waiting on a definition are found when it changes.
	IndexRequestType = "reportd.request.type"
	// IndexDefinitionSecret holds the name of the Secret a ReportDefinition
	// reads its datasource URL from (its own, or the manager's default):
	// the definitions to recheck are found when a Secret changes.
	IndexDefinitionSecret = "reportd.definition.secret"
)

// indexRequestType registers IndexRequestType.
func indexRequestType(ctx context.Context, indexer client.FieldIndexer) error {
	err := indexer.IndexField(ctx, &v1alpha1.ReportRequest{}, IndexRequestType, func(obj client.Object) []string {
		rr, ok := obj.(*v1alpha1.ReportRequest)
		if !ok || rr.Spec.Type == "" {
			return nil
		}
		return []string{rr.Spec.Type}
	})
	if err != nil {
		return fmt.Errorf("indexing ReportRequests by type: %w", err)
	}
	return nil
}

// indexDefinitionSecret registers IndexDefinitionSecret; s names the
// default Secret of definitions without spec.datasource.
func indexDefinitionSecret(ctx context.Context, indexer client.FieldIndexer, s JobSettings) error {
	err := indexer.IndexField(ctx, &v1alpha1.ReportDefinition{}, IndexDefinitionSecret, func(obj client.Object) []string {
		def, ok := obj.(*v1alpha1.ReportDefinition)
		if !ok {
			return nil
		}
		if name := datasourceRef(def, s).Name; name != "" {
			return []string{name}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("indexing ReportDefinitions by datasource Secret: %w", err)
	}
	return nil
}
