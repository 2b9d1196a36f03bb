package plan

// FetchVersionsPage is FetchVersions asking for page devices first, so
// tests can make the second request happen with a small fleet.
var FetchVersionsPage = fetchVersions
