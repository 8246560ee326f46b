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

package generator

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/jackc/pgx/v5"
	"sigs.k8s.io/yaml"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator/encode"
	"reportd.io/reportd/internal/params"
	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/testsupport"
)

// loadSample reads a sample ReportDefinition from config/samples.
func loadSample(t *testing.T, name string) *v1alpha1.ReportDefinition {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "config", "samples", "reports_v1alpha1_reportdefinition_"+name+".yaml"))
	if err != nil {
		t.Fatal(err)
	}
	def := &v1alpha1.ReportDefinition{}
	if err := yaml.UnmarshalStrict(data, def); err != nil {
		t.Fatalf("sample %s: %v", name, err)
	}
	return def
}

// sampleRun runs a sample definition as the generator would, as the
// reader role, and returns the CSV's records.
func sampleRun(t *testing.T, ctx context.Context, db TxBeginner, def *v1alpha1.ReportDefinition, values map[string]v1alpha1.ParameterValue) [][]string {
	t.Helper()
	bound, err := params.Bind(&def.Spec, values, "")
	if err != nil {
		t.Fatalf("Bind: %v", err)
	}
	q := Query{SQL: def.Spec.Query, Params: bound.Values, TimeZone: bound.TimeZone, Requester: "sample@example.com"}
	return readCSV(t, streamTo(t, ctx, db, q, v1alpha1.FormatCSV, encode.Options{Location: bound.Location}))
}

// column returns the values of a named column, header excluded.
func column(t *testing.T, records [][]string, name string) []string {
	t.Helper()
	i := slices.Index(records[0], name)
	if i < 0 {
		t.Fatalf("no column %q in %v", name, records[0])
	}
	out := make([]string, 0, len(records)-1)
	for _, r := range records[1:] {
		out = append(out, r[i])
	}
	return out
}

func TestSamples(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), sourceTestTimeout)
	defer cancel()
	pg := testsupport.NewPostgres(t, testsupport.PostgresOptions{LoadSample: &sampledata.Sizes{Users: 300, Orders: 20_000, Products: 150}})
	admin := connect(t, ctx, pg.URL)
	reader := connect(t, ctx, pg.ReaderURL)
	for _, name := range []string{"sales", "users", "inventory"} {
		t.Run(name+" is ready against the sample schema", func(t *testing.T) {
			def := loadSample(t, name)
			if def.Name != name {
				t.Errorf("metadata.name = %q, want %q", def.Name, name)
			}
			if got := CheckDefinition(ctx, reader, &def.Spec); !got.Ready {
				t.Errorf("CheckDefinition = %+v", got)
			}
		})
	}
	t.Run("sales lists the orders of both days and all between, in order", func(t *testing.T) { testSalesSample(t, ctx, admin, reader) })
	t.Run("users counts each user's orders in one query", func(t *testing.T) { testUsersSample(t, ctx, admin, reader) })
	t.Run("inventory flags what needs reordering", func(t *testing.T) { testInventorySample(t, ctx, admin, reader) })
}

func testSalesSample(t *testing.T, ctx context.Context, admin *pgx.Conn, reader *pgx.Conn) {
	def := loadSample(t, "sales")
	records := sampleRun(t, ctx, reader, def, map[string]v1alpha1.ParameterValue{"startDate": "2024-03-01", "endDate": "2024-03-31"})
	if diff := cmp.Diff([]string{"Date", "OrderId", "Customer", "Amount", "Status"}, records[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	var want int
	err := admin.QueryRow(ctx, `SELECT count(*) FROM orders WHERE created_at >= '2024-03-01T00:00:00Z' AND created_at < '2024-04-01T00:00:00Z'`).Scan(&want)
	if err != nil {
		t.Fatal(err)
	}
	dates := column(t, records, "Date")
	if len(dates) != want || want == 0 {
		t.Fatalf("%d rows, the database has %d orders in March 2024", len(dates), want)
	}
	if !slices.IsSorted(dates) { // same zone and format: text order is time order
		t.Error("the rows are not ordered by Date")
	}
	if !strings.HasPrefix(dates[0], "2024-03-01 ") || !strings.HasPrefix(dates[len(dates)-1], "2024-03-31 ") {
		t.Errorf("first and last dates %q and %q; want the 1st and the 31st, both days included", dates[0], dates[len(dates)-1])
	}
	for _, a := range column(t, records, "Amount") {
		if _, err := strconv.ParseFloat(a, 64); err != nil || !strings.Contains(a, ".") {
			t.Fatalf("Amount %q is not numeric(12,2) text", a)
		}
	}
	// One day, in another zone: the day runs midnight to midnight there.
	bound, err := params.Bind(&def.Spec, map[string]v1alpha1.ParameterValue{"startDate": "2024-07-01", "endDate": "2024-07-01"}, "Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	var rows [][]string
	q := Query{SQL: def.Spec.Query, Params: bound.Values, TimeZone: bound.TimeZone}
	if _, err := Stream(ctx, reader, q, Handler{Row: func(v [][]byte) error {
		rows = append(rows, []string{string(v[0])})
		return nil
	}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		if !strings.HasPrefix(r[0], "2024-07-01 ") || !strings.HasSuffix(r[0], "+09") {
			t.Fatalf("Tokyo's 1 July report holds %q", r[0])
		}
	}
	if _, err := params.Bind(&def.Spec, map[string]v1alpha1.ParameterValue{"startDate": "2024-02-01", "endDate": "2024-01-01"}, ""); err == nil ||
		err.Error() != "startDate must not be after endDate" {
		t.Errorf("start after end: %v", err)
	}
}

func testUsersSample(t *testing.T, ctx context.Context, admin *pgx.Conn, reader *pgx.Conn) {
	records := sampleRun(t, ctx, reader, loadSample(t, "users"), nil)
	if diff := cmp.Diff([]string{"UserId", "Email", "CreatedAt", "LastLogin", "OrderCount"}, records[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	if len(records) != 301 {
		t.Fatalf("%d users, want 300", len(records)-1)
	}
	wantCounts := map[string]string{}
	rows, err := admin.Query(ctx, `SELECT u.id::text, (SELECT count(*) FROM orders o WHERE o.user_id = u.id)::text FROM users u`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, n string
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		wantCounts[id] = n
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	ids, counts, logins := column(t, records, "UserId"), column(t, records, "OrderCount"), column(t, records, "LastLogin")
	zero, neverLoggedIn := 0, 0
	for i, id := range ids {
		if counts[i] != wantCounts[id] {
			t.Errorf("user %s: OrderCount %s, want %s", id, counts[i], wantCounts[id])
		}
		if counts[i] == "0" {
			zero++
		}
		if logins[i] == "" {
			neverLoggedIn++
		}
	}
	if zero == 0 || neverLoggedIn == 0 {
		t.Errorf("%d users without orders and %d never logged in; the sample data has both", zero, neverLoggedIn)
	}
	if column(t, records, "Email")[0] != sampledata.DemoUsers[0] {
		t.Errorf("first user %q, want %q", column(t, records, "Email")[0], sampledata.DemoUsers[0])
	}
}

func testInventorySample(t *testing.T, ctx context.Context, admin *pgx.Conn, reader *pgx.Conn) {
	def := loadSample(t, "inventory")
	all := sampleRun(t, ctx, reader, def, nil)
	if diff := cmp.Diff([]string{"ProductId", "SKU", "Name", "Stock", "ReorderLevel", "NeedsReorder"}, all[0]); diff != "" {
		t.Fatalf("header (-want +got):\n%s", diff)
	}
	if len(all) != 151 {
		t.Fatalf("%d products by default, want all 150", len(all)-1)
	}
	var wantBelow int
	if err := admin.QueryRow(ctx, "SELECT count(*) FROM products WHERE stock < reorder_level").Scan(&wantBelow); err != nil {
		t.Fatal(err)
	}
	below := sampleRun(t, ctx, reader, def, map[string]v1alpha1.ParameterValue{"onlyBelowReorder": "true"})
	if len(below)-1 != wantBelow || wantBelow == 0 {
		t.Fatalf("onlyBelowReorder gave %d products, the database has %d below their reorder level", len(below)-1, wantBelow)
	}
	stock, level, flag := column(t, below, "Stock"), column(t, below, "ReorderLevel"), column(t, below, "NeedsReorder")
	for i := range stock {
		s, _ := strconv.Atoi(stock[i])
		l, _ := strconv.Atoi(level[i])
		if s >= l || flag[i] != "t" {
			t.Errorf("product %s: stock %s, reorder level %s, NeedsReorder %s", below[i+1][0], stock[i], level[i], flag[i])
		}
	}
	flags := column(t, all, "NeedsReorder")
	if !slices.Contains(flags, "t") || !slices.Contains(flags, "f") {
		t.Error("the full inventory should hold products on both sides of the reorder level")
	}
}

// TestSamplesKustomization checks that config/samples lists every sample
// definition.
func TestSamplesKustomization(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "config", "samples", "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		Resources []string `json:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"sales", "users", "inventory"} {
		file := "reports_v1alpha1_reportdefinition_" + name + ".yaml"
		if !slices.Contains(k.Resources, file) {
			t.Errorf("kustomization.yaml does not list %s", file)
		}
	}
}
