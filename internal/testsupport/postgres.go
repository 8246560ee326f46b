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

package testsupport

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"reportd.io/reportd/internal/sampledata"
)

// PostgresSuperuser is the superuser initdb creates in every cluster.
const PostgresSuperuser = "app"

// PostgresOptions configures StartPostgres. The zero value is a fresh,
// empty "reportd" database in a temporary cluster.
type PostgresOptions struct {
	// Database is the database to create; default "reportd".
	Database string
	// LoadSample, if set, loads the sample schema with these sizes (zero
	// fields take sampledata's defaults) and creates the read-only role
	// sampledata.DefaultReaderRole (see Postgres.ReaderURL).
	LoadSample *sampledata.Sizes
	// DataDir, if set, is a persistent directory for the cluster (its
	// data/, server.log and socket): an initialised cluster there is
	// reused, sample data already loaded is kept, and Stop leaves it in
	// place. Used by `reportd dev --state-dir`.
	DataDir string
	// TimeZone is the server's default TimeZone; default "UTC", so results
	// do not depend on the machine's zone.
	TimeZone string
}

// Postgres is a running throwaway PostgreSQL cluster on 127.0.0.1.
type Postgres struct {
	// URL connects to Database as the superuser "app".
	URL string
	// ReaderURL connects to Database as sampledata.DefaultReaderRole, a
	// role that row-level security binds; empty unless LoadSample was set.
	ReaderURL string
	// Database is the name of the database created.
	Database string
	// Port is the TCP port on 127.0.0.1.
	Port int
	// Dir holds data/, server.log and (usually) the unix socket.
	Dir string
	// LogPath is the server's log file.
	LogPath string

	readerPassword string
	persistent     bool
	socketDir      string
	ownSocketDir   bool
	timeZone       string

	// mu guards proc and stopped: fault tests shut the server down and
	// restart it while others read its PID.
	mu       sync.Mutex
	proc     *process
	stopped  bool
	stopOnce sync.Once
	stopErr  error
}

// NewPostgres starts a cluster for a test and stops it (and removes its
// directory) when the test ends; it fails the test if it cannot start.
func NewPostgres(t testing.TB, opts PostgresOptions) *Postgres {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	pg, err := StartPostgres(ctx, opts)
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	t.Cleanup(func() {
		if err := pg.Stop(); err != nil {
			t.Errorf("stop PostgreSQL: %v", err)
		}
	})
	return pg
}

// StartPostgres initialises (or reuses, with DataDir) a cluster, starts it
// on a free loopback port with durability off (fsync, synchronous_commit
// and full_page_writes: a test cluster trades crash safety for speed),
// creates the database and loads the sample data if asked. It never
// touches the machine's own cluster. Call Stop when done.
func StartPostgres(ctx context.Context, opts PostgresOptions) (*Postgres, error) {
	if opts.Database == "" {
		opts.Database = "reportd"
	}
	if opts.TimeZone == "" {
		opts.TimeZone = "UTC"
	}
	pg := &Postgres{Database: opts.Database, persistent: opts.DataDir != "", timeZone: opts.TimeZone}
	if err := pg.prepareDir(opts.DataDir); err != nil {
		return nil, err
	}
	if err := pg.start(ctx, opts); err != nil {
		_ = pg.Stop()
		return nil, err
	}
	return pg, nil
}

// start does everything after the directory exists; on error the caller
// stops what was started.
func (pg *Postgres) start(ctx context.Context, opts PostgresOptions) error {
	cred, err := postgresCredential()
	if err != nil {
		return err
	}
	if err := pg.initdb(ctx, cred); err != nil {
		return err
	}
	if err := pg.run(ctx, cred); err != nil {
		return err
	}
	if err := pg.createDatabase(ctx); err != nil {
		return err
	}
	if opts.LoadSample != nil {
		return pg.loadSample(ctx, *opts.LoadSample)
	}
	return nil
}

// prepareDir creates the cluster's directory (temporary unless dataDir is
// given) and, as root, hands it to the postgres user.
func (pg *Postgres) prepareDir(dataDir string) error {
	var err error
	if dataDir != "" {
		pg.Dir, err = filepath.Abs(dataDir)
		if err == nil {
			err = os.MkdirAll(pg.Dir, 0o700)
		}
	} else {
		// Not t.TempDir: its parents are private to root, and the server
		// runs as the postgres user, which must reach the directory.
		pg.Dir, err = os.MkdirTemp("", "reportd-pg-")
	}
	if err != nil {
		return fmt.Errorf("make the PostgreSQL directory: %w", err)
	}
	pg.LogPath = filepath.Join(pg.Dir, "server.log")
	cred, err := postgresCredential()
	if err != nil || cred == nil {
		return err
	}
	if err := os.Chown(pg.Dir, int(cred.Uid), int(cred.Gid)); err != nil {
		return fmt.Errorf("give %s to the postgres user: %w", pg.Dir, err)
	}
	return os.Chmod(pg.Dir, 0o700)
}

// postgresCredential returns the postgres user's credential when running
// as root (initdb and postgres refuse to run as root), else nil.
func postgresCredential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, PostgreSQL must run as the postgres user, which does not exist (%w): run `apt-get install -y postgresql`", err)
	}
	uid, _ := strconv.ParseUint(u.Uid, 10, 32)
	gid, _ := strconv.ParseUint(u.Gid, 10, 32)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// serverEnv is the environment of initdb and postgres: nothing of ours
// (no PG* variables that could point them elsewhere), a UTF-8 locale.
func serverEnv() []string {
	return []string{"PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "LC_ALL=C.UTF-8"}
}

// initdb creates the cluster in Dir/data unless one is already there.
func (pg *Postgres) initdb(ctx context.Context, cred *syscall.Credential) error {
	dataDir := filepath.Join(pg.Dir, "data")
	if _, err := os.Stat(filepath.Join(dataDir, "PG_VERSION")); err == nil {
		return nil
	}
	bin, err := postgresBinary("initdb")
	if err != nil {
		return err
	}
	return initCluster(ctx, bin, pg.Dir, dataDir, cred)
}

// run starts the server on a free port, retrying with another port when
// someone else took it first, and waits until it accepts connections.
func (pg *Postgres) run(ctx context.Context, cred *syscall.Credential) error {
	if err := pg.chooseSocketDir(cred); err != nil {
		return err
	}
	for attempt := 1; ; attempt++ {
		port, err := FreePort()
		if err != nil {
			return err
		}
		offset := logSize(pg.LogPath)
		err = pg.runOn(ctx, cred, port)
		if err == nil {
			return nil
		}
		if attempt == startAttempts || !lostPort(pg.LogPath, offset) {
			return err
		}
	}
}

// runOn starts the server on port and waits until it accepts connections;
// on failure the server is killed and the error carries its log's tail.
func (pg *Postgres) runOn(ctx context.Context, cred *syscall.Credential, port int) error {
	bin, err := postgresBinary("postgres")
	if err != nil {
		return err
	}
	pg.Port = port
	cmd := exec.Command(bin, "-D", filepath.Join(pg.Dir, "data"), "-p", strconv.Itoa(pg.Port),
		"-k", pg.socketDir, "-c", "listen_addresses=127.0.0.1",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		// Minimal WAL: tables filled in the transaction that created
		// them (sampledata.Load) skip the WAL, loading twice as fast.
		"-c", "wal_level=minimal", "-c", "max_wal_senders=0",
		"-c", "TimeZone="+pg.timeZone)
	cmd.Dir, cmd.Env = pg.Dir, serverEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	// SIGINT is PostgreSQL's fast shutdown: roll back sessions, exit.
	proc, err := startProcess("postgres", cmd, syscall.SIGINT, pg.LogPath)
	if err != nil {
		return err
	}
	pg.mu.Lock()
	pg.proc = proc
	pg.mu.Unlock()
	if err := pg.waitReady(ctx, proc); err != nil {
		proc.kill()
		return fmt.Errorf("%w%s", err, logTail(pg.LogPath, 20))
	}
	return nil
}

// maxSocketPath leaves room for "/.s.PGSQL.65535" in the 107 bytes a unix
// socket path may have.
const maxSocketPath = 90

// chooseSocketDir puts the socket in Dir, or in a short temporary
// directory when Dir's path is too long for a socket.
func (pg *Postgres) chooseSocketDir(cred *syscall.Credential) error {
	if len(pg.Dir) <= maxSocketPath {
		pg.socketDir = pg.Dir
		return nil
	}
	dir, err := os.MkdirTemp("", "reportd-pgsock-")
	if err != nil {
		return fmt.Errorf("make a PostgreSQL socket directory: %w", err)
	}
	pg.socketDir, pg.ownSocketDir = dir, true
	if cred != nil {
		return os.Chown(dir, int(cred.Uid), int(cred.Gid))
	}
	return nil
}

// waitReady polls until the server accepts a connection, it exits, or ctx
// or 30 seconds run out.
func (pg *Postgres) waitReady(ctx context.Context, proc *process) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for {
		conn, err := pgx.Connect(ctx, pg.urlFor(PostgresSuperuser, "", "postgres"))
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-proc.done:
			return proc.exitedWhileStarting()
		case <-ctx.Done():
			return fmt.Errorf("postgres did not accept connections on 127.0.0.1:%d: %w", pg.Port, err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// createDatabase creates the database unless it exists (a reused cluster).
func (pg *Postgres) createDatabase(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, pg.urlFor(PostgresSuperuser, "", "postgres"))
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", pg.Database).Scan(&exists); err != nil {
		return fmt.Errorf("look for database %s: %w", pg.Database, err)
	}
	if !exists {
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{pg.Database}.Sanitize()); err != nil {
			return fmt.Errorf("create database %s: %w", pg.Database, err)
		}
	}
	pg.URL = pg.urlFor(PostgresSuperuser, "", pg.Database)
	return nil
}

// loadSample loads the sample data (kept if a reused cluster has it) and
// (re)creates the reader role with a fresh random password.
func (pg *Postgres) loadSample(ctx context.Context, sizes sampledata.Sizes) error {
	conn, err := pgx.Connect(ctx, pg.URL)
	if err != nil {
		return fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	if err := sampledata.Load(ctx, conn, sizes); err != nil && (!pg.persistent || !errors.Is(err, sampledata.ErrSchemaExists)) {
		return fmt.Errorf("load the sample data: %w", err)
	}
	pg.readerPassword, err = randomHex(16)
	if err != nil {
		return err
	}
	if err := sampledata.CreateReaderRole(ctx, conn, sampledata.DefaultReaderRole, pg.readerPassword); err != nil {
		return err
	}
	pg.ReaderURL = pg.urlFor(sampledata.DefaultReaderRole, pg.readerPassword, pg.Database)
	return nil
}

// urlFor returns a URL for user (with password, if any) and database.
// TLS is off: the server has none, and asking first costs a round trip.
func (pg *Postgres) urlFor(userName, password, database string) string {
	u := &url.URL{
		Scheme:   "postgres",
		Host:     "127.0.0.1:" + strconv.Itoa(pg.Port),
		Path:     "/" + database,
		RawQuery: "sslmode=disable",
	}
	if password != "" {
		u.User = url.UserPassword(userName, password)
	} else {
		u.User = url.User(userName)
	}
	return u.String()
}

// DatabaseURL returns the superuser's URL for another database of this
// cluster, e.g. one made with CloneDatabase.
func (pg *Postgres) DatabaseURL(database string) string {
	return pg.urlFor(PostgresSuperuser, "", database)
}

// ReaderURLFor returns the reader role's URL for another database of this
// cluster; empty unless the sample data was loaded.
func (pg *Postgres) ReaderURLFor(database string) string {
	if pg.readerPassword == "" {
		return ""
	}
	return pg.urlFor(sampledata.DefaultReaderRole, pg.readerPassword, database)
}

// CloneDatabase creates database name as a copy of Database (schema, sample
// data and grants), so tests that write can each have their own copy
// without loading the data again. Nobody may be connected to Database
// while it is copied. It returns the superuser's URL for the copy.
func (pg *Postgres) CloneDatabase(ctx context.Context, name string) (string, error) {
	conn, err := pgx.Connect(ctx, pg.urlFor(PostgresSuperuser, "", "postgres"))
	if err != nil {
		return "", fmt.Errorf("connect to PostgreSQL: %w", err)
	}
	defer conn.Close(ctx)
	stmt := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{pg.Database}.Sanitize()
	if _, err := conn.Exec(ctx, stmt); err != nil {
		return "", fmt.Errorf("copy database %s to %s: %w", pg.Database, name, err)
	}
	return pg.DatabaseURL(name), nil
}

// PID returns the postmaster's process id (of the latest start), 0 if it
// never started.
func (pg *Postgres) PID() int {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.proc == nil {
		return 0
	}
	return pg.proc.pid()
}

// Shutdown stops the server as `pg_ctl stop -m fast` does, for fault
// tests: open sessions end with an error (SQLSTATE 57P01), new
// connections are refused. The data stay; Restart brings the server back.
func (pg *Postgres) Shutdown() error {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.proc == nil {
		return errors.New("PostgreSQL never started")
	}
	return pg.proc.stop()
}

// Restart starts the server again after Shutdown (or shuts it down first),
// on the same port, with the same data, roles and passwords, so URLs
// handed out earlier keep working.
func (pg *Postgres) Restart(ctx context.Context) error {
	pg.mu.Lock()
	if pg.stopped {
		pg.mu.Unlock()
		return errors.New("PostgreSQL was stopped for good; start a new one")
	}
	var err error
	if pg.proc != nil {
		err = pg.proc.stop()
	}
	pg.mu.Unlock()
	if err != nil {
		return err
	}
	cred, err := postgresCredential()
	if err != nil {
		return err
	}
	return pg.runOn(ctx, cred, pg.Port)
}

// Stop shuts the server down (fast shutdown: open sessions are rolled
// back), waits until it has exited, and removes its directory unless it
// is a persistent DataDir. Calling it again does nothing.
func (pg *Postgres) Stop() error {
	pg.stopOnce.Do(func() {
		pg.mu.Lock()
		defer pg.mu.Unlock()
		pg.stopped = true
		var errs []error
		if pg.proc != nil {
			errs = append(errs, pg.proc.stop())
		}
		if pg.ownSocketDir {
			errs = append(errs, os.RemoveAll(pg.socketDir))
		}
		if !pg.persistent && pg.Dir != "" {
			errs = append(errs, os.RemoveAll(pg.Dir))
		}
		pg.stopErr = errors.Join(errs...)
	})
	return pg.stopErr
}

// randomHex returns n random bytes in hex, for passwords and keys.
func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("read random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
