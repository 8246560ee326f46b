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

package manager

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
	"reportd.io/reportd/generator"
)

// checkTimeout bounds one definition check, connection included.
const checkTimeout = 30 * time.Second

// NewDefinitionChecker returns the generator's definition check, run over
// a short-lived connection to each definition's datasource (a check is
// rare: after a change, or once per definition after a restart).
func NewDefinitionChecker() controllers.DefinitionChecker {
	return controllers.DefinitionCheckerFunc(checkDefinition)
}

// checkDefinition connects to url with the definition's query exec mode
// and runs generator.CheckDefinition. The URL carries credentials: no
// message ever repeats it.
func checkDefinition(ctx context.Context, url string, def *v1alpha1.ReportDefinition) controllers.CheckResult {
	ctx, cancel := context.WithTimeout(ctx, checkTimeout)
	defer cancel()
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return controllers.CheckResult{Reason: "DatasourceURLInvalid",
			Message: "The datasource Secret does not hold a valid PostgreSQL URL (postgres://user:password@host:port/database)."}
	}
	if ds := def.Spec.Datasource; ds != nil && ds.QueryExecMode != "" {
		mode, err := generator.ExecMode(ds.QueryExecMode)
		if err != nil {
			return controllers.CheckResult{Reason: generator.ReasonDefinitionInvalid, Message: err.Error()}
		}
		cfg.DefaultQueryExecMode = mode
	}
	conn, err := pgx.ConnectConfig(ctx, cfg)
	if err != nil {
		return controllers.CheckResult{Reason: generator.ReasonDatasourceUnavailable, Transient: true,
			Message: "Could not connect to the datasource: " + err.Error()}
	}
	defer func() { _ = conn.Close(context.WithoutCancel(ctx)) }()
	res := generator.CheckDefinition(ctx, conn, &def.Spec)
	return controllers.CheckResult{
		Ready: res.Ready, Reason: res.Reason, Message: res.Message, Columns: res.Columns, Transient: res.Transient,
	}
}
