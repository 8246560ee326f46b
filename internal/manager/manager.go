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

// Package manager assembles reportd's controller manager from its
// configuration: the controller-runtime options (leader election, metrics,
// health probes, a cache restricted to the watched namespaces and to
// reportd's own Jobs and pods) and the controllers, plus the local Job
// executor when asked for. `reportd manager` and `reportd dev` use it.
package manager

import (
	"context"
	"errors"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/executor"
)

// EventRecorderName is the reportingController of the manager's events.
const EventRecorderName = "reportd-manager"

// DefaultLeaderElectionID is the Lease that elects the active manager.
const DefaultLeaderElectionID = "reportd-manager.reports.reportd.io"

// Config is the manager's configuration.
type Config struct {
	// Namespaces to watch; all when empty.
	Namespaces []string
	// LeaderElection makes one replica at a time run the controllers.
	LeaderElection bool
	// LeaderElectionID names the Lease; DefaultLeaderElectionID when empty.
	LeaderElectionID string
	// LeaderElectionNamespace holds the Lease; the pod's namespace when
	// empty (it must be set when running outside a cluster).
	LeaderElectionNamespace string
	// MetricsBindAddress serves Prometheus metrics; "0" disables them.
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz; "0" disables them.
	HealthProbeBindAddress string
	// Jobs shape every report Job.
	Jobs controllers.JobSettings
	// Defaults fill in what requests leave out.
	Defaults controllers.Defaults
	// ProgressInterval is the least time between two progress writes of a report.
	ProgressInterval time.Duration
	// Limits bound the report Jobs running at once (the queue); none when zero.
	Limits controllers.Limits
	// RequestWorkers is how many reports the request controller
	// reconciles at once; controllers.DefaultRequestWorkers when zero.
	RequestWorkers int
	// StaleUploadInterval is how often uploads left unfinished by killed
	// generators are aborted; 0 turns the sweep off.
	StaleUploadInterval time.Duration
	// StaleUploadGrace is how old such an upload must be to be aborted.
	StaleUploadGrace time.Duration
	// LocalExecutor runs report Jobs as local processes inside the manager
	// (development and tests: there is no job controller). Jobs then carry
	// spec.managedBy; production Jobs never do.
	LocalExecutor bool
	// Executor configures the local executor.
	Executor executor.Options
	// Notify configures e-mails and webhooks when reports finish.
	Notify NotifyConfig
}

// Deps are the manager's connections outside the cluster.
type Deps struct {
	// Checker checks definitions against their databases.
	Checker controllers.DefinitionChecker
	// Store is where finished files are; results are checked there.
	Store controllers.ResultStore
}

// Scheme is the manager's scheme: Kubernetes' types and reportd's.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(s))
	utilruntime.Must(v1alpha1.AddToScheme(s))
	return s
}

// Validate reports configuration that cannot work.
func (c *Config) Validate() error {
	var errs []error
	if c.Jobs.Storage.URL == "" {
		errs = append(errs, errors.New("a storage URL is required (--storage)"))
	}
	if c.Jobs.Image == "" && !c.LocalExecutor {
		errs = append(errs, errors.New("the generator image is required (--generator-image)"))
	}
	if c.LocalExecutor && c.Executor.Binary == "" && len(c.Executor.Commands) == 0 {
		errs = append(errs, errors.New("the local executor needs the reportd binary to run (--local-executor-binary)"))
	}
	if c.Defaults.TimeoutSeconds < 1 || c.Defaults.Retries < 0 || c.Defaults.Retries > 10 || c.Defaults.TTLSecondsAfterFinished < 0 {
		errs = append(errs, errors.New("the defaults need a timeout of at least 1s, 0 to 10 retries and a TTL of at least 0"))
	}
	if c.Limits.MaxRunningJobs < 0 || c.Limits.MaxRunningPerRequester < 0 {
		errs = append(errs, errors.New("--max-running-jobs and --max-running-per-requester must be 0 (no limit) or more"))
	}
	if c.RequestWorkers < 0 {
		errs = append(errs, errors.New("--request-workers must be 1 or more (0 means the default)"))
	}
	if c.StaleUploadInterval < 0 {
		errs = append(errs, errors.New("--stale-upload-interval must be 0 (no sweep) or more"))
	}
	if c.StaleUploadInterval > 0 && c.StaleUploadGrace <= time.Duration(c.Defaults.TimeoutSeconds)*time.Second {
		// A shorter grace would abort the uploads of reports still running.
		errs = append(errs, fmt.Errorf("--stale-upload-grace (%s) must be longer than --default-timeout (%s)",
			c.StaleUploadGrace, time.Duration(c.Defaults.TimeoutSeconds)*time.Second))
	}
	errs = append(errs, c.Notify.validate())
	return errors.Join(errs...)
}

// Options are the controller-runtime manager options.
func (c *Config) Options() ctrl.Options {
	id := c.LeaderElectionID
	if id == "" {
		id = DefaultLeaderElectionID
	}
	return ctrl.Options{
		Scheme:                  Scheme(),
		Cache:                   controllers.CacheOptions(c.Namespaces),
		Metrics:                 metricsserver.Options{BindAddress: c.MetricsBindAddress},
		HealthProbeBindAddress:  c.HealthProbeBindAddress,
		LeaderElection:          c.LeaderElection,
		LeaderElectionID:        id,
		LeaderElectionNamespace: c.LeaderElectionNamespace,
		// A replica that stops hands over at once instead of after the lease.
		LeaderElectionReleaseOnCancel: true,
	}
}

// Setup registers the controllers, the local executor if configured, and
// the health checks with mgr.
func Setup(ctx context.Context, mgr ctrl.Manager, c Config, deps Deps) error {
	if deps.Checker == nil || deps.Store == nil {
		return errors.New("the manager needs a definition checker and a store")
	}
	jobs := c.Jobs
	if c.LocalExecutor {
		jobs.ManagedBy = v1alpha1.ExecutorManagedBy
	}
	defs := &controllers.ReportDefinitionReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Checker: deps.Checker, Settings: jobs,
	}
	if err := defs.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the ReportDefinition controller: %w", err)
	}
	reqs := &controllers.ReportRequestReconciler{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Recorder: mgr.GetEventRecorder(EventRecorderName),
		Store: deps.Store, Settings: jobs, Defaults: c.Defaults, ProgressInterval: c.ProgressInterval, Limits: c.Limits,
		Workers: c.RequestWorkers,
	}
	if err := reqs.SetupWithManager(ctx, mgr); err != nil {
		return fmt.Errorf("setting up the ReportRequest controller: %w", err)
	}
	if c.StaleUploadInterval > 0 {
		sweeper := &controllers.StaleUploadSweeper{
			Store: deps.Store, Namespaces: c.Namespaces, Interval: c.StaleUploadInterval, Grace: c.StaleUploadGrace,
		}
		if err := mgr.Add(sweeper); err != nil {
			return fmt.Errorf("adding the stale upload sweep: %w", err)
		}
	}
	schedules := &controllers.ReportScheduleReconciler{
		Client: mgr.GetClient(), Scheme: mgr.GetScheme(), Clock: clock.RealClock{},
		Recorder: mgr.GetEventRecorder(EventRecorderName),
	}
	if err := schedules.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the ReportSchedule controller: %w", err)
	}
	notifier, err := setupNotifications(ctx, mgr, c.Notify)
	if err != nil {
		return fmt.Errorf("setting up the notification controller: %w", err)
	}
	reqs.Notifications = notifier // a report's TTL waits for its notifications
	if c.LocalExecutor {
		ex, err := executor.New(mgr.GetClient(), mgr.GetAPIReader(), c.Executor)
		if err != nil {
			return fmt.Errorf("setting up the local executor: %w", err)
		}
		if err := ex.SetupWithManager(mgr); err != nil {
			return fmt.Errorf("setting up the local executor: %w", err)
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.AddReadyzCheck("ping", healthz.Ping)
}
