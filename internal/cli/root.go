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

// Package cli wires reportd's subcommands. Each subcommand lives in its own
// file and registers itself with addCommand, so features stay independent.
package cli

import (
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// commandFactories holds the subcommands registered by this package's files.
var commandFactories []func() *cobra.Command

// addCommand registers a subcommand; call it from an init function.
func addCommand(factory func() *cobra.Command) {
	commandFactories = append(commandFactories, factory)
}

// NewRootCommand returns the `reportd` command with every subcommand.
func NewRootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "reportd",
		Short: "reportd generates large reports asynchronously on Kubernetes",
		Long: `reportd generates large reports asynchronously on Kubernetes.

A user asks for a report (a ReportRequest) and gets an answer at once; a
Kubernetes Job runs "reportd generate", which streams rows from PostgreSQL
into a file in object storage; the manager keeps the request's status
(progress, rows, result) true. Every flag can also be set from the
environment: --some-flag as REPORTD_SOME_FLAG.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			return flagsFromEnvironment(cmd.Flags())
		},
	}
	for _, factory := range commandFactories {
		root.AddCommand(factory())
	}
	return root
}

// flagsFromEnvironment sets each flag not given on the command line from
// REPORTD_<FLAG_NAME>, so a Deployment can configure reportd with env vars.
func flagsFromEnvironment(flags *pflag.FlagSet) error {
	var firstErr error
	flags.VisitAll(func(f *pflag.Flag) {
		if f.Changed || firstErr != nil {
			return
		}
		name := "REPORTD_" + strings.ToUpper(strings.ReplaceAll(f.Name, "-", "_"))
		if value, ok := os.LookupEnv(name); ok {
			if err := flags.Set(f.Name, value); err != nil {
				firstErr = fmt.Errorf("environment variable %s: %w", name, err)
			}
		}
	})
	return firstErr
}
