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

package storage

// SetPartGrowth makes an S3 store grow its part size every growEvery parts
// instead of every 1,000, so a test sees growth with a few parts.
func SetPartGrowth(s Store, growEvery int) {
	s.(*s3Store).growEvery = growEvery
}

// PartSize exposes the part size schedule to tests.
func PartSize(first int64, n, growEvery int) int64 { return partSize(first, n, growEvery) }
