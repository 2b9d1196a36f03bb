// Package webhook receives GitHub webhooks: it checks each delivery's
// signature and turns pushes to the served branch into syncs.
package webhook
