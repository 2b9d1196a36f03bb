// Package githubapi is otagit's client of GitHub's REST API, within its
// rate limits and with conditional requests: Client reads releases and
// their assets, sets commit statuses and keeps one plan comment per pull
// request; Releases turns it into the config loader's source of firmware
// published as GitHub releases (config.ReleaseSource), downloading assets
// into the artifact cache and remembering what it read for outages.
package githubapi
