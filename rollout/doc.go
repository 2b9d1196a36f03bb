// Package rollout holds otagit's fleet model (platforms, releases, devices)
// and every rule of which firmware, if any, a device gets: the pure
// decision, cohorts and stages.
//
// Nothing here does I/O: a [Fleet] is built once per config commit by
// package config, and [Decide] answers a device request from it. The same
// function serves GET /update, the operator API and `otagit plan`, so the
// preview of a change is exactly what devices will see: a plan follows a
// device with [Walk] (Decide, step after step, as the device updates) and
// lists stage cohorts with [Release.CohortStage], which uses the cohort and
// eligibility rules ([MayHave], [Release.InCohort]) that Decide uses.
//
// Two rules serve the decision from outside it: a release's identity
// ([ReleaseID], which halts and outcome counts are keyed by) and the
// auto-halt rule ([HaltVerdict], a pure function of a stage's
// [StageCounts]), which package checkin applies to the outcomes it
// records.
package rollout
