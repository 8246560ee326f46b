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
	"strings"
	"testing"
)

func TestFixedAddressKeepsAGivenPortAndFixesAFreeOne(t *testing.T) {
	if got, err := fixedAddress("127.0.0.1:8082"); err != nil || got != "127.0.0.1:8082" {
		t.Errorf("a given port: %q, %v", got, err)
	}
	got, err := fixedAddress("127.0.0.1:0")
	if err != nil || !strings.HasPrefix(got, "127.0.0.1:") || strings.HasSuffix(got, ":0") {
		t.Errorf("port 0: %q, %v; want a chosen port on 127.0.0.1", got, err)
	}
	if _, err := fixedAddress("localhost"); err == nil {
		t.Error("an address without a port was accepted")
	}
}
