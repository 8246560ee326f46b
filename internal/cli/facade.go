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
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2/textlogger"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/facade"
	"reportd.io/reportd/internal/storage"
)

func init() { addCommand(newFacadeCommand) }

// facadeFlags are the facade's settings. The manager command, which hosts
// the facade in-process, can reuse them: addFacadeFlags, then
// facadeFlags.start with its own manager.
type facadeFlags struct {
	namespace    string
	bindAddress  string
	publicURL    string
	auth         auth.Config
	limits       facade.Limits
	presignTTL   time.Duration
	heartbeat    time.Duration
	maxBody      int64
	writeTimeout time.Duration
	linkKeyFile  string
	storage      storage.Config
}

// addFacadeFlags registers the facade's flags on fs.
func addFacadeFlags(fs *pflag.FlagSet, f *facadeFlags) {
	fs.StringVar(&f.namespace, "namespace", f.namespace, "namespace whose reports the facade serves (required)")
	fs.StringVar(&f.bindAddress, "bind-address", ":8082", "address the HTTP API listens on")
	fs.StringVar(&f.publicURL, "public-url", "", "URL users reach the facade at (e.g. https://reports.example.com); makes resultUrl absolute and is the base of the report links in notifications")
	f.auth.AddFlags(fs)
	fs.IntVar(&f.limits.MaxActive, "max-active", facade.DefaultMaxActive, "pending or processing reports a user may have (negative: no limit)")
	fs.IntVar(&f.limits.RequestsPerMinute, "requests-per-minute", facade.DefaultRequestsPerMinute, "requests per minute per user (negative: no limit)")
	fs.DurationVar(&f.presignTTL, "presign-ttl", facade.DefaultPresignTTL, "how long a download link is valid")
	fs.DurationVar(&f.heartbeat, "heartbeat", facade.DefaultHeartbeat, "interval of heartbeats on idle event streams")
	fs.Int64Var(&f.maxBody, "max-body-bytes", facade.DefaultMaxBodyBytes, "largest request body accepted")
	fs.DurationVar(&f.writeTimeout, "write-timeout", facade.DefaultWriteTimeout, "time to write an answer (event streams and downloads are exempt)")
	fs.StringVar(&f.linkKeyFile, "link-key-file", "", "file with the key signing the facade's own download links (file storage); replicas must share it (random per process when unset)")
	fs.StringVar(&f.storage.URL, "storage", "", "where report files are: s3://bucket/prefix or file:///dir (required)")
	fs.StringVar(&f.storage.Endpoint, "s3-endpoint", "", "S3 endpoint URL (AWS when empty)")
	fs.StringVar(&f.storage.PublicEndpoint, "s3-public-endpoint", "", "S3 endpoint users' browsers reach; download links are signed for it (--s3-endpoint when empty)")
	fs.StringVar(&f.storage.Region, "s3-region", "", "S3 region")
	fs.BoolVar(&f.storage.PathStyle, "s3-path-style", false, "address buckets in the path, as most S3-compatible servers need")
	fs.StringVar(&f.storage.AccessKey, "s3-access-key", "", "S3 access key (prefer REPORTD_S3_ACCESS_KEY; the SDK's default chain when empty)")
	fs.StringVar(&f.storage.SecretKey, "s3-secret-key", "", "S3 secret key (prefer REPORTD_S3_SECRET_KEY)")
}

// newFacadeCommand returns `reportd facade`.
func newFacadeCommand() *cobra.Command {
	var f facadeFlags
	var metricsAddr, probeAddr, kubeconfig string
	cmd := &cobra.Command{
		Use:   "facade",
		Short: "Serve the HTTP API for end users, alone (the manager serves it too)",
		Long: `Serve reportd's HTTP API for end users: request reports, follow their
progress, list and download them (docs/http-api.md). The manager serves the
same API in-process; run "reportd facade" to scale the API separately. It
keeps its own cache of one namespace's ReportRequests and ReportDefinitions
and runs no controllers.

Prefer environment variables for secrets: REPORTD_S3_SECRET_KEY rather
than --s3-secret-key, since command lines are visible to other users.`,
		Example: `  reportd facade --namespace reports --storage file:///var/lib/reportd --token-file /etc/reportd/tokens.csv
  reportd facade --namespace reports --storage s3://reports --s3-endpoint http://versitygw:7070 --s3-path-style \
    --oidc-issuer-url https://login.example.com --oidc-audience reportd --public-url https://reports.example.com`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			// Structured logs on stderr; -v style verbosity is not needed here.
			ctrl.SetLogger(textlogger.NewLogger(textlogger.NewConfig()))
			return runFacade(ctx, f, kubeconfig, metricsAddr, probeAddr)
		},
	}
	fs := cmd.Flags()
	addFacadeFlags(fs, &f)
	fs.StringVar(&kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster configuration or $KUBECONFIG when empty)")
	fs.StringVar(&metricsAddr, "metrics-bind-address", ":8080", `address of the Prometheus metrics endpoint ("0" disables it)`)
	fs.StringVar(&probeAddr, "health-probe-bind-address", ":8081", "address of /healthz and /readyz")
	return cmd
}

// runFacade runs a manager with no controllers, its cache restricted to
// the facade's namespace, and the facade's HTTP server.
func runFacade(ctx context.Context, f facadeFlags, kubeconfig, metricsAddr, probeAddr string) error {
	if f.namespace == "" {
		return errors.New("--namespace is required")
	}
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return err
	}
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{
		Scheme:                 reportdScheme(),
		Cache:                  cache.Options{DefaultNamespaces: map[string]cache.Config{f.namespace: {}}},
		Metrics:                metricsserver.Options{BindAddress: metricsAddr},
		HealthProbeBindAddress: probeAddr,
	})
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := f.start(ctx, mgr); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// start adds the facade to mgr: its cache indexes, its readiness check
// and its HTTP server. Call it before mgr.Start.
func (f *facadeFlags) start(ctx context.Context, mgr manager.Manager) error {
	if f.namespace == "" {
		return errors.New("the facade needs --namespace")
	}
	if err := facade.IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return err
	}
	opts, err := f.options(ctx, mgr)
	if err != nil {
		return err
	}
	srv, err := facade.New(ctx, opts)
	if err != nil {
		return err
	}
	httpServer := &facade.HTTPServer{Handler: srv.Handler(), Addr: f.bindAddress, WriteTimeout: f.writeTimeout}
	ready := func(_ *http.Request) error { return errors.Join(srv.Ready(), httpServer.Serving()) }
	if err := mgr.AddReadyzCheck("facade", ready); err != nil {
		return err
	}
	return mgr.Add(httpServer)
}

// options turns the flags into facade.Options.
func (f *facadeFlags) options(ctx context.Context, mgr manager.Manager) (facade.Options, error) {
	log := ctrl.Log.WithName("facade")
	if f.storage.URL == "" {
		return facade.Options{}, errors.New("the facade needs --storage")
	}
	store, err := storage.New(ctx, f.storage)
	if err != nil {
		return facade.Options{}, err
	}
	authn, err := auth.New(f.auth)
	if err != nil {
		return facade.Options{}, err
	}
	if err := auth.Discover(ctx, authn); err != nil {
		log.Error(err, "Cannot reach the OIDC issuer yet; tokens are refused with 503 until it answers")
	}
	var linkKey []byte
	if f.linkKeyFile != "" {
		if linkKey, err = os.ReadFile(f.linkKeyFile); err != nil {
			return facade.Options{}, fmt.Errorf("reading --link-key-file: %w", err)
		}
	}
	return facade.Options{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Informers: mgr.GetCache(),
		Namespace: f.namespace, Store: store, Authenticator: authn, PublicURL: f.publicURL,
		Limits: f.limits, Registerer: ctrlmetrics.Registry, Logger: ctrl.Log,
		PresignTTL: f.presignTTL, Heartbeat: f.heartbeat, MaxBodyBytes: f.maxBody, LinkKey: linkKey,
	}, nil
}

// restConfig loads a kubeconfig file, or the in-cluster / $KUBECONFIG
// configuration when path is empty.
func restConfig(path string) (*rest.Config, error) {
	if path == "" {
		return ctrl.GetConfig()
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		return nil, fmt.Errorf("loading kubeconfig %s: %w", path, err)
	}
	// As ctrl.GetConfig does for $KUBECONFIG and in-cluster: rely on the
	// API server's priority and fairness instead of client-go's default
	// 5 requests a second, which would hold a burst of reports back.
	if cfg.QPS == 0 {
		cfg.QPS = -1
	}
	return cfg, nil
}

// reportdScheme knows the built-in types and reportd's API; every
// subcommand that talks to the API server uses it.
func reportdScheme() *runtime.Scheme {
	scheme := runtime.NewScheme()
	utilruntime.Must(clientgoscheme.AddToScheme(scheme))
	utilruntime.Must(reportsv1alpha1.AddToScheme(scheme))
	return scheme
}
