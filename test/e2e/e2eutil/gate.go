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

package e2eutil

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/devstack"
)

// GatedType is a report type whose rows stop at a gate: at row gateRow
// its query waits for a shared advisory lock on gateKey, which the test
// holds (see Gate). So a report stands still in the middle of its rows,
// with some stored and progress shown, for as long as the test needs,
// however slow the machine. Its rows are numbers first..last with an md5
// and a pad of width md5s (32 characters each), so a report's size is
// chosen freely; progress comes from the N column moving from first to
// last (KeyRange: no count query, which would stop at the gate too). No
// ORDER BY: a sort would read every row, and wait at the gate, before
// sending the first.
const GatedType = "gated"

// gatedTypeYAML is the gated type's definition.
const gatedTypeYAML = `apiVersion: reports.reportd.io/v1alpha1
kind: ReportDefinition
metadata:
  name: ` + GatedType + `
spec:
  description: Numbered rows that stop at a gate the test opens.
  query: |
    SELECT g AS "N", md5(g::text) AS "Hash", repeat(md5(g::text), @width::int) AS "Pad"
    FROM generate_series(@first::int, @last::int) AS g
    WHERE e2e_gate(g, @gateRow::int, @gateKey::bigint)
  parameters:
  - {name: first, type: integer, required: true}
  - {name: last, type: integer, required: true}
  - {name: width, type: integer, default: "1", min: 0}
  - {name: gateRow, type: integer, default: "0", min: 0}
  - {name: gateKey, type: integer, default: "0"}
  timeZone: UTC
  timeout: 10m
  progress:
    mode: KeyRange
    keyColumn: "N"
    startParameter: first
    endParameter: last
`

// gateFunction waits at row gate_row until the gate's advisory lock is
// free. Advisory locks are outside the report's snapshot, so the test's
// unlock is seen at once; EXECUTE on functions and advisory locks are
// everyone's by default, so the read-only datasource role may use both.
const gateFunction = `CREATE OR REPLACE FUNCTION e2e_gate(n int, gate_row int, gate_key bigint) RETURNS boolean
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
  IF n = gate_row THEN
    PERFORM pg_advisory_xact_lock_shared(gate_key);
  END IF;
  RETURN true;
END $$`

// InstallGatedType creates the gate function in the stack's database and
// the gated definition in its namespace, and waits until the manager has
// checked it against the database.
func InstallGatedType(ctx context.Context, stack *devstack.Stack) error {
	conn, err := pgx.Connect(ctx, stack.Postgres.URL)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, gateFunction); err != nil {
		return fmt.Errorf("create the gate function: %w", err)
	}
	def := &v1alpha1.ReportDefinition{}
	if err := yaml.UnmarshalStrict([]byte(gatedTypeYAML), def); err != nil {
		return fmt.Errorf("read the gated definition: %w", err)
	}
	def.Namespace = stack.Namespace
	if err := stack.Client.Create(ctx, def); err != nil {
		return fmt.Errorf("create definition %s: %w", def.Name, err)
	}
	return stack.WaitDefinitionsReady(ctx)
}

// Gate holds the advisory lock that gated reports wait for at their gate
// row, on a session of its own.
type Gate struct {
	// Key is the lock's key: a gated report's gateKey parameter.
	Key  int64
	conn *pgx.Conn
}

// gateKeys numbers the gates of a run.
var gateKeys atomic.Int64

// CloseGate takes a new gate's lock in the database at pgURL; the gate
// opens when the test ends at the latest.
func CloseGate(t testing.TB, pgURL string) *Gate {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, pgURL)
	if err != nil {
		t.Fatalf("connect to PostgreSQL for a gate: %v", err)
	}
	g := &Gate{Key: 7000 + gateKeys.Add(1), conn: conn}
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock($1)", g.Key); err != nil {
		t.Fatalf("close gate %d: %v", g.Key, err)
	}
	t.Cleanup(g.Open)
	return g
}

// Open lets the gated reports through: the lock goes with its session.
// A session the database already ended (it was stopped) is fine.
func (g *Gate) Open() {
	if g.conn == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_ = g.conn.Close(ctx)
	g.conn = nil
}
