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

package sampledata_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/internal/sampledata"
)

// BenchmarkLoadOneMillionOrders measures Load at benchmark scale, each
// iteration into a fresh database of the shared cluster:
//
//	go test -run '^$' -bench LoadOneMillion -benchtime 1x ./internal/sampledata
func BenchmarkLoadOneMillionOrders(b *testing.B) {
	ctx := context.Background()
	admin, err := pgx.Connect(ctx, shared.URL)
	if err != nil {
		b.Fatal(err)
	}
	defer admin.Close(ctx)
	sizes := sampledata.Sizes{Users: 10_000, Orders: 1_000_000, Products: 1_000}
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		name := fmt.Sprintf("bench_%d", i)
		if _, err := admin.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			b.Fatal(err)
		}
		conn, err := pgx.Connect(ctx, shared.DatabaseURL(name))
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		if err := sampledata.Load(ctx, conn, sizes); err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		conn.Close(ctx)
		if _, err := admin.Exec(ctx, "DROP DATABASE "+name); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}
