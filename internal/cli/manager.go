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

package cli

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"

	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/manager"
	"reportd.io/reportd/internal/storage"
)

func init() { addCommand(newManagerCommand) }

// managerFlags are the flags of `reportd manager`.
type managerFlags struct {
	kubeconfig string
	config     manager.Config
	// facade holds the in-process facade's flags, including the storage
	// settings the manager shares: its own access to storage (it checks
	// results), and the URL and S3 settings the Jobs get (their credentials
	// come from the Secret named by --s3-credentials-secret).
	facade   facadeFlags
	noFacade bool
	notify   notifyFlags

	imagePullPolicy                                  string
	cpuRequest, memoryRequest, cpuLimit, memoryLimit string
	defaultTTL, defaultTimeout                       time.Duration
	defaultRetries                                   int32
}

func newManagerCommand() *cobra.Command {
	f := &managerFlags{}
	cmd := &cobra.Command{
		Use:   "manager",
		Short: "Run the controllers: one Job per ReportRequest, status from the world",
		Long: `Run reportd's controller manager. It checks ReportDefinitions against their
databases, validates each ReportRequest and runs it as one Kubernetes Job
("reportd generate"), and keeps the request's status (progress, rows,
result, errors in plain words) true to the Job, its pods and the stored
file. One replica at a time is active (leader election); metrics and health
probes are served as kubebuilder scaffolds them. Unless --disable-facade,
every replica also serves the HTTP facade for one namespace (the flags it
shares with "reportd facade").

Prefer environment variables for secrets: REPORTD_S3_SECRET_KEY rather than
--s3-secret-key, since command lines are visible to other users.`,
		Example: `  reportd manager --namespaces reports --storage s3://reports --s3-endpoint http://versitygw:7070 \
    --s3-path-style --s3-credentials-secret reportd-s3 --generator-image registry.example/reportd:v1 \
    --oidc-issuer-url https://login.example.com --oidc-audience reportd
  reportd manager --leader-elect=false --namespaces dev --storage file:///var/lib/reportd --local-executor \
    --disable-facade`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			ctrl.SetLogger(textlogger.NewLogger(textlogger.NewConfig()))
			return runManager(ctx, f)
		},
	}
	addManagerFlags(cmd.Flags(), f)
	return cmd
}

// addManagerFlags registers the manager's flags on fs.
func addManagerFlags(fs *pflag.FlagSet, f *managerFlags) {
	c := &f.config
	d := controllers.DefaultDefaults()
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster configuration or $KUBECONFIG when empty)")
	fs.StringSliceVar(&c.Namespaces, "namespaces", nil, "comma-separated namespaces to watch (all when empty)")
	fs.BoolVar(&c.LeaderElection, "leader-elect", true, "elect one active replica through a Lease")
	fs.StringVar(&c.LeaderElectionID, "leader-election-id", manager.DefaultLeaderElectionID, "name of the leader election Lease")
	fs.StringVar(&c.LeaderElectionNamespace, "leader-election-namespace", "", "namespace of the Lease (the pod's own when empty; required outside a cluster)")
	fs.StringVar(&c.MetricsBindAddress, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	fs.StringVar(&c.HealthProbeBindAddress, "health-probe-bind-address", ":8081", `address of /healthz and /readyz ("0" disables them)`)

	fs.StringVar(&c.Jobs.DatasourceSecret, "datasource-secret", "reportd-datasource", "Secret, in each namespace, with the PostgreSQL URL of definitions that name none")
	fs.StringVar(&c.Jobs.DatasourceSecretKey, "datasource-secret-key", "url", "key of --datasource-secret holding the URL")
	// --storage, --s3-endpoint, --s3-region, --s3-path-style and the
	// manager's own --s3-access-key/--s3-secret-key are the facade's flags.
	addFacadeFlags(fs, &f.facade)
	fs.BoolVar(&f.noFacade, "disable-facade", false, "do not serve the HTTP facade in this process (run \"reportd facade\" instead)")
	fs.StringVar(&c.Jobs.Storage.CredentialsSecret, "s3-credentials-secret", "", "Secret, in each namespace, with the keys access-key and secret-key the Jobs upload with (the SDK's default chain when empty)")

	fs.StringVar(&c.Jobs.Image, "generator-image", "", "image the report Jobs run (required unless --local-executor)")
	fs.StringVar(&f.imagePullPolicy, "generator-image-pull-policy", string(corev1.PullIfNotPresent), "image pull policy of the report Jobs: Always, IfNotPresent or Never")
	fs.StringVar(&c.Jobs.ServiceAccountName, "generator-service-account", "reportd-generator", "ServiceAccount, in each namespace, the report Jobs run as")
	fs.StringVar(&f.cpuRequest, "job-cpu-request", "100m", "CPU request of a report Job (empty for none)")
	fs.StringVar(&f.memoryRequest, "job-memory-request", "256Mi", "memory request of a report Job (empty for none)")
	fs.StringVar(&f.cpuLimit, "job-cpu-limit", "", "CPU limit of a report Job (empty for none)")
	fs.StringVar(&f.memoryLimit, "job-memory-limit", "1Gi", "memory limit of a report Job (empty for none)")

	fs.DurationVar(&f.defaultTTL, "default-ttl", time.Duration(d.TTLSecondsAfterFinished)*time.Second, "how long a finished report is kept when the request does not say")
	fs.DurationVar(&f.defaultTimeout, "default-timeout", time.Duration(d.TimeoutSeconds)*time.Second, "how long a report may run when the request does not say (a definition's timeout caps it)")
	fs.Int32Var(&f.defaultRetries, "default-retries", d.Retries, "how often a failed report is retried when the request does not say")
	fs.DurationVar(&c.ProgressInterval, "progress-interval", controllers.DefaultProgressInterval, "least time between two progress updates of one report's status")
	fs.IntVar(&c.Limits.MaxRunningJobs, "max-running-jobs", 0, "most report Jobs running at once; more requests wait in the queue (0: no limit)")
	fs.IntVar(&c.Limits.MaxRunningPerRequester, "max-running-per-requester", 0, "most report Jobs of one requester running at once (0: no limit)")
	fs.IntVar(&c.RequestWorkers, "request-workers", controllers.DefaultRequestWorkers, "reports reconciled at once (the queue's limits hold whatever the number)")
	fs.DurationVar(&c.StaleUploadInterval, "stale-upload-interval", controllers.DefaultStaleUploadInterval, "how often to abort uploads left unfinished by stopped generators (0: never)")
	fs.DurationVar(&c.StaleUploadGrace, "stale-upload-grace", controllers.DefaultStaleUploadGrace, "how old an unfinished upload must be to be aborted; longer than any report may run")

	addNotifyFlags(fs, &f.notify)

	fs.BoolVar(&c.LocalExecutor, "local-executor", false, "run report Jobs as local processes in the manager (development and tests only)")
	fs.StringVar(&c.Executor.Binary, "local-executor-binary", "", "reportd binary the local executor runs for \"reportd generate\" (this binary when empty)")
	fs.StringVar(&c.Executor.Kubeconfig, "local-executor-kubeconfig", "", "kubeconfig the local executor gives report processes (--kubeconfig, else $KUBECONFIG, when empty)")
	fs.StringVar(&c.Executor.WorkDir, "local-executor-work-dir", "", "directory for the local executor's attempts (a temporary directory when empty)")
}

// resolve turns the flags into the manager's configuration.
func (f *managerFlags) resolve() (manager.Config, error) {
	c := f.config
	st := f.facade.storage
	c.Jobs.Storage = controllers.StorageSettings{
		URL: st.URL, Endpoint: st.Endpoint, Region: st.Region,
		PathStyle: st.PathStyle, CredentialsSecret: f.config.Jobs.Storage.CredentialsSecret,
	}
	if err := f.resolveFacade(); err != nil {
		return c, err
	}
	policy := corev1.PullPolicy(f.imagePullPolicy)
	switch policy {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
		c.Jobs.ImagePullPolicy = policy
	default:
		return c, fmt.Errorf("--generator-image-pull-policy %q: use Always, IfNotPresent or Never", f.imagePullPolicy)
	}
	resources, err := jobResources(f.cpuRequest, f.memoryRequest, f.cpuLimit, f.memoryLimit)
	if err != nil {
		return c, err
	}
	c.Jobs.Resources = resources
	c.Defaults = controllers.Defaults{
		TTLSecondsAfterFinished: int32(f.defaultTTL / time.Second),
		TimeoutSeconds:          int64(f.defaultTimeout / time.Second),
		Retries:                 f.defaultRetries,
	}
	if c.Notify, err = f.notify.resolve(f.facade.publicURL); err != nil {
		return c, err
	}
	if c.LocalExecutor {
		if err := f.resolveExecutor(&c); err != nil {
			return c, err
		}
	}
	return c, c.Validate()
}

// resolveFacade gives the in-process facade its namespace: --namespace,
// else the one watched namespace. The manager's cache must hold it.
func (f *managerFlags) resolveFacade() error {
	if f.noFacade {
		return nil
	}
	watched := f.config.Namespaces
	if f.facade.namespace == "" && len(watched) == 1 {
		f.facade.namespace = watched[0]
	}
	if f.facade.namespace == "" {
		return errors.New("the in-process facade serves one namespace: set --namespace, or --disable-facade")
	}
	if len(watched) > 0 && !slices.Contains(watched, f.facade.namespace) {
		return fmt.Errorf("the facade's --namespace %q is not among --namespaces", f.facade.namespace)
	}
	return nil
}

// resolveExecutor defaults the local executor's binary to this one and
// its processes' kubeconfig to the manager's.
func (f *managerFlags) resolveExecutor(c *manager.Config) error {
	if c.Executor.Binary == "" {
		self, err := os.Executable()
		if err != nil {
			return fmt.Errorf("finding this binary for the local executor: %w", err)
		}
		c.Executor.Binary = self
	}
	if c.Executor.Kubeconfig == "" {
		c.Executor.Kubeconfig = f.kubeconfig
	}
	if c.Executor.Kubeconfig == "" {
		c.Executor.Kubeconfig = os.Getenv("KUBECONFIG")
	}
	if c.Executor.Kubeconfig == "" {
		return errors.New("the local executor needs a kubeconfig for its processes (--local-executor-kubeconfig)")
	}
	return nil
}

// jobResources builds the report container's resources; empty values are omitted.
func jobResources(cpuRequest, memoryRequest, cpuLimit, memoryLimit string) (corev1.ResourceRequirements, error) {
	var r corev1.ResourceRequirements
	add := func(list *corev1.ResourceList, name corev1.ResourceName, flag, value string) error {
		if value == "" {
			return nil
		}
		q, err := resource.ParseQuantity(value)
		if err != nil {
			return fmt.Errorf("--%s %q: %w", flag, value, err)
		}
		if *list == nil {
			*list = corev1.ResourceList{}
		}
		(*list)[name] = q
		return nil
	}
	return r, errors.Join(
		add(&r.Requests, corev1.ResourceCPU, "job-cpu-request", cpuRequest),
		add(&r.Requests, corev1.ResourceMemory, "job-memory-request", memoryRequest),
		add(&r.Limits, corev1.ResourceCPU, "job-cpu-limit", cpuLimit),
		add(&r.Limits, corev1.ResourceMemory, "job-memory-limit", memoryLimit),
	)
}

// runManager runs the manager until ctx ends.
func runManager(ctx context.Context, f *managerFlags) error {
	c, err := f.resolve()
	if err != nil {
		return err
	}
	rc, err := restConfig(f.kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(rc, c.Options())
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	store, err := storage.New(ctx, f.facade.storage)
	if err != nil {
		return err
	}
	if err := manager.Setup(ctx, mgr, c, manager.Deps{Checker: manager.NewDefinitionChecker(), Store: store}); err != nil {
		return err
	}
	if !f.noFacade {
		// Every replica serves the facade; only the leader runs controllers.
		if err := f.facade.start(ctx, mgr); err != nil {
			return fmt.Errorf("starting the facade: %w", err)
		}
	}
	return mgr.Start(ctx)
}
