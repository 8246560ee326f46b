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
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"syscall"

	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// startPostgres starts PostgreSQL with the sample data and the read-only
// datasource role; its cluster lives in the data directory when
// persistent (the data loaded once are kept), else in a temporary one.
func (s *Stack) startPostgres(ctx context.Context) error {
	opts := testsupport.PostgresOptions{LoadSample: &s.opts.Sizes}
	if s.opts.Persist {
		opts.DataDir = filepath.Join(s.dataDir, "postgres")
		if err := checkReachableByPostgres(opts.DataDir); err != nil {
			return err
		}
	}
	pg, err := testsupport.StartPostgres(ctx, opts)
	if err != nil {
		return err
	}
	s.Postgres = pg
	s.onStop("PostgreSQL", pg.Stop)
	return nil
}

// checkReachableByPostgres fails clearly when, running as root, the
// postgres user (PostgreSQL refuses to run as root) could not reach dir
// because a parent directory is closed to other users.
func checkReachableByPostgres(dir string) error {
	if os.Geteuid() != 0 {
		return nil
	}
	pgUser, lookupErr := user.Lookup("postgres")
	if lookupErr != nil {
		// StartPostgres fails next, saying how to install PostgreSQL.
		return nil //nolint:nilerr // not this check's error to report
	}
	uid, _ := strconv.Atoi(pgUser.Uid)
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		info, err := os.Stat(d)
		if err == nil && info.Mode().Perm()&0o001 == 0 && !ownedBy(info, uid) {
			return fmt.Errorf("PostgreSQL runs as the postgres user, which cannot enter %s (mode %v): choose a --state-dir elsewhere, or run chmod o+x %s", d, info.Mode().Perm(), d)
		}
		if filepath.Dir(d) == d {
			return nil
		}
	}
}

// startStorage starts the S3 server, or makes the files directory, and
// opens the store the manager and the tests use.
func (s *Stack) startStorage(ctx context.Context) error {
	cfg, err := s.storageConfig(ctx)
	if err != nil {
		return err
	}
	s.storageCfg = cfg
	s.StorageURL = cfg.URL
	s.Store, err = storage.New(ctx, cfg)
	return err
}

// storageConfig is the manager's (and the facade's) storage configuration.
func (s *Stack) storageConfig(ctx context.Context) (storage.Config, error) {
	if !s.opts.S3 {
		dir := filepath.Join(s.dataDir, "files")
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return storage.Config{}, err
		}
		return storage.Config{URL: "file://" + dir}, nil
	}
	opts := testsupport.S3Options{}
	if s.opts.Persist {
		opts.Dir = filepath.Join(s.dataDir, "s3")
	}
	srv, err := testsupport.StartS3(ctx, opts)
	if err != nil {
		return storage.Config{}, err
	}
	s.S3 = srv
	s.onStop("the S3 server", srv.Stop)
	return storage.Config{
		URL: "s3://" + srv.Bucket, Endpoint: srv.Endpoint, Region: srv.Region, PathStyle: true,
		AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
	}, nil
}

// ownedBy reports whether uid owns the file.
func ownedBy(info os.FileInfo, uid int) bool {
	st, ok := info.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == uid
}

// startMail starts mailpit; the manager sends notification e-mails there
// and its web UI shows them.
func (s *Stack) startMail(ctx context.Context) error {
	srv, err := testsupport.StartSMTP(ctx)
	if err != nil {
		return err
	}
	s.Mail = srv
	s.onStop("the mail server", srv.Stop)
	return nil
}
