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
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// InfoFile is the name of the file, in the state directory, that tells
// scripts how to reach a running `reportd dev`.
const InfoFile = "dev.json"

// Info is what dev.json holds. It carries tokens and credentials: it is
// written with mode 0600 and removed when the stack stops.
type Info struct {
	// FacadeURL is the facade's base URL (the web page is at /).
	FacadeURL string `json:"facadeURL"`
	// Token is the first demo user's bearer token; User is that user.
	Token string `json:"token"`
	User  string `json:"user"`
	// OtherToken is a second demo user's token, so a script can check
	// that users never see each other's reports; OtherUser is that user.
	OtherToken string `json:"otherToken"`
	OtherUser  string `json:"otherUser"`
	// Kubeconfig is an administrator's kubeconfig for kubectl.
	Kubeconfig string `json:"kubeconfig"`
	// Namespace is where reports are requested.
	Namespace string `json:"namespace"`
	// DatabaseURL is the sample database's superuser URL (psql).
	DatabaseURL string `json:"databaseURL"`
	// ReaderURL is the read-only datasource role's URL, the one reports
	// run with.
	ReaderURL string `json:"readerURL"`
	// Storage is where report files go: file:///... or s3://bucket.
	Storage string `json:"storage"`
	// S3 tells how to reach the S3 server; absent with file storage.
	S3 *S3Info `json:"s3,omitempty"`
	// MailURL is mailpit's web UI (and API), where notification e-mails
	// arrive; MailSMTP is its SMTP address.
	MailURL  string `json:"mailURL"`
	MailSMTP string `json:"mailSMTP"`
	// LogDir holds the servers' and the manager's logs.
	LogDir string `json:"logDir"`
	// PID is the process running the stack.
	PID int `json:"pid"`
	// ReadySeconds is how long the start took.
	ReadySeconds float64 `json:"readySeconds"`
}

// S3Info is how to reach the S3 server.
type S3Info struct {
	Endpoint  string `json:"endpoint"`
	Region    string `json:"region"`
	Bucket    string `json:"bucket"`
	AccessKey string `json:"accessKey"`
	SecretKey string `json:"secretKey"`
}

// Info describes the running stack.
func (s *Stack) Info() Info {
	info := Info{
		FacadeURL: s.FacadeURL,
		Token:     s.Users[0].Token, User: s.Users[0].Name,
		OtherToken: s.Users[1].Token, OtherUser: s.Users[1].Name,
		Kubeconfig:   s.Kubeconfig,
		Namespace:    s.Namespace,
		DatabaseURL:  s.Postgres.URL,
		ReaderURL:    s.Postgres.ReaderURL,
		Storage:      s.StorageURL,
		LogDir:       s.LogDir,
		PID:          os.Getpid(),
		ReadySeconds: s.StartedIn().Seconds(),
		MailURL:      s.Mail.APIURL,
		MailSMTP:     s.Mail.SMTPAddr(),
	}
	if s.S3 != nil {
		info.S3 = &S3Info{Endpoint: s.S3.Endpoint, Region: s.S3.Region, Bucket: s.S3.Bucket,
			AccessKey: s.S3.AccessKey, SecretKey: s.S3.SecretKey}
	}
	return info
}

// WriteInfo writes dev.json into the state directory atomically (a
// script polling for it never reads half a file) and removes it at Stop.
func (s *Stack) WriteInfo() (string, error) {
	path := filepath.Join(s.StateDir, InfoFile)
	data, err := json.MarshalIndent(s.Info(), "", "  ")
	if err != nil {
		return "", err
	}
	tmp, err := os.CreateTemp(s.StateDir, ".dev.json-*")
	if err != nil {
		return "", fmt.Errorf("write %s: %w", InfoFile, err)
	}
	_, werr := tmp.Write(append(data, '\n'))
	err = errors.Join(werr, tmp.Close())
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name())
		return "", fmt.Errorf("write %s: %w", InfoFile, err)
	}
	s.onStop(InfoFile, func() error { return removeIfExists(path) })
	return path, nil
}

// ReadInfo reads a dev.json.
func ReadInfo(path string) (Info, error) {
	var info Info
	data, err := os.ReadFile(path)
	if err != nil {
		return info, err
	}
	if err := json.Unmarshal(data, &info); err != nil {
		return info, fmt.Errorf("read %s: %w", path, err)
	}
	return info, nil
}
