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

package main

import "testing"

// TestMedian checks the statistic the benchmark reports for its
// interleaved rounds: the middle rate, whatever order the rounds came in.
func TestMedian(t *testing.T) {
	for _, tc := range []struct {
		rates []float64
		want  float64
	}{
		{[]float64{159412}, 159412},
		{[]float64{161488, 133653, 159412}, 159412},
		{[]float64{119519, 161449, 158854}, 158854},
		{[]float64{4, 1, 3, 2}, 2.5},
	} {
		if got := median(tc.rates); got != tc.want {
			t.Errorf("median(%v) = %v, want %v", tc.rates, got, tc.want)
		}
	}
}
