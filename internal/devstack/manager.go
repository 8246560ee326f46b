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
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"reportd.io/reportd/controllers"
	"reportd.io/reportd/internal/auth"
	"reportd.io/reportd/internal/executor"
	"reportd.io/reportd/internal/facade"
	"reportd.io/reportd/internal/manager"
	"reportd.io/reportd/internal/notify"
)

// managerStopTimeout bounds the wait for the manager (and the processes
// of its executor) to stop.
const managerStopTimeout = 30 * time.Second

// startManager runs reportd's manager in this process: its controllers,
// the local executor (unless the job controller runs the Jobs) and the
// facade, and waits until its caches have synced and the facade answers.
// ctx bounds the waiting; the manager runs until Stop.
func (s *Stack) startManager(ctx context.Context) error {
	// The facade's address comes first: notifications link to it.
	ln, err := s.listenFacade()
	if err != nil {
		return err
	}
	cfg, err := s.managerConfig()
	if err != nil {
		return err
	}
	opts := cfg.Options()
	opts.Logger = s.opts.Logger
	mgr, err := ctrl.NewManager(s.Config, opts)
	if err != nil {
		return fmt.Errorf("create the manager: %w", err)
	}
	// What is set up now may hold on to its context: give it the
	// manager's lifetime, not the start's.
	runCtx, cancel := context.WithCancel(context.Background())
	running := false
	s.onStop("the manager", func() error {
		cancel()
		if !running {
			return nil
		}
		select {
		case <-s.managerDone:
			return s.managerErr
		case <-time.After(managerStopTimeout):
			return errors.New("the manager did not stop in time")
		}
	})
	if err := manager.Setup(runCtx, mgr, cfg, manager.Deps{Checker: manager.NewDefinitionChecker(), Store: s.Store}); err != nil {
		return err
	}
	srv, err := s.addFacade(runCtx, mgr, ln)
	if err != nil {
		return err
	}
	running = true
	go func() {
		defer close(s.managerDone)
		s.managerErr = mgr.Start(runCtx)
	}()
	if !mgr.GetCache().WaitForCacheSync(ctx) {
		return errors.Join(errors.New("the manager's caches did not sync"), s.Err())
	}
	return s.waitFacade(ctx, srv)
}

// waitFacade waits until the facade's cache is ready and it answers HTTP.
func (s *Stack) waitFacade(ctx context.Context, srv *facade.Server) error {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	for {
		err := srv.Ready()
		if err == nil {
			err = probe(ctx, s.FacadeURL+"/healthz")
		}
		if err == nil {
			return nil
		}
		select {
		case <-s.managerDone:
			return fmt.Errorf("the manager stopped while starting: %w", s.managerErr)
		case <-ctx.Done():
			return fmt.Errorf("the facade did not become ready: %w", err)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// probe GETs url and expects 200.
func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}

// managerConfig is the manager's configuration for this stack.
func (s *Stack) managerConfig() (manager.Config, error) {
	jobs := controllers.JobSettings{
		Image:               s.opts.GeneratorImage,
		ImagePullPolicy:     corev1.PullIfNotPresent,
		ServiceAccountName:  GeneratorAccount,
		DatasourceSecret:    DatasourceSecret,
		DatasourceSecretKey: "url",
		Resources: corev1.ResourceRequirements{
			Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
			Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("1Gi")},
		},
		Storage: controllers.StorageSettings{
			URL: s.storageCfg.URL, Endpoint: s.storageCfg.Endpoint, Region: s.storageCfg.Region,
			PathStyle: s.storageCfg.PathStyle,
		},
	}
	if s.S3 != nil {
		jobs.Storage.CredentialsSecret = S3CredentialsSecret
	}
	cfg := manager.Config{
		Namespaces:             []string{s.Namespace},
		MetricsBindAddress:     "0",
		HealthProbeBindAddress: "0",
		Jobs:                   jobs,
		Defaults:               controllers.DefaultDefaults(),
		ProgressInterval:       s.opts.ProgressInterval,
		LocalExecutor:          !s.opts.JobController,
	}
	cfg.Notify = s.notifyConfig()
	if cfg.LocalExecutor {
		ex, err := s.executorOptions()
		if err != nil {
			return cfg, err
		}
		cfg.Executor = ex
	}
	return cfg, cfg.Validate()
}

// executorOptions: the executor runs this reportd binary (or the one
// given) with a kubeconfig of the generator's ServiceAccount identity, so
// report processes have exactly the rights a Job's pod would have.
func (s *Stack) executorOptions() (executor.Options, error) {
	bin := s.opts.GeneratorBinary
	if bin == "" {
		self, err := os.Executable()
		if err != nil {
			return executor.Options{}, fmt.Errorf("find this binary for the local executor: %w", err)
		}
		bin = self
	}
	kubeconfig := filepath.Join(s.runDir, "generator.kubeconfig")
	sa := "system:serviceaccount:" + s.Namespace + ":" + GeneratorAccount
	groups := []string{"system:serviceaccounts", "system:serviceaccounts:" + s.Namespace, "system:authenticated"}
	if err := s.writeUserKubeconfig(envtest.User{Name: sa, Groups: groups}, kubeconfig); err != nil {
		return executor.Options{}, err
	}
	workDir := filepath.Join(s.runDir, "executor")
	if err := os.MkdirAll(workDir, 0o700); err != nil {
		return executor.Options{}, err
	}
	return executor.Options{Binary: bin, Kubeconfig: kubeconfig, WorkDir: workDir}, nil
}

// DevMailFrom is the sender of the stack's notification e-mails.
const DevMailFrom = "reportd <reportd@reportd.localhost>"

// notifyConfig sends e-mail to the stack's mailpit, links to the local
// facade, and lets webhooks reach this machine (loopback), so a receiver
// started beside the stack can be tried. Retries are quick.
func (s *Stack) notifyConfig() manager.NotifyConfig {
	return manager.NotifyConfig{
		SMTP: notify.SMTPConfig{
			Host: s.Mail.SMTPHost, Port: s.Mail.SMTPPort, TLS: notify.TLSNone, From: DevMailFrom,
		},
		WebhookAllowCIDRs: []string{"127.0.0.0/8", "::1/128"},
		Delivery: controllers.NotificationSettings{
			PublicURL: s.FacadeURL, MaxAttempts: 5, Backoff: time.Second, MaxBackoff: 10 * time.Second,
			AttemptTimeout: 10 * time.Second,
		},
	}
}

// listenFacade listens on FacadeAddress and sets FacadeURL. The listener
// is the facade's once added; it is closed at Stop in any case.
func (s *Stack) listenFacade() (net.Listener, error) {
	ln, err := net.Listen("tcp", s.opts.FacadeAddress)
	if err != nil {
		return nil, fmt.Errorf("the facade cannot listen on %s (another reportd dev running? choose another address): %w", s.opts.FacadeAddress, err)
	}
	s.FacadeURL = "http://" + ln.Addr().String()
	s.onStop("the facade's listener", func() error {
		_ = ln.Close() // already closed by the facade when it ran
		return nil
	})
	return ln, nil
}

// addFacade adds the facade to mgr, serving on ln, with the demo users'
// token file.
func (s *Stack) addFacade(ctx context.Context, mgr ctrl.Manager, ln net.Listener) (*facade.Server, error) {
	tokenFile, err := s.prepareUsers()
	if err != nil {
		return nil, err
	}
	authn, err := auth.New(auth.Config{TokenFile: tokenFile})
	if err != nil {
		return nil, err
	}
	if err := facade.IndexFields(ctx, mgr.GetFieldIndexer()); err != nil {
		return nil, err
	}
	srv, err := facade.New(ctx, facade.Options{
		Client: mgr.GetClient(), APIReader: mgr.GetAPIReader(), Informers: mgr.GetCache(),
		Namespace: s.Namespace, Store: s.Store, Authenticator: authn, PublicURL: s.FacadeURL,
		Logger: s.opts.Logger,
	})
	if err != nil {
		return nil, err
	}
	if err := mgr.Add(&facade.HTTPServer{Handler: srv.Handler(), Listener: ln}); err != nil {
		return nil, err
	}
	return srv, nil
}
