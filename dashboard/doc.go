// Package dashboard is the operator's read-only web UI: server-rendered
// HTML pages (html/template, embedded) that show what the server serves
// and what the fleet does: the serving commit and sync state, a rejected
// commit with every problem, halts and GitHub trouble; platforms and their
// releases with per-stage progress, an adoption chart and a stage
// timeline drawn as inline SVG; devices, searchable and paged for large
// fleets; and one device with the decision the server would make now.
//
// It reads the served snapshot, the sync status and the check-in tracker
// through small interfaces and changes nothing. The overview is at "/";
// the other pages are under "/ui/", out of the way of device endpoints.
// Pages work without JavaScript; a small script refreshes the overview and
// platform pages while they are visible.
package dashboard
