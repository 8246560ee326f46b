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
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"k8s.io/klog/v2/textlogger"
	"sigs.k8s.io/controller-runtime/pkg/client"

	reportsv1alpha1 "reportd.io/reportd/api/v1alpha1"
	"reportd.io/reportd/generator"
	"reportd.io/reportd/internal/storage"
)

func init() { addCommand(newGenerateCommand) }

// generateFlags are the settings of one report run. The Job passes them
// as REPORTD_* environment variables.
type generateFlags struct {
	namespace        string
	request          string
	job              string
	pod              string
	datasourceURL    string
	storage          storage.Config
	terminationLog   string
	progressInterval time.Duration
	kubeconfig       string
}

// addGenerateFlags registers the generate command's flags on fs.
func addGenerateFlags(fs *pflag.FlagSet, f *generateFlags) {
	fs.StringVar(&f.namespace, "namespace", "", "namespace of the ReportRequest (the Job sets REPORTD_NAMESPACE)")
	fs.StringVar(&f.request, "request", "", "name of the ReportRequest to generate")
	fs.StringVar(&f.job, "job", "", "name of the Job running this attempt; progress, result and errors are written to its annotations")
	fs.StringVar(&f.pod, "pod", "", "name of this pod: the attempt every annotation names")
	fs.StringVar(&f.datasourceURL, "datasource-url", "", "PostgreSQL URL to read from (prefer REPORTD_DATASOURCE_URL from a Secret)")
	fs.StringVar(&f.storage.URL, "storage-url", "", "where the file goes: s3://bucket/prefix or file:///dir")
	fs.StringVar(&f.storage.Endpoint, "s3-endpoint", "", "S3 endpoint URL (AWS when empty)")
	fs.StringVar(&f.storage.PublicEndpoint, "s3-public-endpoint", "", "S3 endpoint for presigned links (unused by generate; accepted for symmetry)")
	fs.StringVar(&f.storage.Region, "s3-region", "", "S3 region")
	fs.BoolVar(&f.storage.PathStyle, "s3-path-style", false, "address buckets in the path, as most S3-compatible servers need")
	fs.StringVar(&f.storage.AccessKey, "s3-access-key", "", "S3 access key (prefer REPORTD_S3_ACCESS_KEY; the SDK's default chain when empty)")
	fs.StringVar(&f.storage.SecretKey, "s3-secret-key", "", "S3 secret key (prefer REPORTD_S3_SECRET_KEY)")
	fs.BoolVar(&f.storage.ChecksumWhenSupported, "s3-checksums", false, "send CRC32 checksums on every upload (AWS); by default only where required, which S3-compatible servers accept")
	fs.Int64Var(&f.storage.PartSize, "s3-part-size", storage.DefaultPartSize, "first multipart part size in bytes; parts grow by this much every 1,000 parts")
	fs.StringVar(&f.terminationLog, "termination-log", generator.DefaultTerminationLog, `file receiving the failure message Kubernetes shows in the pod's status ("" for none)`)
	fs.DurationVar(&f.progressInterval, "progress-interval", generator.DefaultProgressInterval, "least time between two progress updates on the Job")
	fs.StringVar(&f.kubeconfig, "kubeconfig", "", "kubeconfig file (in-cluster configuration or $KUBECONFIG when empty)")
}

// newGenerateCommand returns `reportd generate`.
func newGenerateCommand() *cobra.Command {
	var f generateFlags
	cmd := &cobra.Command{
		Use:   "generate",
		Short: "Generate one report: the entrypoint of a report Job",
		Long: `Generate the report of one ReportRequest: bind its parameters, stream the
definition's query from PostgreSQL into the requested format, upload the
file, and report progress and the result on the Job's annotations.

The manager's Job sets every setting as a REPORTD_* environment variable.
Exit codes: 0 done; 3 permanent failure (bad parameters, unknown type, a
query the database rejects, too many rows), which the Job does not retry;
1 for failures a retry may cure. The reason is in the Job's
reports.reportd.io/error annotation and the termination message.`,
		Example: `  reportd generate --namespace team-a --request sales-q1 --job sales-q1-x7k2 --pod sales-q1-x7k2-abcde \
    --storage-url s3://reports --s3-endpoint http://versitygw:7070 --s3-path-style`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx, stop := signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			log := textlogger.NewLogger(textlogger.NewConfig())
			err := runGenerate(ctx, f, log)
			if code := generator.ExitCode(err); code != reportsv1alpha1.ExitOK {
				// Run has logged the reason and written it to the Job and the
				// termination log; the exit code tells the Job whether to retry.
				stop()
				os.Exit(code)
			}
			return nil
		},
	}
	addGenerateFlags(cmd.Flags(), &f)
	return cmd
}

// runGenerate connects to the API server and the store and runs the report.
// Setup failures are reported like the run's own (Job annotation when the
// API is reachable, termination message, exit code).
func runGenerate(ctx context.Context, f generateFlags, log logr.Logger) error {
	cfg := generator.Config{
		Namespace: f.namespace, RequestName: f.request, JobName: f.job, PodName: f.pod,
		DatasourceURL: f.datasourceURL, ProgressInterval: f.progressInterval,
		TerminationLog: f.terminationLog, Log: log,
	}
	restCfg, err := restConfig(f.kubeconfig)
	if err == nil {
		cfg.Client, err = client.New(restCfg, client.Options{Scheme: reportdScheme()})
	}
	if err != nil {
		return generator.Fail(ctx, cfg, "could not reach the Kubernetes API", err)
	}
	if cfg.Store, err = storage.New(ctx, f.storage); err != nil {
		return generator.Fail(ctx, cfg, "could not open the report storage", err)
	}
	return generator.Run(ctx, cfg)
}
