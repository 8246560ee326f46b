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

// Package devstack runs reportd's whole local stack on one machine, with
// no cluster and no Docker: a Kubernetes control plane (etcd and
// kube-apiserver through envtest, and kube-controller-manager for its
// garbage collector), PostgreSQL with the sample data and a read-only
// datasource role, file or S3 (versitygw) storage, an SMTP server
// (mailpit) that catches notification e-mails, and, in this process,
// reportd's manager with the local Job executor and the facade. The
// namespace gets what a Helm install would give it: the datasource Secret,
// the generator's ServiceAccount and Role, the requester admission policy
// and the sample ReportDefinitions.
//
// `reportd dev`, the end-to-end tests and benchmarks start it with Start
// and end it with Stop, which stops everything in reverse order and
// removes every temporary directory. With Options.JobController the
// stack runs Jobs the production way instead: kube-controller-manager's
// job controller creates their pods from reportd's template, and no
// process runs them (there is no kubelet).
package devstack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"reportd.io/reportd/internal/sampledata"
	"reportd.io/reportd/internal/storage"
	"reportd.io/reportd/internal/testsupport"
)

// Defaults of Options.
const (
	// DefaultNamespace is where reports are requested.
	DefaultNamespace = "reports"
	// DefaultFacadeAddress lets the facade pick a free loopback port.
	DefaultFacadeAddress = "127.0.0.1:0"
	// DefaultGeneratorImage is the image Jobs name; the local executor
	// runs the local binary instead.
	DefaultGeneratorImage = "reportd.io/reportd:dev"
	// DefaultPodSecurity is the Pod Security level enforced on the
	// namespace, so the stack rejects a pod template production would.
	DefaultPodSecurity = "restricted"
)

// Names of what the stack creates in the namespace. The manager's
// defaults name the same Secret and ServiceAccount.
const (
	// DatasourceSecret holds the reader role's PostgreSQL URL at key "url".
	DatasourceSecret = "reportd-datasource"
	// S3CredentialsSecret holds the Jobs' S3 keys (with Options.S3).
	S3CredentialsSecret = "reportd-s3"
	// GeneratorAccount is the ServiceAccount report Jobs run as.
	GeneratorAccount = "reportd-generator"
)

// fieldOwner is the stack's field manager for what it applies.
const fieldOwner = "reportd-dev"

// definitionsReadyWait bounds the wait for the sample definitions' check.
const definitionsReadyWait = 2 * time.Minute

// Options configure a Stack. The zero value is a throwaway stack in the
// "reports" namespace with file storage and the default sample sizes.
type Options struct {
	// StateDir holds the user's kubeconfig and the logs, and with Persist
	// the data. Empty: a temporary directory, removed by Stop.
	StateDir string
	// Persist keeps the cluster's objects (etcd), the database and the
	// report files in StateDir/data, so they survive a restart. Without
	// it they live in a temporary directory that Stop removes.
	Persist bool
	// Namespace is where reports are requested; default "reports".
	Namespace string
	// S3 stores reports in a local S3 server (versitygw) instead of files.
	S3 bool
	// Sizes of the sample data (zero fields: sampledata's defaults).
	Sizes sampledata.Sizes
	// FacadeAddress is where the facade listens; default 127.0.0.1:0 (a
	// free port; Stack.FacadeURL tells which).
	FacadeAddress string
	// GeneratorBinary is the reportd executable the local executor runs
	// for `reportd generate`; default this process's own executable.
	GeneratorBinary string
	// JobController runs kube-controller-manager's job controller instead
	// of the local executor: Jobs are created the production way (no
	// spec.managedBy) and get pods, which no kubelet runs. The API server
	// then also admits pods through its ServiceAccount plugin, so a pod
	// naming a missing ServiceAccount is refused as in a cluster.
	JobController bool
	// GeneratorImage is the image named in Jobs; default DefaultGeneratorImage.
	GeneratorImage string
	// PodSecurity is the Pod Security level enforced on the namespace
	// (pod-security.kubernetes.io/enforce); default "restricted".
	PodSecurity string
	// ProgressInterval is the manager's least time between two progress
	// writes of a report; the manager's default when zero.
	ProgressInterval time.Duration
	// RepoDir is the reportd source tree whose config/ (CRDs, RBAC,
	// policy, samples) is installed; found from the working directory,
	// else from where this package was compiled, when empty.
	RepoDir string
	// Progress receives one line per start-up step with its duration;
	// nothing is written when nil.
	Progress io.Writer
	// ManagerBinary, when set, runs the manager (with the local executor
	// and the facade) as a child process of this reportd executable,
	// `reportd manager` with the stack's settings, instead of in this
	// process; Stack.Manager kills and restarts it, for fault tests. Its
	// log is LogDir/manager.log; Logger then receives nothing of it, and
	// Done is never closed. The local executor runs this binary too unless
	// GeneratorBinary says otherwise.
	ManagerBinary string
	// ManagerEnv adds environment variables to the manager process, e.g.
	// REPORTD_<FLAG>=value for a flag the stack does not set.
	ManagerEnv []string
	// Logger receives the manager's, executor's and facade's logs.
	// Start also makes it controller-runtime's and klog's global logger,
	// since parts of client-go log only there. Discarded when unset.
	Logger logr.Logger
}

// DemoUser is a user of the facade's token file.
type DemoUser struct {
	// Name is the identity reports are requested as (spec.requestedBy).
	Name string `json:"name"`
	// Email is where notifications go.
	Email string `json:"email"`
	// Token is the user's bearer token.
	Token string `json:"token"`
}

// Stack is a running local stack. Its fields describe how to reach it.
type Stack struct {
	// Namespace holds the reports, definitions, Secrets and RBAC.
	Namespace string
	// StateDir is the state directory (absolute).
	StateDir string
	// Kubeconfig is a kubeconfig file of an administrator (system:masters).
	Kubeconfig string
	// Config is the administrator's REST configuration.
	Config *rest.Config
	// Client is a client of the administrator.
	Client client.Client
	// Env is the control plane, e.g. to add users with Env.AddUser.
	Env *envtest.Environment
	// FacadeURL is the facade's base URL, e.g. http://127.0.0.1:8082.
	FacadeURL string
	// Users are the facade's demo users: alice, then bob.
	Users []DemoUser
	// Postgres is the database server; Postgres.URL is the superuser's
	// URL, Postgres.ReaderURL the datasource role's.
	Postgres *testsupport.Postgres
	// S3 is the S3 server; nil with file storage.
	S3 *testsupport.S3
	// Mail is the SMTP server (mailpit) notification e-mails go to; its
	// web UI, at Mail.APIURL, shows them.
	Mail *testsupport.SMTP
	// StorageURL is where report files go (file:///... or s3://bucket).
	StorageURL string
	// Store reads and deletes report files, as the manager does.
	Store storage.Store
	// LogDir holds kube-controller-manager's and the manager's logs.
	LogDir string
	// Manager is the manager's process with Options.ManagerBinary; nil
	// when the manager runs in this process.
	Manager *ManagerProcess

	opts    Options
	repoDir string
	runDir  string
	dataDir string
	// storageCfg is the storage as the manager and the facade reach it.
	storageCfg storage.Config
	started    time.Time
	readyAt    time.Time

	// mu guards stops and the progress output while steps run side by side.
	mu sync.Mutex
	// stops undo what Start did, in reverse order.
	stops    []namedStop
	stopOnce sync.Once
	stopErr  error

	managerDone chan struct{}
	managerErr  error
}

// namedStop is one thing to undo at Stop.
type namedStop struct {
	name string
	fn   func() error
}

// Start starts the stack and returns once reports can be requested: the
// sample definitions have been checked against the database and the
// facade answers. ctx bounds the start only; the stack runs until Stop.
// On error everything already started is stopped again.
func Start(ctx context.Context, opts Options) (*Stack, error) {
	s := &Stack{opts: withDefaults(opts), started: time.Now(), managerDone: make(chan struct{})}
	s.Namespace = s.opts.Namespace
	// envtest, the manager and client-go log through these globals.
	ctrl.SetLogger(s.opts.Logger)
	klog.SetLogger(s.opts.Logger)
	if err := s.start(ctx); err != nil {
		return nil, errors.Join(err, s.Stop())
	}
	return s, nil
}

// withDefaults fills in the defaults of Options.
func withDefaults(o Options) Options {
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.FacadeAddress == "" {
		o.FacadeAddress = DefaultFacadeAddress
	}
	if o.GeneratorImage == "" {
		o.GeneratorImage = DefaultGeneratorImage
	}
	if o.PodSecurity == "" {
		o.PodSecurity = DefaultPodSecurity
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	return o
}

// startStep is one start-up step: what it says while running, and how.
type startStep struct {
	name string
	run  func(context.Context) error
}

// start runs the start-up steps; each registers how to undo it. The
// control plane and the database start side by side: neither needs the
// other, and both spend much of their start waiting.
func (s *Stack) start(ctx context.Context) error {
	if err := s.prepareDirs(); err != nil {
		return err
	}
	err := s.parallel(ctx,
		[]startStep{
			{"control plane: etcd, kube-apiserver, reportd's CRDs", s.startControlPlane},
			{"kube-controller-manager: " + s.controllersText(), s.startControllerManager},
		},
		[]startStep{
			{"PostgreSQL with " + sizesText(s.opts.Sizes) + " and a read-only role", s.startPostgres},
			{"storage: " + s.storageText(), s.startStorage},
			{"mail: mailpit, where notification e-mails go", s.startMail},
		},
	)
	if err != nil {
		return err
	}
	for _, step := range []startStep{
		{"namespace " + s.Namespace + ": datasource Secret, generator RBAC, policy, sample definitions", s.installObjects},
		{"manager, " + s.runnerText() + " and facade", s.launchManager},
		{"sample definitions checked against the database", s.WaitDefinitionsReady},
	} {
		if err := s.step(ctx, step); err != nil {
			return err
		}
	}
	s.readyAt = time.Now()
	return nil
}

// parallel runs each sequence of steps in its own goroutine and waits
// for all of them, so every started part is registered for Stop.
func (s *Stack) parallel(ctx context.Context, sequences ...[]startStep) error {
	errs := make([]error, len(sequences))
	var wg sync.WaitGroup
	for i, seq := range sequences {
		wg.Go(func() {
			for _, step := range seq {
				if errs[i] = s.step(ctx, step); errs[i] != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// step runs one start-up step and reports it, with its duration, once
// it has finished (steps may run side by side).
func (s *Stack) step(ctx context.Context, step startStep) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("start interrupted before %s: %w", step.name, err)
	}
	began := time.Now()
	err := step.run(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		fmt.Fprintf(s.opts.Progress, "  %-90s failed\n", step.name)
		return fmt.Errorf("%s: %w", step.name, err)
	}
	fmt.Fprintf(s.opts.Progress, "  %-90s %5.1fs\n", step.name, time.Since(began).Seconds())
	return nil
}

// onStop registers an undo step.
func (s *Stack) onStop(name string, fn func() error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.stops = append(s.stops, namedStop{name: name, fn: fn})
}

// Stop stops the manager, kube-controller-manager, the control plane, the
// storage and database servers, in reverse order of their start, waits
// for each to exit, and removes the temporary directories. Persistent
// data stay. Calling it again does nothing.
func (s *Stack) Stop() error {
	s.stopOnce.Do(func() {
		var errs []error
		for i := len(s.stops) - 1; i >= 0; i-- {
			if err := s.stops[i].fn(); err != nil {
				errs = append(errs, fmt.Errorf("stopping %s: %w", s.stops[i].name, err))
			}
		}
		s.stopErr = errors.Join(errs...)
	})
	return s.stopErr
}

// Done is closed when the manager has stopped, by Stop or by a failure
// (Err tells which).
func (s *Stack) Done() <-chan struct{} { return s.managerDone }

// Err is the manager's error once Done is closed; nil after a clean stop.
func (s *Stack) Err() error {
	select {
	case <-s.managerDone:
		return s.managerErr
	default:
		return nil
	}
}

// Token returns the first demo user's (alice's) bearer token.
func (s *Stack) Token() string { return s.Users[0].Token }

// OtherToken returns the second demo user's (bob's) bearer token.
func (s *Stack) OtherToken() string { return s.Users[1].Token }

// StartedIn is how long Start took.
func (s *Stack) StartedIn() time.Duration { return s.readyAt.Sub(s.started) }

// prepareDirs makes the state, log, run and data directories.
func (s *Stack) prepareDirs() error {
	var err error
	if s.runDir, err = os.MkdirTemp("", "reportd-dev-"); err != nil {
		return fmt.Errorf("make a temporary directory: %w", err)
	}
	s.onStop("the temporary directory", func() error { return os.RemoveAll(s.runDir) })
	s.StateDir = s.opts.StateDir
	if s.StateDir == "" {
		s.StateDir = filepath.Join(s.runDir, "state")
	}
	if s.StateDir, err = filepath.Abs(s.StateDir); err != nil {
		return err
	}
	s.LogDir = filepath.Join(s.StateDir, "logs")
	// The state directory is 0755: PostgreSQL, which runs as its own user,
	// must reach a persistent data directory inside it.
	if err := os.MkdirAll(s.LogDir, 0o755); err != nil {
		return fmt.Errorf("make the state directory: %w", err)
	}
	if err := os.Chmod(s.StateDir, 0o755); err != nil {
		return err
	}
	s.dataDir = filepath.Join(s.runDir, "data")
	if s.opts.Persist {
		s.dataDir = filepath.Join(s.StateDir, "data")
	}
	if err := os.MkdirAll(s.dataDir, 0o711); err != nil {
		return fmt.Errorf("make the data directory: %w", err)
	}
	s.repoDir, err = findRepoDir(s.opts.RepoDir)
	return err
}

// controllersText names kube-controller-manager's controllers for progress.
func (s *Stack) controllersText() string {
	if s.opts.JobController {
		return "job controller and garbage collector"
	}
	return "garbage collector"
}

// runnerText names what runs the Jobs, for progress.
func (s *Stack) runnerText() string {
	if s.opts.JobController {
		return "no local executor (the job controller makes pods)"
	}
	return "local Job executor"
}

// storageText names the storage, for progress.
func (s *Stack) storageText() string {
	if s.opts.S3 {
		return "S3 (versitygw)"
	}
	return "files"
}

// sizesText describes the sample sizes, for progress.
func sizesText(z sampledata.Sizes) string {
	d := sampledata.DefaultSizes()
	pick := func(v, def int) int {
		if v == 0 {
			return def
		}
		return v
	}
	return fmt.Sprintf("%d orders, %d users, %d products",
		pick(z.Orders, d.Orders), pick(z.Users, d.Users), pick(z.Products, d.Products))
}
