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

package controllers

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"reportd.io/reportd/api/v1alpha1"
)

// DefinitionControllerName names the ReportDefinition controller, its
// field manager and its metrics.
const DefinitionControllerName = "reportdefinition"

// transientRecheck is how soon a check that could not run is retried.
const transientRecheck = 30 * time.Second

// ReportDefinitionReconciler keeps each ReportDefinition's Ready condition
// true to its database: the generator's check runs when the definition's
// generation or its datasource Secret changes, and again after a manager
// restart, never on a resync that changes nothing.
type ReportDefinitionReconciler struct {
	// Client reads definitions from the cache and writes their status.
	Client client.Client
	// APIReader reads the datasource Secret from the API server: Secret
	// data is never cached, only Secret metadata is watched.
	APIReader client.Reader
	// Checker checks a definition against its database.
	Checker DefinitionChecker
	// Settings name the default datasource Secret.
	Settings JobSettings
	// Clock tells the time; the real clock when nil.
	Clock clock.PassiveClock

	// checked remembers, per definition, the generation and Secret version
	// last checked, so an unchanged definition is not checked again.
	checked sync.Map // types.UID -> checkedVersion
}

// checkedVersion is what a check depended on.
type checkedVersion struct {
	generation    int64
	secretVersion string
}

// SetupWithManager registers the controller: definitions, and the
// metadata of the Secrets they read (a Secret's data is never cached).
func (r *ReportDefinitionReconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.Clock == nil {
		r.Clock = clock.RealClock{}
	}
	if err := indexDefinitionSecret(ctx, mgr.GetFieldIndexer(), r.Settings); err != nil {
		return err
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named(DefinitionControllerName).
		For(&v1alpha1.ReportDefinition{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		WatchesMetadata(&corev1.Secret{}, handler.EnqueueRequestsFromMapFunc(r.definitionsForSecret),
			builder.WithPredicates(predicate.ResourceVersionChangedPredicate{})).
		Complete(r)
}

// Reconcile checks one definition if what it depends on changed, and
// writes its Ready condition.
func (r *ReportDefinitionReconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	def := &v1alpha1.ReportDefinition{}
	if err := r.Client.Get(ctx, req.NamespacedName, def); err != nil {
		if apierrors.IsNotFound(err) {
			return ctrl.Result{}, nil
		}
		return ctrl.Result{}, err
	}
	url, version, err := r.datasourceURL(ctx, def)
	if err != nil {
		return ctrl.Result{}, err
	}
	current := checkedVersion{generation: def.Generation, secretVersion: version}
	if r.upToDate(def, current) {
		return ctrl.Result{}, nil
	}
	res := r.check(ctx, def, url)
	if err := r.writeStatus(ctx, def, res); err != nil {
		return ctrl.Result{}, err
	}
	if res.Transient {
		r.checked.Delete(def.UID)
		return ctrl.Result{RequeueAfter: transientRecheck}, nil
	}
	r.checked.Store(def.UID, current)
	return ctrl.Result{}, nil
}

// datasourceURL reads the definition's datasource URL from its Secret
// (live, not cached). A missing Secret or key is not an error: the URL is
// empty, and the check says so. The Secret's resourceVersion tells later
// passes whether it changed.
func (r *ReportDefinitionReconciler) datasourceURL(ctx context.Context, def *v1alpha1.ReportDefinition) (url, version string, err error) {
	ref := datasourceRef(def, r.Settings)
	secret := &corev1.Secret{}
	if err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: def.Namespace, Name: ref.Name}, secret); err != nil {
		if apierrors.IsNotFound(err) {
			return "", "", nil
		}
		return "", "", fmt.Errorf("reading the datasource Secret: %w", err)
	}
	return string(secret.Data[ref.Key]), secret.ResourceVersion, nil
}

// upToDate reports whether the definition's status already describes
// this generation checked against this Secret.
func (r *ReportDefinitionReconciler) upToDate(def *v1alpha1.ReportDefinition, current checkedVersion) bool {
	ready := meta.FindStatusCondition(def.Status.Conditions, v1alpha1.ConditionReady)
	if ready == nil || ready.ObservedGeneration != def.Generation || def.Status.ObservedGeneration != def.Generation {
		return false
	}
	last, ok := r.checked.Load(def.UID)
	return ok && last.(checkedVersion) == current
}

// check runs the generator's check, or explains why it cannot run.
func (r *ReportDefinitionReconciler) check(ctx context.Context, def *v1alpha1.ReportDefinition, url string) CheckResult {
	if url == "" {
		ref := datasourceRef(def, r.Settings)
		return CheckResult{Reason: ReasonDatasourceSecretMissing, Message: fmt.Sprintf(
			"No datasource URL: Secret %q in namespace %q has no key %q. Create it, or point spec.datasource.secretRef at the Secret holding the PostgreSQL URL.",
			ref.Name, def.Namespace, ref.Key)}
	}
	logf.FromContext(ctx).V(1).Info("Checking the definition against its database")
	return r.Checker.CheckDefinition(ctx, url, def)
}

// writeStatus patches the definition's status if the check changed it.
func (r *ReportDefinitionReconciler) writeStatus(ctx context.Context, def *v1alpha1.ReportDefinition, res CheckResult) error {
	st := definitionStatus(def, res, r.Clock.Now())
	if equality.Semantic.DeepEqual(def.Status, st) {
		return nil
	}
	orig := def.DeepCopy()
	def.Status = st
	if err := r.Client.Status().Patch(ctx, def, client.MergeFrom(orig), client.FieldOwner(DefinitionControllerName)); err != nil {
		return fmt.Errorf("writing the definition's status: %w", err)
	}
	return nil
}

// definitionStatus is the status a check result gives: Ready True or
// False, or Unknown when the check could not run.
func definitionStatus(def *v1alpha1.ReportDefinition, res CheckResult, now time.Time) v1alpha1.ReportDefinitionStatus {
	st := *def.Status.DeepCopy()
	st.ObservedGeneration = def.Generation
	status, reason := metav1.ConditionFalse, res.Reason
	switch {
	case res.Transient:
		status = metav1.ConditionUnknown
	case res.Ready:
		status = metav1.ConditionTrue
		st.Columns = res.Columns
	}
	if reason == "" {
		reason = ReasonCheckFailed
		if status == metav1.ConditionTrue {
			reason = ReasonChecked
		}
	}
	message := res.Message
	if message == "" && res.Ready {
		message = "The query prepares against its database and matches the parameters"
	}
	setCondition(&st.Conditions, v1alpha1.ConditionReady, status, reason, message, def.Generation,
		metav1.NewTime(now.UTC().Truncate(time.Second)))
	return st
}

// definitionsForSecret maps a Secret to the definitions reading it.
func (r *ReportDefinitionReconciler) definitionsForSecret(ctx context.Context, obj client.Object) []reconcile.Request {
	var defs v1alpha1.ReportDefinitionList
	if err := r.Client.List(ctx, &defs, client.InNamespace(obj.GetNamespace()),
		client.MatchingFields{IndexDefinitionSecret: obj.GetName()}); err != nil {
		logf.FromContext(ctx).Error(err, "Listing the definitions of a Secret")
		return nil
	}
	reqs := make([]reconcile.Request, 0, len(defs.Items))
	for i := range defs.Items {
		reqs = append(reqs, reconcile.Request{NamespacedName: client.ObjectKeyFromObject(&defs.Items[i])})
	}
	return reqs
}
